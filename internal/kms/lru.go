package kms

import (
	"math"
	"sync/atomic"
)

// DefaultKeyCacheSize is the number of entries each of a Service's caches
// (keys, aliases, access keys) holds unless [Config.KeyCacheSize] says
// otherwise. A cached SYMMETRIC_DEFAULT key takes about 2.2 KiB of
// live heap (see docs/performance.md), so a full key cache of this size
// holds about 215 MiB, and the process up to about twice that with Go's
// default GOGC.
const DefaultKeyCacheSize = 100_000

// lruSample is how many entries eviction compares to pick the least
// recently used one.
const lruSample = 8

// lru is a map bounded to max entries that evicts an approximately least
// recently used entry when it is full, the way Redis does: it compares the
// last-use stamps of a sample of lruSample entries and drops the oldest.
//
// It has no lock of its own. Service.mu guards the map: get may run under
// the read lock, because the only thing it writes is an entry's atomic
// stamp; put, peek, del and evict need the write lock. So a cache hit
// never takes an exclusive lock.
//
// The stamp is a logical clock that ticks once per put, not per use. A hit
// loads the clock and stores it into the entry only if it moved since the
// entry's last use, so a hot entry costs two atomic loads and no write to
// shared memory in steady state. Eviction order among entries used
// between the same two puts is arbitrary, which is all an LRU needs: the
// question is only which entries have not been used since others were
// added.
type lru[K comparable, V any] struct {
	max   int
	clock atomic.Uint64
	m     map[K]*lruEntry[V]
}

type lruEntry[V any] struct {
	v    V
	used atomic.Uint64 // clock at the last get or put
}

// newLRU returns an empty lru holding at most size entries (at least 1).
func newLRU[K comparable, V any](size int) *lru[K, V] {
	return &lru[K, V]{max: max(size, 1), m: map[K]*lruEntry[V]{}}
}

// get returns the entry for k and marks it used. It needs at least the
// read lock.
func (c *lru[K, V]) get(k K) (V, bool) {
	e := c.m[k]
	if e == nil {
		var zero V
		return zero, false
	}
	if t := c.clock.Load(); e.used.Load() != t {
		e.used.Store(t)
	}
	return e.v, true
}

// peek returns the entry for k without marking it used.
func (c *lru[K, V]) peek(k K) (V, bool) {
	e := c.m[k]
	if e == nil {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores v under k, evicting an old entry first if the map is full.
// It needs the write lock.
func (c *lru[K, V]) put(k K, v V) {
	t := c.clock.Add(1)
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		c.evict()
	}
	e := &lruEntry[V]{v: v}
	e.used.Store(t)
	c.m[k] = e
}

// del removes k. It needs the write lock.
func (c *lru[K, V]) del(k K) { delete(c.m, k) }

// len returns the number of entries. It needs at least the read lock.
func (c *lru[K, V]) len() int { return len(c.m) }

// evict drops the least recently used of up to lruSample entries. Go's
// map iteration starts at a random position, which makes the sample
// random enough.
func (c *lru[K, V]) evict() {
	var victim K
	oldest, n := uint64(math.MaxUint64), 0
	for k, e := range c.m {
		if u := e.used.Load(); u < oldest {
			victim, oldest = k, u
		}
		if n++; n == lruSample {
			break
		}
	}
	if n > 0 {
		delete(c.m, victim)
	}
}
