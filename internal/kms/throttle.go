package kms

import (
	"sync/atomic"
	"time"
)

// ThrottleFunc applies a request quota that depends on the key a request
// uses: AWS KMS counts cryptographic operations against a quota shared by
// the operations on keys of one type (symmetric, RSA, ECC, ...), and
// GenerateDataKeyPair against a quota per data key pair spec. It is called
// each time a request's key is authorized for action (an IAM action name
// such as "kms:Encrypt"), after the key is found and before the policies
// are evaluated, with the key's spec and, for GenerateDataKeyPair, the
// requested KeyPairSpec (else ""). It decides which actions count; a
// non-nil error (ThrottlingException) is returned to the caller as is.
//
// It must not allocate or block: it runs on every cryptographic request.
type ThrottleFunc func(c *Caller, action, keySpec, dataKeyPairSpec string) error

func (s *Service) throttleKey(c *Caller, action string, ck *cachedKey, req *condReq) error {
	var pairSpec string
	if req != nil {
		pairSpec = req.pairSpec
	}
	return s.throttle(c, action, ck.meta.KeySpec, pairSpec)
}

// cacheStats counts key cache lookups.
type cacheStats struct {
	keyHits, keyMisses atomic.Uint64
}

// CacheStats describes a Service's caches, for metrics.
type CacheStats struct {
	Keys, Aliases, AccessKeys int    // entries now cached
	KeyHits, KeyMisses        uint64 // key lookups answered from the cache, and from the store, since start
	// Synced is when the last probe of the change listener that came
	// back was sent (see Service.Synced); zero when none has since the
	// listener (re)connected, or the store is not shared.
	Synced time.Time
}

// CacheStats returns the caches' sizes and the key cache's hit and miss
// counts.
func (s *Service) CacheStats() CacheStats {
	s.mu.RLock()
	st := CacheStats{Keys: s.keys.len(), Aliases: s.aliases.len(), AccessKeys: s.idents.len()}
	s.mu.RUnlock()
	st.KeyHits, st.KeyMisses = s.stats.keyHits.Load(), s.stats.keyMisses.Load()
	if p := s.synced.Load(); p != nil {
		st.Synced = *p
	}
	return st
}
