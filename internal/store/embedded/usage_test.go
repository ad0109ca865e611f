package embedded

import (
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/store"
)

// recordKeyUsage is TestRecordKeyUsage's body; the PostgreSQL store's test
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
	if k0.LastUsage == nil || !k0.LastUsage.Time.Equal(t0.Add(time.Second)) || k0.Revision != 3 {
		t.Errorf("k000000: LastUsage %+v, revision %d; want the later use and revision 3", k0.LastUsage, k0.Revision)
	}
	if k1.LastUsage == nil || !k1.LastUsage.Time.Equal(t0) || k1.Revision != 2 || k1.LastUsage.RequestID != "r-120000" {
		t.Errorf("k000001: LastUsage %+v, revision %d; want the first use kept and revision 2", k1.LastUsage, k1.Revision)
	}
}
