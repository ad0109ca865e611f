package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/quota"
	"github.com/trent-kms/trent/internal/store"
)

// DefaultAdminListen is the admin listener's address unless configured.
const DefaultAdminListen = "127.0.0.1:8401"

// newRegistry returns the node's Prometheus registry with the Go runtime
// and process collectors.
//
// Other components register their collectors on it in [Server.open]: the
// request metrics (api.NewMetrics), the store's latency (instrumentStore),
// the keys, caches and quotas (nodeCollector), and the audit trail's
// counters (auditCollector).
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// adminHandler serves /metrics from reg and, with pprof, Go's profiler
// at /debug/pprof/.
func adminHandler(reg *prometheus.Registry, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// startAdmin binds the admin listener and serves it until Run stops it.
// A node whose admin address is taken still serves the KMS API: the
// failure is logged at error level and the node runs without metrics,
// because a KMS that clients depend on should not go down for its
// monitoring port.
func (s *Server) startAdmin(reg *prometheus.Registry) {
	if s.cfg.AdminListen == "" || s.cfg.AdminListen == AdminOff {
		return
	}
	ln, err := net.Listen("tcp", s.cfg.AdminListen)
	if err != nil {
		s.log.Error("admin listener not started; serving without metrics", "admin_listen", s.cfg.AdminListen, "err", err)
		return
	}
	s.admin = &http.Server{
		Handler:           adminHandler(reg, s.cfg.AdminPprof),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          s.http.ErrorLog,
	}
	s.adminLn = ln
	go s.admin.Serve(ln)
}

// AdminAddr returns the admin listener's address, or nil without one.
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// nodeCollector reports, on each scrape, the keys by state and spec (from
// the store, at most once per keyCountsEvery), the KMS caches, and the
// requests each quota refused.
type nodeCollector struct {
	svc    *kms.Service
	db     store.Store
	quotas *quota.Limiter

	mu      sync.Mutex
	counted time.Time
	counts  []store.KeyCount

	shared bool // the store is shared (store.Notifier): report synced

	keys, cacheEntries, cacheLookups, throttled, synced *prometheus.Desc
}

// keyCountsEvery bounds how often a scrape reads the key counts. The
// store keeps them (a few rows, whatever the number of keys), so this
// only spares the store a query per scrape.
const keyCountsEvery = 30 * time.Second

func newNodeCollector(svc *kms.Service, db store.Store, quotas *quota.Limiter, shared bool) *nodeCollector {
	return &nodeCollector{svc: svc, db: db, quotas: quotas, shared: shared,
		synced: prometheus.NewDesc("trent_changes_synced_timestamp_seconds", "When the node last sent a probe through its change listener that came back: every change committed before then has reached its caches (0: none since the listener connected). Hot keys stay cached past cache_ttl only while this is less than cache_ttl ago.",
			nil, nil),
		keys: prometheus.NewDesc("trent_keys", "KMS keys by key state and key spec, in every region and account (refreshed at most every 30s).",
			[]string{"state", "spec"}, nil),
		cacheEntries: prometheus.NewDesc("trent_cache_entries", "Entries in the node's in-memory caches (keys with unsealed material, aliases, access keys).",
			[]string{"cache"}, nil),
		cacheLookups: prometheus.NewDesc("trent_key_cache_lookups_total", "Key lookups answered from the key cache (hit) or the store (miss).",
			[]string{"result"}, nil),
		throttled: prometheus.NewDesc("trent_throttled_requests_total", "Requests refused with ThrottlingException, by request quota.",
			[]string{"quota"}, nil),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.keys
	ch <- c.cacheEntries
	ch <- c.cacheLookups
	ch <- c.throttled
	if c.shared {
		ch <- c.synced
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, kc := range c.keyCounts() {
		ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(kc.N), kc.KeyState, kc.KeySpec)
	}
	st := c.svc.CacheStats()
	ch <- prometheus.MustNewConstMetric(c.cacheEntries, prometheus.GaugeValue, float64(st.Keys), "keys")
	ch <- prometheus.MustNewConstMetric(c.cacheEntries, prometheus.GaugeValue, float64(st.Aliases), "aliases")
	ch <- prometheus.MustNewConstMetric(c.cacheEntries, prometheus.GaugeValue, float64(st.AccessKeys), "access_keys")
	ch <- prometheus.MustNewConstMetric(c.cacheLookups, prometheus.CounterValue, float64(st.KeyHits), "hit")
	ch <- prometheus.MustNewConstMetric(c.cacheLookups, prometheus.CounterValue, float64(st.KeyMisses), "miss")
	if c.shared {
		v := 0.0
		if !st.Synced.IsZero() {
			v = float64(st.Synced.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(c.synced, prometheus.GaugeValue, v)
	}
	if c.quotas != nil {
		for i := range quota.Defs {
			ch <- prometheus.MustNewConstMetric(c.throttled, prometheus.CounterValue, float64(c.quotas.Throttled(quota.ID(i))), quota.Defs[i].Name)
		}
	}
}

// keyCounts returns the key counts, refreshed from the store when older
// than keyCountsEvery. On a store error the last counts are kept.
func (c *nodeCollector) keyCounts() []store.KeyCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil || time.Since(c.counted) >= keyCountsEvery {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if counts, err := c.db.KeyCounts(ctx); err == nil {
			c.counts, c.counted = counts, time.Now()
			if c.counts == nil {
				c.counts = []store.KeyCount{}
			}
		}
	}
	return c.counts
}

// instrumentedStore records the latency of every store call, by method,
// in trent_store_duration_seconds, and counts failures other than
// ErrNotFound and ErrExists in trent_store_errors_total. Methods it does
// not list pass through uninstrumented.
type instrumentedStore struct {
	store.Store
	latency map[string]prometheus.Observer
	errs    map[string]prometheus.Counter
}

var storeMethods = []string{"GetMeta", "PutMeta", "CreateMeta", "CreateAccount", "GetAccount", "ListAccounts", "CreateAccessKey",
	"GetAccessKey", "ListAccessKeys", "DeleteAccessKey", "UpdateAccessKey", "CreateKey", "GetKey", "ListKeys", "CountKeys",
	"KeyCounts", "UpdateKey", "DeleteKey", "DeleteKeyIfDue", "KeysDueForDeletion", "CreateAlias", "GetAlias", "UpdateAlias",
	"DeleteAlias", "ListAliases", "CountAliases", "RecordKeyUsage"}

func instrumentStore(db store.Store, reg prometheus.Registerer) *instrumentedStore {
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "trent_store_duration_seconds",
		Help: "Time taken by store calls, by method.", Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}},
		[]string{"method"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trent_store_errors_total",
		Help: "Store calls that failed, other than not found and already exists, by method."}, []string{"method"})
	reg.MustRegister(lat, errs)
	s := &instrumentedStore{Store: db, latency: map[string]prometheus.Observer{}, errs: map[string]prometheus.Counter{}}
	for _, m := range storeMethods {
		s.latency[m] = lat.WithLabelValues(m)
		s.errs[m] = errs.WithLabelValues(m)
	}
	return s
}

