//go:build unix

package keystore_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/trent-kms/trent/internal/keystore"
)

// TestFileRootModes checks that a new root key file has mode 0600, and a
// directory created for it 0700, whatever the umask. The umask is
// process-wide, so each case runs in a child process of the test binary.
func TestFileRootModes(t *testing.T) {
	if mask := os.Getenv("TRENT_TEST_UMASK"); mask != "" {
		m, err := strconv.ParseUint(mask, 8, 32)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Umask(int(m))
		dir := filepath.Join(os.Getenv("TRENT_TEST_DIR"), "data")
		if _, err := keystore.OpenFileRoot(filepath.Join(dir, "root.key")); err != nil {
			t.Fatal(err)
		}
		for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "root.key"): 0o600} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != want {
				t.Errorf("%s has mode %#o, want %#o", path, perm, want)
			}
		}
		return
	}
	for _, mask := range []string{"0", "022", "277"} {
		t.Run("umask-"+mask, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFileRootModes$", "-test.v")
			cmd.Env = append(os.Environ(), "TRENT_TEST_UMASK="+mask, "TRENT_TEST_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child with umask %s: %v\n%s", mask, err, out)
			}
		})
	}
}
