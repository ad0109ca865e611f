package embedded_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
)

// crashEnv names the database file a re-executed test binary writes to
// until it is killed.
const crashEnv = "TRENT_EMBEDDED_CRASH_CHILD_DB"

// crashKey is the key the crash child creates as its i-th key. Its material
// is derived from i so that the parent can check it arrived whole.
func crashKey(i int) store.Key {
	id := fmt.Sprintf("crash-%06d", i)
	sum := sha256.Sum256([]byte(id))
	return store.Key{
		Region:       "us-east-1",
		KeyID:        id,
		AccountID:    "111122223333",
		Description:  strings.Repeat("d", i%512),
		KeyState:     "Enabled",
		CreationDate: time.Unix(int64(i), 0),
		Tags:         []store.Tag{{Key: "i", Value: strconv.Itoa(i)}},
		Materials: []store.Material{
			{ID: fmt.Sprintf("%064x", i), Sealed: bytes.Repeat(sum[:], 1+i%64), CreatedAt: time.Unix(int64(i), 0)},
			{ID: fmt.Sprintf("%064x", i+1), Sealed: sum[:7], CreatedAt: time.Unix(int64(i), 0)},
		},
		CurrentMaterialID: fmt.Sprintf("%064x", i+1),
	}
}

// TestCrashChild is the child half of TestCrashDurability: it writes until
// it is killed, and prints a line after each write returns.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("runs only as the child of TestCrashDurability")
	}
	ctx := context.Background()
	db, err := embedded.Open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	counter := store.KeyRef{Region: "us-east-1", KeyID: "counter"}
	if err := db.CreateKey(ctx, store.Key{Region: counter.Region, KeyID: counter.KeyID, AccountID: "111122223333"}); err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		if err := db.CreateKey(ctx, crashKey(i)); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Printf("created %d\n", i)
		k, err := db.UpdateKey(ctx, counter, func(k *store.Key) error {
			k.PendingWindowInDays++
			k.Materials = append(k.Materials, crashKey(i).Materials[0])
			return nil
		})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Printf("updated %d\n", k.PendingWindowInDays)
	}
}

