// Package metrics counts what operators watch, in Prometheus form
// (github.com/prometheus/client_golang: the reference client, what every
// Prometheus-compatible scraper expects, maintained by the Prometheus
// project). It implements the observer interfaces of c2s and router, which
// know nothing of Prometheus: the dependency points from here to them.
//
// Every counter on a per-stanza path is resolved once, at New, into an
// array indexed by a small integer (c2s.StanzaKind, router.Result): an
// increment is one atomic add, with no label lookup and no allocation
// (TestIncrementsDoNotAllocate).
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xmppd/xmppd/c2s"
	"github.com/xmppd/xmppd/router"
	"github.com/xmppd/xmppd/stanza"
)

const ns = "xmppd"

// mechanisms are the SASL mechanism labels kept; anything else counts as
// "other" so a client cannot grow the label set.
var mechanisms = []string{
	"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS",
	"SCRAM-SHA-512", "SCRAM-SHA-512-PLUS",
	"HT-SHA-256-EXPR", "HT-SHA-256-ENDP", "HT-SHA-256-NONE", // XEP-0484 token logins (c2s/fast.go)
	"other",
}

// conditions are the RFC 6120 §4.9.3 stream error conditions.
var conditions = []string{
	stanza.StreamBadFormat, stanza.StreamBadNamespacePrefix, stanza.StreamConflict, stanza.StreamConnectionTimeout,
	stanza.StreamHostGone, stanza.StreamHostUnknown, stanza.StreamImproperAddressing, stanza.StreamInternalServerError,
	stanza.StreamInvalidFrom, stanza.StreamInvalidNamespace, stanza.StreamInvalidXML, stanza.StreamNotAuthorized,
	stanza.StreamNotWellFormed, stanza.StreamPolicyViolation, stanza.StreamRemoteConnectionFailed, stanza.StreamReset,
	stanza.StreamResourceConstraint, stanza.StreamRestrictedXML, stanza.StreamSeeOtherHost, stanza.StreamSystemShutdown,
	stanza.StreamUndefinedCondition, stanza.StreamUnsupportedEncoding, stanza.StreamUnsupportedFeature,
	stanza.StreamUnsupportedStanzaType, stanza.StreamUnsupportedVersion, "other",
}

// Metrics is one server's set of collectors, on a registry of its own (not
// the global one: tests run several servers in one process).
type Metrics struct {
	reg *prometheus.Registry

	conns        [c2s.NumTransports]prometheus.Gauge
	authOK       map[string]prometheus.Counter // read-only after New
	authFailed   map[string]prometheus.Counter
	stanzasIn    [c2s.NumStanzaKinds]prometheus.Counter
	stanzasOut   [c2s.NumStanzaKinds]prometheus.Counter
	routed       [router.NumResults]prometheus.Counter
	overflows    prometheus.Counter
	streamErrors map[string]prometheus.Counter
	tlsFailed    prometheus.Counter
	storageErrs  *prometheus.CounterVec
	throttled    [2]prometheus.Counter // delayed, refused
	throttleWait prometheus.Histogram
}

var (
	_ c2s.Observer    = (*Metrics)(nil)
	_ router.Observer = (*Metrics)(nil)
)

