package embedded

import (
	"path/filepath"
	"testing"

	"github.com/trent-kms/trent/internal/store"
)

// TestListKeysSkipsDocument checks that ListKeys does not read the key
// document, where the policy and sealed material live: with every document
// replaced by something that is not a key, listing still works, while
// GetKey, which must read it, fails.
func TestListKeysSkipsDocument(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "trent.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	for _, id := range []string{"k1", "k2", "k3"} {
		k := store.Key{Region: "us-east-1", KeyID: id, AccountID: "111122223333", Policy: "{}",
			CurrentMaterialID: "m", Materials: []store.Material{{ID: "m", Sealed: []byte("sealed")}}}
		if err := db.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.w.ExecContext(ctx, `UPDATE keys SET doc = '"not a key document"'`); err != nil {
		t.Fatal(err)
	}
	refs, err := db.ListKeys(ctx, "us-east-1", "111122223333", "", 0)
	if err != nil {
		t.Fatalf("ListKeys read the key documents: %v", err)
	}
	if len(refs) != 3 || refs[0].KeyID != "k1" || refs[2].KeyID != "k3" {
		t.Fatalf("ListKeys = %v", refs)
	}
	if _, err := db.GetKey(ctx, store.KeyRef{Region: "us-east-1", KeyID: "k1"}); err == nil {
		t.Fatal("GetKey of a broken document succeeded; the test does not break documents")
	}
}
