//go:build unix

package embedded_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
)

// TestFileModes checks that the database file and the -wal and -shm files
// SQLite creates beside it have mode 0600 whatever the umask. The umask is
// process-wide, so each case runs in a child process of the test binary.
func TestFileModes(t *testing.T) {
	if mask := os.Getenv("TRENT_TEST_UMASK"); mask != "" {
		m, err := strconv.ParseUint(mask, 8, 32)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Umask(int(m))
		checkFileModes(t, os.Getenv("TRENT_TEST_DIR"))
		return
	}
	for _, mask := range []string{"0", "022", "277"} {
		t.Run("umask-"+mask, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFileModes$", "-test.v")
			cmd.Env = append(os.Environ(), "TRENT_TEST_UMASK="+mask, "TRENT_TEST_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child with umask %s: %v\n%s", mask, err, out)
			}
		})
	}
}

func checkFileModes(t *testing.T, dir string) {
	path := filepath.Join(dir, "trent.db")
	db, err := embedded.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.CreateAccount(ctx, store.Account{ID: "111122223333", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ListAccessKeys(ctx, "111122223333"); err != nil { // the read pool maps the -shm file too
		t.Fatal(err)
	}
	for _, name := range []string{"trent.db", "trent.db-wal", "trent.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", name, perm)
		}
	}
}
