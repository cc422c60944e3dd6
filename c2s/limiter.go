package c2s

import (
	"sync"
	"time"
)

// Limiter bounds what one remote address can cost: concurrent connections,
// the rate of new ones (token bucket), and password guesses (authThrottle,
// throttle.go). RFC 6120 §13.12 asks for protection against brute force
// and floods. One Limiter belongs to one server.
type Limiter struct {
	maxConns int
	rate     float64
	burst    float64

	mu    sync.Mutex
	peers map[string]*peer
	sweep time.Time

	auth authThrottle
}

type peer struct {
	conns  int
	tokens float64
	last   time.Time
}

// NewLimiter: maxConns concurrent per IP (0 = unlimited), rate new
// connections per second with burst (0 = unlimited); failDelay the delay
// after a first failed authentication and maxFailDelay the most it grows to
// (failDelay 0: no throttling; maxFailDelay below failDelay: failDelay).
func NewLimiter(maxConns int, rate float64, burst int, failDelay, maxFailDelay time.Duration) *Limiter {
	l := &Limiter{maxConns: maxConns, rate: rate, burst: float64(burst), peers: map[string]*peer{}}
	l.auth.init(failDelay, maxFailDelay)
	return l
}

// Set changes the limits of a running limiter (a configuration reload);
// the addresses' counts and buckets, and the failures counted against
// addresses and accounts, are kept.
func (l *Limiter) Set(maxConns int, rate float64, burst int, failDelay, maxFailDelay time.Duration) {
	l.mu.Lock()
	l.maxConns, l.rate, l.burst = maxConns, rate, float64(burst)
	l.mu.Unlock()
	l.auth.set(failDelay, maxFailDelay)
}

func (l *Limiter) get(ip string, now time.Time) *peer {
	if now.Sub(l.sweep) > time.Minute {
		l.sweep = now
		for k, p := range l.peers {
			if p.conns == 0 && now.Sub(p.last) > time.Minute {
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
