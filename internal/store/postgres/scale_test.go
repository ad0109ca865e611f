package postgres_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/postgres"
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
// on the keys_account index, in the generic plan pgx's prepared statement
// ends up with: an index scan from the marker, no sequential scan and no
// sort, so a page late in a list of a million keys costs what the first
// one costs (measured in docs/performance.md).
func TestListKeysPlan(t *testing.T) {
	ctx := t.Context()
	u := freshSchema(t)
	db, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateKeys(ctx, append(bulkKeys("111122223333", 0, 3000), bulkKeys("444455556666", 3000, 3000)...)); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, q := range []string{`ANALYZE keys`, `SET plan_cache_mode = force_generic_plan`, `PREPARE list_keys AS ` + postgres.ListKeysSQL} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows, err := c.Query(ctx, `EXPLAIN EXECUTE list_keys('us-east-1', '111122223333', 'k002000', 101)`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "using keys_account") || strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Sort") {
		t.Fatalf("ListKeys generic plan:\n%s\nwant an index scan of keys_account from the marker, without a sort", plan)
	}
	t.Logf("ListKeys generic plan:\n%s", plan)
	refs, err := db.ListKeys(ctx, "us-east-1", "111122223333", "k002000", 101)
	if err != nil || len(refs) != 101 || refs[0].KeyID != "k002001" {
		t.Fatalf("ListKeys after k002000 = %d refs, %v", len(refs), err)
	}
}
