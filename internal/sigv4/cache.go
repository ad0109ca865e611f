package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"sync"
)

// maxCachedKeys bounds the signing-key cache. A key is valid for one day,
// region and service, so this is room for thousands of active access keys.
const maxCachedKeys = 4096

// cacheKey identifies a derived signing key. The secret is represented only
// by its SHA-256, so a rotated secret never hits an old entry.
type cacheKey struct {
	accessKeyID string
	secret      [sha256.Size]byte
	scope       string // date/region/service/terminator
}

// keyCache holds derived signing keys. Its zero value is ready to use.
type keyCache struct {
	mu sync.RWMutex
	m  map[cacheKey][sha256.Size]byte
}

// signingKey returns kSigning for secret and the credential scope, deriving
// and caching it on a miss.
func (c *keyCache) signingKey(secret string, cs credentialScope) [sha256.Size]byte {
	k := cacheKey{accessKeyID: cs.accessKeyID, secret: fingerprint(secret), scope: cs.scope}
	c.mu.RLock()
	key, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return key
	}
	key = deriveSigningKey(secret, cs.date, cs.region, cs.service)

	// The strings point into the request's Authorization header; copy them
	// so the cache does not keep whole headers alive.
	k.accessKeyID = strings.Clone(k.accessKeyID)
	k.scope = strings.Clone(k.scope)
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[cacheKey][sha256.Size]byte)
	}
	if len(c.m) >= maxCachedKeys {
		// Evict an arbitrary entry; map order is randomised.
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = key
	c.mu.Unlock()
	return key
}

// fingerprint returns the SHA-256 of secret without copying it to the heap.
func fingerprint(secret string) [sha256.Size]byte {
	var buf [128]byte
	if len(secret) <= len(buf) {
		n := copy(buf[:], secret)
		sum := sha256.Sum256(buf[:n])
		clear(buf[:n])
		return sum
	}
	return sha256.Sum256([]byte(secret))
}

// deriveSigningKey computes
//
//	kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")
func deriveSigningKey(secret, date, region, service string) [sha256.Size]byte {
	var k [sha256.Size]byte
	mac := hmac.New(sha256.New, []byte("AWS4"+secret))
	mac.Write([]byte(date))
	mac.Sum(k[:0])
	for _, s := range [...]string{region, service, terminator} {
		mac = hmac.New(sha256.New, k[:])
		mac.Write([]byte(s))
		mac.Sum(k[:0])
	}
	return k
}