func (s *instrumentedStore) done(method string, start time.Time, err error) {
	s.latency[method].Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrExists) && !errors.Is(err, context.Canceled) {
		s.errs[method].Inc()
	}
}

// RecordKeyUsage passes the batched usage write through (store.RecordKeyUsage
// would otherwise see only the wrapper and write key by key).
func (s *instrumentedStore) RecordKeyUsage(ctx context.Context, uses []store.KeyUsageRecord) (int, []store.KeyRef, error) {
	start := time.Now()
	n, missing, err := store.RecordKeyUsage(ctx, s.Store, uses)
	s.done("RecordKeyUsage", start, err)
	return n, missing, err
}

func (s *instrumentedStore) GetMeta(ctx context.Context, name string) ([]byte, error) {
	start := time.Now()
	v, err := s.Store.GetMeta(ctx, name)
	s.done("GetMeta", start, err)
	return v, err
}

func (s *instrumentedStore) PutMeta(ctx context.Context, name string, value []byte) error {
	start := time.Now()
	err := s.Store.PutMeta(ctx, name, value)
	s.done("PutMeta", start, err)
	return err
}

func (s *instrumentedStore) CreateMeta(ctx context.Context, name string, value []byte) error {
	start := time.Now()
	err := s.Store.CreateMeta(ctx, name, value)
	s.done("CreateMeta", start, err)
	return err
}

