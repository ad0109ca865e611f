package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	str "strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/store"
)

func bulkKeys(account string, from, n int) []store.Key {
	keys := make([]store.Key, n)
	for i := range keys {
		keys[i] = store.Key{Region: "us-east-1", KeyID: fmt.Sprintf("k%06d", from+i), AccountID: account, Policy: "{}",
			CurrentMaterialID: "m", Materials: []store.Material{{ID: "m", Sealed: []byte("sealed")}}}
	}
	return keys
}

// TestListKeysPlan checks that ListKeys pages by key (keyset pagination)
// on the keys_account index: SQLite searches the index from the marker,
// with no scan of the table and no sort, so a page late in a list of a
// million keys costs what the first one costs (measured in
// docs/performance.md).
func TestListKeysPlan(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "trent.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	if err := db.CreateKeys(ctx, append(bulkKeys("111122223333", 0, 500), bulkKeys("444455556666", 500, 500)...)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	rows, err := db.r.QueryContext(ctx, `EXPLAIN QUERY PLAN `+listKeysSQL, "us-east-1", "111122223333", "k000400", 101)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	got := str.Join(plan, "; ")
	if !str.Contains(got, "SEARCH keys USING COVERING INDEX keys_account (region=? AND account_id=? AND key_id>?)") ||
		str.Contains(got, "TEMP B-TREE") || len(plan) != 1 {
		t.Fatalf("ListKeys plan = %q, want one search of keys_account from the marker, without a sort", got)
	}
	refs, err := db.ListKeys(ctx, "us-east-1", "111122223333", "k000400", 101)
	if err != nil || len(refs) != 99 || refs[0].KeyID != "k000401" || refs[98].KeyID != "k000499" {
		t.Fatalf("ListKeys after k000400 = %d refs, %v", len(refs), err)
	}
}

// BenchmarkListKeysWalk pages through every key of the default account in
// an existing database, 1,000 keys a page as ListKeys requests ask, and
// reports the mean time of a page in the first, middle and last tenth of
// the walk. It needs a large store, so it runs only when
// TRENT_BENCH_DB names one (e.g. the trent.db of `trent bench --keys
// 1000000 --data-dir DIR`; open it while no server uses it).
func BenchmarkListKeysWalk(b *testing.B) {
	path := os.Getenv("TRENT_BENCH_DB")
	if path == "" {
		b.Skip("TRENT_BENCH_DB is not set")
	}
	db, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := b.Context()
	for b.Loop() {
		var times []time.Duration
		after := ""
		for {
			t0 := time.Now()
			refs, err := db.ListKeys(ctx, "us-east-1", "111122223333", after, 1001)
			if err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(t0))
			if len(refs) <= 1000 {
				break
			}
			after = refs[999].KeyID
		}
		n, k := len(times), max(len(times)/10, 1)
		mean := func(from int) float64 {
			var sum time.Duration
			for _, t := range times[from : from+k] {
				sum += t
			}
			return float64(sum/time.Duration(k)) / 1e6
		}
		b.ReportMetric(float64(n), "pages")
		b.ReportMetric(mean(0), "ms/page-first")
		b.ReportMetric(mean(n/2-k/2), "ms/page-middle")
		b.ReportMetric(mean(n-k), "ms/page-last")
	}
}
