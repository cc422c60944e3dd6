package c2s

import (
	"sync"
	"time"
)

// Limiter bounds what one remote address can cost: concurrent connections,
// the rate of new ones (token bucket), and failed authentications, whose
// answers are delayed more the more often they fail (RFC 6120 §13.12 asks
// for protection against brute force and floods).
type Limiter struct {
	// The limits are read under mu: Set changes them at run time.
	maxConns  int
	rate      float64
	burst     float64
	failDelay time.Duration

	mu    sync.Mutex
	peers map[string]*peer
	sweep time.Time
}

type peer struct {
	conns    int
	tokens   float64
	last     time.Time
	failures int
	failedAt time.Time
}

// NewLimiter: maxConns concurrent per IP (0 = unlimited), rate new
// connections per second with burst (0 = unlimited), failDelay the base delay
// after a failed authentication.
func NewLimiter(maxConns int, rate float64, burst int, failDelay time.Duration) *Limiter {
	return &Limiter{maxConns: maxConns, rate: rate, burst: float64(burst), failDelay: failDelay, peers: map[string]*peer{}}
}

// Set changes the limits of a running limiter (a configuration reload);
// the addresses' counts and buckets are kept.
func (l *Limiter) Set(maxConns int, rate float64, burst int, failDelay time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxConns, l.rate, l.burst, l.failDelay = maxConns, rate, float64(burst), failDelay
}

func (l *Limiter) get(ip string, now time.Time) *peer {
	if now.Sub(l.sweep) > time.Minute {
		l.sweep = now
		for k, p := range l.peers {
			if p.conns == 0 && now.Sub(p.last) > time.Minute && now.Sub(p.failedAt) > 10*time.Minute {
				delete(l.peers, k)
			}
		}
	}
	p := l.peers[ip]
	if p == nil {
		p = &peer{tokens: l.burst, last: now}
		l.peers[ip] = p
	}
	return p
}

// Admit reports whether a new connection from ip may proceed; if so the
// caller must Release it when it ends.
func (l *Limiter) Admit(ip string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.get(ip, now)
	if l.maxConns > 0 && p.conns >= l.maxConns {
		return false
	}
	if l.rate > 0 {
		p.tokens = min(l.burst, p.tokens+now.Sub(p.last).Seconds()*l.rate)
		p.last = now
		if p.tokens < 1 {
			return false
		}
		p.tokens--
	}
	p.last = now
	p.conns++
	return true
}

// Release ends a connection admitted for ip.
func (l *Limiter) Release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.peers[ip]; p != nil && p.conns > 0 {
		p.conns--
	}
}

// Failed records a failed authentication and returns how long to wait
// before answering it: failDelay doubled per recent failure, at most 10s.
func (l *Limiter) Failed(ip string) time.Duration {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failDelay <= 0 {
		return 0
	}
	p := l.get(ip, now)
	if now.Sub(p.failedAt) > 10*time.Minute {
		p.failures = 0
	}
	p.failures++
	p.failedAt = now
	d := l.failDelay << min(p.failures-1, 6)
	return min(d, 10*time.Second)
}

// Succeeded forgets an address's failures.
func (l *Limiter) Succeeded(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.peers[ip]; p != nil {
		p.failures = 0
	}
}
