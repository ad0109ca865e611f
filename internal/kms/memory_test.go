package kms

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
)

// BenchmarkKeyCacheMemory reports the heap a cached SYMMETRIC_DEFAULT key
// with the default key policy and no tags keeps alive (metric B/entry),
// the figure docs/performance.md gives for sizing key_cache_size. Run it
// with -benchtime=1x; each iteration fills a fresh cache of 20,000 keys.
func BenchmarkKeyCacheMemory(b *testing.B) {
	const n = 20_000
	root, err := keystore.OpenFileRoot(filepath.Join(b.TempDir(), "root.key"))
	if err != nil {
		b.Fatal(err)
	}
	s := &Service{root: root, rand: rand.Reader, now: time.Now}
	var perEntry float64
	for b.Loop() {
		s.keys = newLRU[store.KeyRef, *cachedKey](n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			id, err := generateKeyID(rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			arn := KeyARN("us-east-1", "111122223333", id)
			now := time.Now().UTC()
			mat, err := s.generateMaterial(specSymmetric, arn, now)
			if err != nil {
				b.Fatal(err)
			}
			k := store.Key{
				Region: "us-east-1", KeyID: id, AccountID: "111122223333", Revision: 1,
				KeyUsage: usageEncrypt, KeySpec: specSymmetric, Origin: "AWS_KMS", KeyManager: "CUSTOMER",
				KeyState: stateEnabled, CreationDate: now, PolicyName: defaultPolicyName,
				Policy:            DefaultKeyPolicy("aws", "111122223333"),
				CurrentMaterialID: mat.ID, Materials: []store.Material{mat},
			}
			ck, err := s.unseal(context.Background(), k)
			if err != nil {
				b.Fatal(err)
			}
			s.keys.put(k.Ref(), ck)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(s.keys)
	}
	b.ReportMetric(perEntry, "B/entry")
}
