package kms_test

import (
	"context"
	"testing"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/wire"
)

// BenchmarkEncryptCacheHit measures Encrypt with a key that is already in
// the key cache, from GOMAXPROCS goroutines at once, so contention on the
// cache shows. "hot" uses one key; "spread" cycles through 1,000 keys.
func BenchmarkEncryptCacheHit(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		keys int
	}{{"hot", 1}, {"spread", 1000}} {
		b.Run(tc.name, func(b *testing.B) {
			svc, _ := newService(b, kms.Config{})
			ids := make([]string, tc.keys)
			for i := range ids {
				ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = *ck.KeyMetadata.KeyId
				if _, err := svc.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: &ids[i], Plaintext: []byte("x")}); err != nil {
					b.Fatal(err)
				}
			}
			pt := make([]byte, 32)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					id := &ids[i%len(ids)]
					i++
					if _, err := svc.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: id, Plaintext: pt}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
