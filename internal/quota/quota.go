// Package quota enforces AWS KMS's request quotas: token buckets per
// caller account, region and quota, refilled continuously at the quota's
// rate.
//
// # Quotas
//
// The quotas and their defaults are those of "Request quotas" in the AWS KMS
// Developer Guide
// (https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html,
// as stored in awsdocs/aws-kms-developer-guide, doc_source/requests-per-second.md):
// shared quotas for cryptographic operations by key type ("Cryptographic
// operations (symmetric) request rate", "(RSA)", "(ML-DSA)", "(ECC and
// SM2)"), one quota per management operation ("CreateKey request rate | 5",
// "DescribeKey request rate | 2000", ...) and one per data key pair spec
// for GenerateDataKeyPair. [Defs] lists them. "Each request quota is
// calculated independently", and "Throttling is based on all requests on
// KMS keys of all types in the Region. This total includes requests from all
// principals in the AWS account": so a bucket belongs to one account, one
// region and one quota. "For cross-account requests, AWS KMS throttles the
// account that makes the requests, not the account that owns the KMS key":
// the account is the caller's.
//
// # Buckets
//
// A quota of r requests per second admits a burst of max(r, 1) requests and
// then r per second: AWS states each quota per second ("Each quota applies to
// all requests for these operations in the AWS account and Region with the
// given key type in each one-second interval"), so a bucket holds one
// second's worth. The bucket is the generic cell rate algorithm: one atomic
// int64, the time at which the bucket would be full again, moved forward by
// compare-and-swap. [Limiter.Allow] takes no lock and allocates nothing.
//
// A rate of 0 means unlimited.
package quota

import (
	"sync"
	"sync/atomic"
	"time"
)

// ID names a quota; it indexes [Defs].
type ID uint16

// Def describes one quota: its config key, what it applies to and AWS's
// default rate in requests per second, which may depend on the region.
type Def struct {
	Name      string  // config key under request_quotas, e.g. "cryptographic_symmetric", "create_key"
	AppliesTo string  // the operations (and key types) it counts, for docs and metrics
	Default   float64 // AWS's default, requests per second
	// Regional overrides Default in some regions.
	Regional map[string]float64
}

// DefaultRate returns AWS's default rate of the quota in region.
func (d *Def) DefaultRate(region string) float64 {
	if r, ok := d.Regional[region]; ok {
		return r
	}
	return d.Default
}

// Config gives each quota's rate: Rates[name] is requests per second for
// every region; a quota without an entry has AWS's default for the region.
// A rate of 0 means unlimited.
type Config struct {
	Rates map[string]float64
	// Now returns monotonic nanoseconds; nil means the time since the
	// Limiter was made. Tests inject a clock.
	Now func() int64
}

// Limiter enforces request quotas. It is safe for concurrent use.
type Limiter struct {
	rates map[string]float64 // configured overrides by name
	now   func() int64

	// sets maps (account, region) to its buckets. It is copied on write:
	// a lookup is an atomic load and a map read.
	sets atomic.Pointer[map[setKey]*bucketSet]
	mu   sync.Mutex // serializes writers of sets

	throttled []atomic.Uint64 // by ID
}

type setKey struct{ account, region string }

// bucketSet holds the buckets of one account and region, by ID.
type bucketSet struct {
	b [numQuotas]bucket
}

// bucket is a GCRA token bucket. tat is the theoretical arrival time of the
// next request, in the Limiter's nanoseconds; interval is 1s/rate and
// window the burst tolerance (one second, or interval for rates below 1).
// interval 0 means unlimited.
type bucket struct {
	tat      atomic.Int64
	interval int64
	window   int64
}

// New returns a Limiter with cfg's rates. Names must be those of [Defs]
// (see [Lookup]); an unknown name is ignored.
func New(cfg Config) *Limiter {
	l := &Limiter{rates: cfg.Rates, now: cfg.Now, throttled: make([]atomic.Uint64, numQuotas)}
	if l.now == nil {
		start := time.Now()
		l.now = func() int64 { return int64(time.Since(start)) }
	}
	m := map[setKey]*bucketSet{}
	l.sets.Store(&m)
	return l
}

// Rate returns the rate of quota id in region: the configured one, or
// AWS's default.
func (l *Limiter) Rate(id ID, region string) float64 {
	d := &Defs[id]
	if r, ok := l.rates[d.Name]; ok {
		return r
	}
	return d.DefaultRate(region)
}

// Allow takes one request from quota id of the account in region and
// reports whether the quota had room for it. A throttled request is
// counted (see [Limiter.Throttled]).
func (l *Limiter) Allow(account, region string, id ID) bool {
	set := (*l.sets.Load())[setKey{account, region}]
	if set == nil {
		set = l.newSet(account, region)
	}
	b := &set.b[id]
	if b.interval == 0 {
		return true
	}
	now := l.now()
	for {
		tat := b.tat.Load()
		next := max(tat, now) + b.interval
		if next-now > b.window {
			l.throttled[id].Add(1)
			return false
		}
		if b.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}

// newSet adds the buckets of account and region, full.
func (l *Limiter) newSet(account, region string) *bucketSet {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := *l.sets.Load()
	if set := old[setKey{account, region}]; set != nil {
		return set
	}
	set := &bucketSet{}
	now := l.now()
	for id := range set.b {
		r := l.Rate(ID(id), region)
		if r <= 0 {
			continue
		}
		b := &set.b[id]
		b.interval = max(int64(float64(time.Second)/r), 1)
		b.window = max(int64(time.Second), b.interval)
		b.tat.Store(now - b.window) // full
	}
	m := make(map[setKey]*bucketSet, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[setKey{account, region}] = set
	l.sets.Store(&m)
	return set
}

// Throttled returns how many requests quota id has refused since the
// Limiter was made.
func (l *Limiter) Throttled(id ID) uint64 { return l.throttled[id].Load() }
