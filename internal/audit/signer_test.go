package audit_test

import (
	"crypto/rand"
	"errors"
	"sync"
	"testing"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
)

// TestLoadSignerRace starts several nodes at once on one empty store: they
// must all end up signing with the same key, the first one stored, or
// digests signed by one node would not verify with the key another exports.
func TestLoadSignerRace(t *testing.T) {
	db, err := embedded.Open(t.TempDir() + "/trent.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	root, err := keystore.GenerateMemoryRoot(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	notFound := func(err error) bool { return errors.Is(err, store.ErrNotFound) }
	const n = 6
	fps := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := audit.LoadSigner(t.Context(), db, root, rand.Reader, notFound)
			if err != nil {
				t.Error(err)
				return
			}
			fps[i] = s.Fingerprint()
		})
	}
	wg.Wait()
	again, err := audit.LoadSigner(t.Context(), db, root, rand.Reader, notFound)
	if err != nil {
		t.Fatal(err)
	}
	for i, fp := range fps {
		if fp != again.Fingerprint() {
			t.Fatalf("node %d signs with %s, the store keeps %s", i, fp, again.Fingerprint())
		}
	}
}