func (s *instrumentedStore) CreateAccount(ctx context.Context, a store.Account) error {
	start := time.Now()
	err := s.Store.CreateAccount(ctx, a)
	s.done("CreateAccount", start, err)
	return err
}

func (s *instrumentedStore) GetAccount(ctx context.Context, id string) (store.Account, error) {
	start := time.Now()
	v, err := s.Store.GetAccount(ctx, id)
	s.done("GetAccount", start, err)
	return v, err
}

func (s *instrumentedStore) ListAccounts(ctx context.Context) ([]store.Account, error) {
	start := time.Now()
	v, err := s.Store.ListAccounts(ctx)
	s.done("ListAccounts", start, err)
	return v, err
}

func (s *instrumentedStore) CreateAccessKey(ctx context.Context, k store.AccessKey) error {
	start := time.Now()
	err := s.Store.CreateAccessKey(ctx, k)
	s.done("CreateAccessKey", start, err)
	return err
}

func (s *instrumentedStore) GetAccessKey(ctx context.Context, id string) (store.AccessKey, error) {
	start := time.Now()
	v, err := s.Store.GetAccessKey(ctx, id)
	s.done("GetAccessKey", start, err)
	return v, err
}

func (s *instrumentedStore) ListAccessKeys(ctx context.Context, accountID string) ([]store.AccessKey, error) {
	start := time.Now()
	v, err := s.Store.ListAccessKeys(ctx, accountID)
	s.done("ListAccessKeys", start, err)
	return v, err
}

func (s *instrumentedStore) DeleteAccessKey(ctx context.Context, id string) error {
	start := time.Now()
	err := s.Store.DeleteAccessKey(ctx, id)
	s.done("DeleteAccessKey", start, err)
	return err
}

func (s *instrumentedStore) UpdateAccessKey(ctx context.Context, id string, fn func(*store.AccessKey) error) (store.AccessKey, error) {
	start := time.Now()
	v, err := s.Store.UpdateAccessKey(ctx, id, fn)
	s.done("UpdateAccessKey", start, err)
	return v, err
}

func (s *instrumentedStore) CreateKey(ctx context.Context, k store.Key) error {
	start := time.Now()
	err := s.Store.CreateKey(ctx, k)
	s.done("CreateKey", start, err)
	return err
}

func (s *instrumentedStore) GetKey(ctx context.Context, ref store.KeyRef) (store.Key, error) {
	start := time.Now()
	v, err := s.Store.GetKey(ctx, ref)
	s.done("GetKey", start, err)
	return v, err
}

func (s *instrumentedStore) ListKeys(ctx context.Context, region, accountID, after string, limit int) ([]store.KeyRef, error) {
	start := time.Now()
	v, err := s.Store.ListKeys(ctx, region, accountID, after, limit)
	s.done("ListKeys", start, err)
	return v, err
}

func (s *instrumentedStore) CountKeys(ctx context.Context, region, accountID string) (int, error) {
	start := time.Now()
	v, err := s.Store.CountKeys(ctx, region, accountID)
	s.done("CountKeys", start, err)
	return v, err
}

func (s *instrumentedStore) KeyCounts(ctx context.Context) ([]store.KeyCount, error) {
	start := time.Now()
	v, err := s.Store.KeyCounts(ctx)
	s.done("KeyCounts", start, err)
	return v, err
}

func (s *instrumentedStore) UpdateKey(ctx context.Context, ref store.KeyRef, fn func(*store.Key) error) (store.Key, error) {
	start := time.Now()
	v, err := s.Store.UpdateKey(ctx, ref, fn)
	s.done("UpdateKey", start, err)
	return v, err
}

func (s *instrumentedStore) DeleteKey(ctx context.Context, ref store.KeyRef) error {
	start := time.Now()
	err := s.Store.DeleteKey(ctx, ref)
	s.done("DeleteKey", start, err)
	return err
}

