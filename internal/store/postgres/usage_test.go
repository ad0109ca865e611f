package postgres_test

import (
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/store"
)

// recordKeyUsage is TestRecordKeyUsage's body; the embedded store's test
// is the same.
func recordKeyUsage(t *testing.T, db store.Store) {
	ctx := t.Context()
	rec := db.(store.KeyUsageRecorder)
	for _, k := range bulkKeys("111122223333", 0, 2) {
		if err := db.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ref := func(id string) store.KeyRef { return store.KeyRef{Region: "us-east-1", KeyID: id} }
	use := func(id string, at time.Time) store.KeyUsageRecord {
		return store.KeyUsageRecord{Ref: ref(id), Usage: store.KeyUsage{Time: at, Operation: "Encrypt", RequestID: "r-" + at.Format("150405")}}
	}
	n, missing, err := rec.RecordKeyUsage(ctx, []store.KeyUsageRecord{use("k000000", t0), use("k000001", t0), use("gone", t0)})
	if err != nil || n != 2 || len(missing) != 1 || missing[0] != ref("gone") {
		t.Fatalf("RecordKeyUsage = %d, %v, %v; want 2 written and the missing key reported", n, missing, err)
	}
	n, _, err = rec.RecordKeyUsage(ctx, []store.KeyUsageRecord{use("k000000", t0.Add(time.Second)), use("k000001", t0.Add(-time.Second))})
	if err != nil || n != 1 {
		t.Fatalf("RecordKeyUsage with one later and one earlier use = %d, %v; want 1", n, err)
	}
	k0, _ := db.GetKey(ctx, ref("k000000"))
	k1, _ := db.GetKey(ctx, ref("k000001"))
	// A recorded use is not a change of the key: the revision stays 1.
	if k0.LastUsage == nil || !k0.LastUsage.Time.Equal(t0.Add(time.Second)) || k0.Revision != 1 {
		t.Errorf("k000000: LastUsage %+v, revision %d; want the later use and revision 1", k0.LastUsage, k0.Revision)
	}
	if k1.LastUsage == nil || !k1.LastUsage.Time.Equal(t0) || k1.Revision != 1 || k1.LastUsage.RequestID != "r-120000" {
		t.Errorf("k000001: LastUsage %+v, revision %d; want the first use kept and revision 1", k1.LastUsage, k1.Revision)
	}
	// A use the key's document already holds (from an UpdateKey, or from
	// before the use was kept beside it) counts too: reads return the
	// later of the two, and the document's is kept while it is later.
	doc := store.KeyUsage{Time: t0.Add(time.Hour), Operation: "Decrypt", RequestID: "r-doc"}
	if _, err := db.UpdateKey(ctx, ref("k000001"), func(k *store.Key) error { k.LastUsage = &doc; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rec.RecordKeyUsage(ctx, []store.KeyUsageRecord{use("k000001", t0.Add(time.Minute))}); err != nil {
		t.Fatal(err)
	}
	if k1, _ = db.GetKey(ctx, ref("k000001")); k1.LastUsage == nil || k1.LastUsage.RequestID != "r-doc" {
		t.Errorf("k000001 after a later use in its document: LastUsage %+v; want the document's", k1.LastUsage)
	}
	if _, _, err := rec.RecordKeyUsage(ctx, []store.KeyUsageRecord{use("k000001", t0.Add(2*time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if k1, _ = db.GetKey(ctx, ref("k000001")); k1.LastUsage == nil || !k1.LastUsage.Time.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("k000001 after a later recorded use: LastUsage %+v", k1.LastUsage)
	}
	// A key's recorded use goes with it: a key made again under the same
	// id starts without one.
	if err := db.DeleteKey(ctx, ref("k000000")); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateKey(ctx, bulkKeys("111122223333", 0, 1)[0]); err != nil {
		t.Fatal(err)
	}
	if k0, _ = db.GetKey(ctx, ref("k000000")); k0.LastUsage != nil {
		t.Errorf("a key made again under a deleted key's id has its use %+v", k0.LastUsage)
	}
}
