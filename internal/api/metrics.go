package api

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts KMS API requests by operation and outcome and records
// their latency, for Prometheus. Recording a request takes no lock and
// allocates nothing when it succeeds; a failed request takes a short lock
// the first time its operation fails with a code.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	ops      map[string]*opMetrics // by X-Amz-Target
	other    *opMetrics            // unknown targets, one label value
}

type opMetrics struct {
	name    string
	ok      prometheus.Counter
	latency prometheus.Observer
	mu      sync.RWMutex
	errs    map[string]prometheus.Counter // by error code
}

// latencyBuckets suit requests served in tens of microseconds to seconds.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewMetrics returns request metrics registered with reg:
// trent_requests_total{operation,code} (code "OK" for success, otherwise the
// AWS error code) and trent_request_duration_seconds{operation}.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trent_requests_total",
			Help: "KMS API requests by operation and outcome: OK, or the AWS error code returned."}, []string{"operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "trent_request_duration_seconds",
			Help: "Time to serve a KMS API request, from its headers to its response.", Buckets: latencyBuckets}, []string{"operation"}),
		ops: map[string]*opMetrics{},
	}
	reg.MustRegister(m.requests, m.latency)
	for target := range routes {
		m.ops[target] = m.newOp(strings.TrimPrefix(target, "TrentService."))
	}
	m.other = m.newOp("Unknown")
	return m
}

func (m *Metrics) newOp(name string) *opMetrics {
	return &opMetrics{name: name, ok: m.requests.WithLabelValues(name, "OK"), latency: m.latency.WithLabelValues(name),
		errs: map[string]prometheus.Counter{}}
}

// Serve serves r with h and records it. A nil m just serves.
func (m *Metrics) Serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	if m == nil {
		h.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	rec := recorders.Get().(*recorder)
	rec.ResponseWriter, rec.code, rec.status = w, "", 0
	h.ServeHTTP(rec, r)
	if rec.status == 0 && rec.code == "" {
		rec.code = "ClientClosedRequest" // no response: the client went away
	}
	var op *opMetrics
	if v := r.Header["X-Amz-Target"]; len(v) > 0 { // the canonical key, without Get's canonicalization
		op = m.ops[v[0]]
	}
	if op == nil {
		op = m.other
	}
	op.latency.Observe(time.Since(start).Seconds())
	code := rec.code
	rec.ResponseWriter = nil
	recorders.Put(rec)
	if code == "" {
		op.ok.Inc()
		return
	}
	op.mu.RLock()
	c := op.errs[code]
	op.mu.RUnlock()
	if c == nil {
		op.mu.Lock()
		if c = op.errs[code]; c == nil {
			c = m.requests.WithLabelValues(op.name, code)
			op.errs[code] = c
		}
		op.mu.Unlock()
	}
	c.Inc()
}

// recorder notes the outcome of a request for [Metrics.Serve]: the error
// code the handler answered with (see noteOutcome), or that it answered
// nothing because the client went away.
type recorder struct {
	http.ResponseWriter
	status int
	code   string
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	if status != http.StatusOK && r.code == "" {
		r.code = "HTTP" + strconv.Itoa(status)
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// noteOutcome records the AWS error code of a response being written, for
// metrics. w is the writer ServeHTTP was given.
func noteOutcome(w http.ResponseWriter, code string) {
	if rec, ok := w.(*recorder); ok {
		rec.code = code
	}
}