// TestCrashDurability kills a writer process mid-stream and checks that
// every write it saw return survived, whole.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	const killAfter = 150 // keys created before the kill
	created, updated := -1, 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "created "):
			n, err := strconv.Atoi(strings.TrimPrefix(line, "created "))
			if err != nil || n != created+1 {
				t.Fatalf("child printed %q after key %d", line, created)
			}
			created = n
		case strings.HasPrefix(line, "updated "):
			n, err := strconv.Atoi(strings.TrimPrefix(line, "updated "))
			if err != nil || n != updated+1 {
				t.Fatalf("child printed %q after update %d", line, updated)
			}
			updated = n
		case strings.HasPrefix(line, "error "):
			t.Fatalf("child failed: %s", line)
		}
		if created == killAfter && !killed {
			// Kill while the child is still writing; lines already in the
			// pipe are read below and count too.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed: %v", werr)
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", werr)
	}
	t.Logf("child created %d keys and made %d updates before SIGKILL", created+1, updated)

	db, err := embedded.Open(path)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer db.Close()
	ctx := context.Background()
	for i := 0; i <= created; i++ {
		want := crashKey(i)
		got, err := db.GetKey(ctx, want.Ref())
		if err != nil {
			t.Fatalf("key %d, reported created, after crash: %v", i, err)
		}
		if got.Description != want.Description || len(got.Tags) != 1 || got.Tags[0] != want.Tags[0] ||
			got.CurrentMaterialID != want.CurrentMaterialID || len(got.Materials) != len(want.Materials) {
			t.Fatalf("key %d is not whole after crash", i)
		}
		for j := range want.Materials {
			if !bytes.Equal(got.Materials[j].Sealed, want.Materials[j].Sealed) || got.Materials[j].ID != want.Materials[j].ID {
				t.Fatalf("key %d: material %d differs after crash", i, j)
			}
		}
	}
	c, err := db.GetKey(ctx, store.KeyRef{Region: "us-east-1", KeyID: "counter"})
	if err != nil {
		t.Fatal(err)
	}
	if c.PendingWindowInDays < updated || len(c.Materials) != c.PendingWindowInDays || c.Revision != int64(1+c.PendingWindowInDays) {
		t.Fatalf("counter after crash: value %d, %d materials, revision %d; child reported %d updates",
			c.PendingWindowInDays, len(c.Materials), c.Revision, updated)
	}
	// The database still takes writes.
	if err := db.CreateKey(ctx, crashKey(created+1000)); err != nil {
		t.Fatalf("write after crash: %v", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trent.db")
	db, err := embedded.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	mustDo(t, db.PutMeta(ctx, "root", []byte{1, 2, 3}))
	mustDo(t, db.CreateAccount(ctx, store.Account{ID: "111122223333", CreatedAt: created}))
	mustDo(t, db.CreateAccessKey(ctx, store.AccessKey{ID: "AKIA1", AccountID: "111122223333", SealedSecret: []byte{9}, CreatedAt: created}))
	k := crashKey(7)
	mustDo(t, db.CreateKey(ctx, k))
	_, err = db.UpdateKey(ctx, k.Ref(), func(k *store.Key) error { k.Description = "updated"; return nil })
	mustDo(t, err)
	mustDo(t, db.CreateAlias(ctx, store.Alias{Region: k.Region, AccountID: k.AccountID, Name: "alias/a", TargetKeyID: k.KeyID, CreationDate: created, LastUpdatedDate: created}))
	mustDo(t, db.Close())
	if _, err := os.Stat(path + "-wal"); err == nil {
		if fi, _ := os.Stat(path + "-wal"); fi.Size() != 0 {
			t.Errorf("WAL holds %d bytes after Close, want it checkpointed", fi.Size())
		}
	}

	for round := range 2 {
		db, err = embedded.Open(path)
		if err != nil {
			t.Fatalf("reopen %d: %v", round, err)
		}
		if v, err := db.GetMeta(ctx, "root"); err != nil || !bytes.Equal(v, []byte{1, 2, 3}) {
			t.Errorf("meta after reopen = %x, %v", v, err)
		}
		if a, err := db.GetAccount(ctx, "111122223333"); err != nil || !a.CreatedAt.Equal(created) {
			t.Errorf("account after reopen = %v, %v", a, err)
		}
		if ak, err := db.GetAccessKey(ctx, "AKIA1"); err != nil || !bytes.Equal(ak.SealedSecret, []byte{9}) {
			t.Errorf("access key after reopen = %v, %v", ak.ID, err)
		}
		got, err := db.GetKey(ctx, k.Ref())
		if err != nil || got.Description != "updated" || got.Revision != 2 || len(got.Materials) != 2 ||
			!bytes.Equal(got.Materials[0].Sealed, k.Materials[0].Sealed) {
			t.Errorf("key after reopen: revision %d, description %q, %d materials, err %v",
				got.Revision, got.Description, len(got.Materials), err)
		}
		if a, err := db.GetAlias(ctx, k.Region, k.AccountID, "alias/a"); err != nil || a.TargetKeyID != k.KeyID {
			t.Errorf("alias after reopen = %v, %v", a, err)
		}
		mustDo(t, db.Close())
	}
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trent.db")
	db, err := embedded.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustDo(t, db.PutMeta(context.Background(), "x", []byte("y"))) // creates the WAL
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), m)
		}
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trent.db")
	db, err := embedded.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, db.Close())
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 'future')`)
	raw.Close()
	mustDo(t, err)
	db, err = embedded.Open(path)
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a database with a newer schema")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open error = %v, want it to say the schema is newer", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if db, err := embedded.Open(dir); err == nil {
		db.Close()
		t.Error("Open of a directory succeeded")
	}
	if db, err := embedded.Open(filepath.Join(dir, "missing", "trent.db")); err == nil {
		db.Close()
		t.Error("Open in a missing directory succeeded")
	}
	notDB := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database "), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if db, err := embedded.Open(notDB); err == nil {
		db.Close()
		t.Error("Open of a file that is not a database succeeded")
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