func (s *instrumentedStore) DeleteKeyIfDue(ctx context.Context, ref store.KeyRef, now time.Time) (bool, error) {
	start := time.Now()
	v, err := s.Store.DeleteKeyIfDue(ctx, ref, now)
	s.done("DeleteKeyIfDue", start, err)
	return v, err
}

func (s *instrumentedStore) KeysDueForDeletion(ctx context.Context, now time.Time) ([]store.KeyRef, error) {
	start := time.Now()
	v, err := s.Store.KeysDueForDeletion(ctx, now)
	s.done("KeysDueForDeletion", start, err)
	return v, err
}

func (s *instrumentedStore) CreateAlias(ctx context.Context, a store.Alias) error {
	start := time.Now()
	err := s.Store.CreateAlias(ctx, a)
	s.done("CreateAlias", start, err)
	return err
}

func (s *instrumentedStore) GetAlias(ctx context.Context, region, accountID, name string) (store.Alias, error) {
	start := time.Now()
	v, err := s.Store.GetAlias(ctx, region, accountID, name)
	s.done("GetAlias", start, err)
	return v, err
}

func (s *instrumentedStore) UpdateAlias(ctx context.Context, region, accountID, name, targetKeyID string, now time.Time) error {
	start := time.Now()
	err := s.Store.UpdateAlias(ctx, region, accountID, name, targetKeyID, now)
	s.done("UpdateAlias", start, err)
	return err
}

func (s *instrumentedStore) DeleteAlias(ctx context.Context, region, accountID, name string) error {
	start := time.Now()
	err := s.Store.DeleteAlias(ctx, region, accountID, name)
	s.done("DeleteAlias", start, err)
	return err
}

func (s *instrumentedStore) ListAliases(ctx context.Context, region, accountID, targetKeyID, after string, limit int) ([]store.Alias, error) {
	start := time.Now()
	v, err := s.Store.ListAliases(ctx, region, accountID, targetKeyID, after, limit)
	s.done("ListAliases", start, err)
	return v, err
}

func (s *instrumentedStore) CountAliases(ctx context.Context, region, accountID, targetKeyID string) (int, error) {
	start := time.Now()
	v, err := s.Store.CountAliases(ctx, region, accountID, targetKeyID)
	s.done("CountAliases", start, err)
	return v, err
}

// auditCollector exports the audit trail's counters: records written,
// group commits (one fsync each, so records/batches is the records per
// fsync), failed batches, and whether the sink is failing now — the
// alarm an operator pages on, since a failing sink refuses requests.
type auditCollector struct {
	log                                               *audit.Log
	records, batches, failures, failing, queued, sync *prometheus.Desc
}

func newAuditCollector(l *audit.Log) *auditCollector {
	return &auditCollector{log: l,
		records:  prometheus.NewDesc("trent_audit_records_total", "Audit records written durably.", nil, nil),
		batches:  prometheus.NewDesc("trent_audit_batches_total", "Group commits of the audit trail (one write and one fsync each).", nil, nil),
		failures: prometheus.NewDesc("trent_audit_failures_total", "Audit batches that could not be written or synced.", nil, nil),
		failing:  prometheus.NewDesc("trent_audit_failing", "1 while the audit sink cannot write: requests fail until it recovers.", nil, nil),
		queued:   prometheus.NewDesc("trent_audit_queue_depth", "Audit records waiting for the writer.", nil, nil),
		sync:     prometheus.NewDesc("trent_audit_fsync_seconds_total", "Time spent in fsync of audit batches; divided by trent_audit_batches_total, the mean fsync latency.", nil, nil),
	}
}

func (c *auditCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.records
	ch <- c.batches
	ch <- c.failures
	ch <- c.failing
	ch <- c.queued
	ch <- c.sync
}

func (c *auditCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.log.Stats()
	ch <- prometheus.MustNewConstMetric(c.records, prometheus.CounterValue, float64(st.Records))
	ch <- prometheus.MustNewConstMetric(c.batches, prometheus.CounterValue, float64(st.Batches))
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(st.Failures))
	failing := 0.0
	if st.Failing {
		failing = 1
	}
	ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, failing)
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(st.Queued))
	ch <- prometheus.MustNewConstMetric(c.sync, prometheus.CounterValue, st.SyncTime.Seconds())
}
