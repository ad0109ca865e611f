package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/postgres"
	"github.com/trent-kms/trent/internal/store/storetest"
)

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// withParams returns base with the user (and password) replaced when user
// is not empty, and search_path set.
func withParams(t *testing.T, base, user, password, searchPath string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	q := u.Query()
	q.Set("search_path", searchPath)
	u.RawQuery = q.Encode()
	return u.String()
}

// adminExec runs sql on the test database as the admin role of
// TRENT_TEST_POSTGRES_URL.
func adminExec(t *testing.T, sql string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestCreatesSchemaFromSearchPath starts on a schema that does not exist
// yet, with a quoted mixed-case name: Open creates exactly that schema and
// puts the tables there.
func TestCreatesSchemaFromSearchPath(t *testing.T) {
	base := testURL(t)
	schema := randomName("Trent_New_")
	t.Cleanup(func() { adminExec(t, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE") })
	u := withParams(t, base, "", "", `"`+schema+`", public`)
	ctx := context.Background()
	db, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatalf("Open on a missing schema: %v", err)
	}
	if err := db.PutMeta(ctx, "m", []byte("v")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('meta', 'keys', 'schema_migrations')`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("schema %s holds %d of Trent's tables, want 3", schema, n)
	}
	// A second start finds the schema and its data.
	db, err = postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.GetMeta(ctx, "m"); err != nil || string(v) != "v" {
		t.Fatalf("GetMeta after reopen = %q, %v", v, err)
	}
}

// newRole creates a login role with no privileges beyond PUBLIC's plus
// CONNECT on the test database, and drops it and everything it owns when
// the test ends. It returns the role's name and password.
func newRole(t *testing.T) (string, string) {
	t.Helper()
	role := randomName("trent_role_")
	password := randomName("pw")
	adminExec(t, "CREATE ROLE "+role+" LOGIN PASSWORD '"+password+"'")
	var db string
	c, err := pgx.Connect(context.Background(), testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c.QueryRow(context.Background(), "SELECT current_database()").Scan(&db)
	c.Close(context.Background())
	adminExec(t, "GRANT CONNECT ON DATABASE "+pgx.Identifier{db}.Sanitize()+" TO "+role)
	t.Cleanup(func() {
		adminExec(t, "DROP OWNED BY "+role+" CASCADE")
		adminExec(t, "DROP ROLE "+role)
	})
	return role, password
}

// TestDocumentedGrants checks the grants README.md ("PostgreSQL") lists:
// a role with CONNECT on the database that owns its schema passes the whole
// store conformance suite; a role that may also create schemas starts on a
// missing one; a role that may do neither is refused with the SQL that
// fixes it, and starts once an administrator ran that SQL.
func TestDocumentedGrants(t *testing.T) {
	base := testURL(t)
	ctx := context.Background()

	t.Run("owns-schema", func(t *testing.T) {
		role, pw := newRole(t)
		storetest.Run(t, func(t *testing.T) store.Store {
			schema := randomName("trent_owned_")
			adminExec(t, "CREATE SCHEMA "+schema+" AUTHORIZATION "+role)
			// Each case's schema goes when the case ends: dropping all of
			// them at once with the role (DROP OWNED BY) takes a lock per
			// object in one transaction, more than PostgreSQL's default
			// lock table holds ("out of shared memory").
			t.Cleanup(func() { adminExec(t, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
			db, err := postgres.Open(t.Context(), withParams(t, base, role, pw, schema))
			if err != nil {
				t.Fatal(err)
			}
			return db
		})
	})

	t.Run("create-on-database", func(t *testing.T) {
		role, pw := newRole(t)
		var dbName string
		c, _ := pgx.Connect(ctx, base)
		c.QueryRow(ctx, "SELECT current_database()").Scan(&dbName)
		c.Close(ctx)
		adminExec(t, "GRANT CREATE ON DATABASE "+pgx.Identifier{dbName}.Sanitize()+" TO "+role)
		schema := randomName("trent_made_")
		db, err := postgres.Open(ctx, withParams(t, base, role, pw, schema))
		if err != nil {
			t.Fatalf("Open with CREATE on the database: %v", err)
		}
		defer db.Close()
		if err := db.CreateAccount(ctx, store.Account{ID: "111122223333"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("no-grant-says-what-to-run", func(t *testing.T) {
		role, pw := newRole(t)
		schema := randomName("trent_missing_")
		u := withParams(t, base, role, pw, schema)
		db, err := postgres.Open(ctx, u)
		if err == nil {
			db.Close()
			t.Fatal("Open created a schema without the privilege to")
		}
		if errors.Is(err, postgres.ErrUnavailable) {
			t.Fatalf("a permission problem is reported as unavailable: %v", err)
		}
		sql := regexp.MustCompile(`CREATE SCHEMA "[^"]+" AUTHORIZATION "[^"]+";`).FindString(err.Error())
		if want := `CREATE SCHEMA "` + schema + `" AUTHORIZATION "` + role + `";`; sql != want {
			t.Fatalf("error %q\ndoes not give the SQL %s", err, want)
		}
		adminExec(t, sql)
		db, err = postgres.Open(ctx, u)
		if err != nil {
			t.Fatalf("Open after running the SQL from the error: %v", err)
		}
		db.Close()
	})
}

// TestOpenUnreachable points Open at a closed loopback port: the error
// wraps ErrUnavailable and does not contain the password.
func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	u := "postgres://trent:pw-never-shown-7f3a@" + addr + "/trent?sslmode=disable&search_path=trent"
	db, err := postgres.Open(context.Background(), u)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a closed port")
	}
	if !errors.Is(err, postgres.ErrUnavailable) {
		t.Fatalf("Open = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "pw-never-shown-7f3a") {
		t.Fatalf("error shows the password: %v", err)
	}
}

// TestOpenMissingDatabaseIsNotUnavailable: a database that does not exist
// is a configuration error, not a reason to wait.
func TestOpenMissingDatabaseIsNotUnavailable(t *testing.T) {
	base := testURL(t)
	u, _ := url.Parse(base)
	u.Path = "/" + randomName("no_such_db_")
	db, err := postgres.Open(context.Background(), u.String())
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a missing database")
	}
	if errors.Is(err, postgres.ErrUnavailable) {
		t.Fatalf("missing database reported as unavailable: %v", err)
	}
}