// New makes the collectors; sessions reports the number of bound sessions
// when scraped (the directory already knows it: no counter to keep in
// step).
func New(sessions func() int) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	conns := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "connections_open",
		Help: "Client connections open, by listener type."}, []string{"listener"})
	for t := c2s.Transport(0); t < c2s.NumTransports; t++ {
		m.conns[t] = conns.WithLabelValues(t.String())
	}
	m.reg.MustRegister(conns)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "sessions_bound",
		Help: "Client sessions with a bound resource."}, func() float64 { return float64(sessions()) }))

	auth := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "authentications_total",
		Help: "SASL authentications, by mechanism and result (ok, failed)."}, []string{"mechanism", "result"})
	m.authOK, m.authFailed = map[string]prometheus.Counter{}, map[string]prometheus.Counter{}
	for _, mech := range mechanisms {
		m.authOK[mech] = auth.WithLabelValues(mech, "ok")
		m.authFailed[mech] = auth.WithLabelValues(mech, "failed")
	}
	m.reg.MustRegister(auth)

	stanzas := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "stanzas_total",
		Help: "Stanzas from clients (in) and queued to them (out), by kind."}, []string{"direction", "kind"})
	for k := c2s.StanzaKind(0); k < c2s.NumStanzaKinds; k++ {
		m.stanzasIn[k] = stanzas.WithLabelValues("in", k.String())
		m.stanzasOut[k] = stanzas.WithLabelValues("out", k.String())
	}
	m.reg.MustRegister(stanzas)

	routed := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "routed_stanzas_total",
		Help: "Stanzas routed to local addresses, by result (delivered, offline, error)."}, []string{"result"})
	for r := router.Result(0); r < router.NumResults; r++ {
		m.routed[r] = routed.WithLabelValues(r.String())
	}
	m.reg.MustRegister(routed)

	se := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "stream_errors_total",
		Help: "Client streams the server ended with a stream error, by condition (RFC 6120 §4.9.3)."}, []string{"condition"})
	m.streamErrors = map[string]prometheus.Counter{}
	for _, c := range conditions {
		m.streamErrors[c] = se.WithLabelValues(c)
	}
	m.reg.MustRegister(se)

	m.overflows = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "outbound_queue_overflows_total",
		Help: "Sessions disconnected because their outbound queue overflowed (a client not reading)."})
	m.tlsFailed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "tls_handshakes_failed_total",
		Help: "Client TLS handshakes (direct TLS and STARTTLS) that failed."})
	m.storageErrs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "storage_errors_total",
		Help: "Storage operations that failed (disk full, read-only database, database unreachable), by operation (the storage method: StoreOffline, Append, SetRosterItem, ...)."},
		[]string{"operation"})
	m.reg.MustRegister(m.overflows, m.tlsFailed, m.storageErrs)

	th := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "auth_throttled_total",
		Help: "Password checks and failures held back against guessing (delayed), and checks refused untested (refused)."}, []string{"result"})
	m.throttled = [2]prometheus.Counter{th.WithLabelValues("delayed"), th.WithLabelValues("refused")}
	m.throttleWait = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "auth_throttle_delay_seconds",
		Help:    "Delay imposed on a throttled authentication (a refused one: how long its refusal was held).",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}})
	m.reg.MustRegister(th, m.throttleWait)
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is for adding collectors (and for tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) ConnOpened(t c2s.Transport) { m.conns[t].Inc() }
func (m *Metrics) ConnClosed(t c2s.Transport) { m.conns[t].Dec() }
func (m *Metrics) StanzaIn(k c2s.StanzaKind)  { m.stanzasIn[k].Inc() }
func (m *Metrics) StanzaOut(k c2s.StanzaKind) { m.stanzasOut[k].Inc() }
func (m *Metrics) Routed(r router.Result)     { m.routed[r].Inc() }
func (m *Metrics) QueueOverflow()             { m.overflows.Inc() }
func (m *Metrics) TLSHandshakeFailed()        { m.tlsFailed.Inc() }

// StorageError is the c2s and router observers' report of a failed
// storage call. It counts nothing: the server hands them the storage
// wrapped by storage.CountFailures, which counts the same failure by
// operation (StorageFailed); counting here too would count it twice.
func (m *Metrics) StorageError() {}

// StorageFailed counts a failed storage operation (storage.CountFailures).
// The label lookup is on the failure path only.
func (m *Metrics) StorageFailed(op string) { m.storageErrs.WithLabelValues(op).Inc() }

func (m *Metrics) AuthSucceeded(mech string) { pick(m.authOK, mech).Inc() }
func (m *Metrics) AuthFailed(mech string)    { pick(m.authFailed, mech).Inc() }
func (m *Metrics) StreamError(cond string)   { pick(m.streamErrors, cond).Inc() }

func (m *Metrics) AuthThrottled(wait time.Duration, refused bool) {
	if refused {
		m.throttled[1].Inc()
	} else {
		m.throttled[0].Inc()
	}
	m.throttleWait.Observe(wait.Seconds())
}

func pick(cs map[string]prometheus.Counter, key string) prometheus.Counter {
	if c, ok := cs[key]; ok {
		return c
	}
	return cs["other"]
}
