package server_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/trent-kms/trent/internal/server"
)

// newServerErr runs server.New on dir and returns its error, stopping a
// server that started.
func newServerErr(t *testing.T, dir string) error {
	t.Helper()
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir}
	cfg.Defaults()
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := srv.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return err
}

// populated returns a data directory in which a server has run, so it
// holds root.key and trent.db.
func populated(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := newServerErr(t, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func wantErrContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

// TestRefuseUnsafePermissions checks that the server refuses a data
// directory, root key or database file that group or others may access,
// naming the file and the chmod that fixes it, and that it then creates
// nothing.
func TestRefuseUnsafePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions on Windows")
	}
	t.Run("data-dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []os.FileMode{0o755, 0o750, 0o711, 0o702} {
			os.Chmod(dir, mode)
			wantErrContains(t, newServerErr(t, dir),
				"data directory "+dir+" has mode "+"0"+strconv.FormatUint(uint64(mode), 8), "(chmod 700 "+dir+")")
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("refused start created %d files", len(entries))
		}
	})
	for _, name := range []string{"root.key", "trent.db", "trent.db-wal", "trent.db-shm"} {
		t.Run(name, func(t *testing.T) {
			dir := populated(t)
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, nil, 0o600); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
				os.Chmod(path, mode)
				wantErrContains(t, newServerErr(t, dir), path+" has mode 0"+strconv.FormatUint(uint64(mode), 8), "(chmod 600 "+path+")")
			}
		})
	}
	t.Run("every-problem-at-once", func(t *testing.T) {
		dir := populated(t)
		os.Chmod(dir, 0o750)
		os.Chmod(filepath.Join(dir, "root.key"), 0o640)
		os.Chmod(filepath.Join(dir, "trent.db"), 0o644)
		wantErrContains(t, newServerErr(t, dir), "chmod 700 "+dir, "chmod 600 "+filepath.Join(dir, "root.key"), "chmod 600 "+filepath.Join(dir, "trent.db"))
	})
	t.Run("quoted-path", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "it's data")
		os.Mkdir(dir, 0o755)
		os.Chmod(dir, 0o755)
		wantErrContains(t, newServerErr(t, dir), `(chmod 700 '`+strings.ReplaceAll(dir, "'", `'\''`)+`')`)
	})
	t.Run("safe-after-fix", func(t *testing.T) {
		dir := populated(t)
		os.Chmod(dir, 0o755)
		if newServerErr(t, dir) == nil {
			t.Fatal("not refused")
		}
		os.Chmod(dir, 0o700)
		if err := newServerErr(t, dir); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRefuseForeignOwner checks that files owned by another user than the
// one the server runs as are refused with the chown that fixes it. The uid
// is injected, so the test does not depend on who runs it.
func TestRefuseForeignOwner(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix owners on Windows")
	}
	dir := populated(t)
	me := os.Geteuid()
	if err := server.PrepareDataDir(dir, me); err != nil {
		t.Fatal(err)
	}
	other := me + 1
	err := server.PrepareDataDir(dir, other)
	for _, p := range []string{dir, filepath.Join(dir, "root.key"), filepath.Join(dir, "trent.db")} {
		wantErrContains(t, err, p+" is owned by uid "+strconv.Itoa(me)+", not by uid "+strconv.Itoa(other),
			"(chown "+strconv.Itoa(other)+" "+p+")")
	}
}

// TestRefuseForeignOwnerAsRoot chowns the root key to nobody and checks
// that the server, running as root, refuses it. It needs root to chown.
func TestRefuseForeignOwnerAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown a file to another user; TestRefuseForeignOwner covers the check")
	}
	dir := populated(t)
	key := filepath.Join(dir, "root.key")
	const nobody = 65534
	if err := os.Chown(key, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	wantErrContains(t, newServerErr(t, dir), "root key file "+key+" is owned by uid 65534, not by uid 0", "(chown 0 "+key+")")
}

// TestCreatedFileModes starts a server on a new data directory under
// several umasks and checks that the directory is 0700 and every file in
// it 0600. The umask is process-wide, so each case runs in a child process
// of the test binary.
func TestCreatedFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions on Windows")
	}
	if mask := os.Getenv("TRENT_TEST_UMASK"); mask != "" {
		m, err := strconv.ParseUint(mask, 8, 32)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Umask(int(m))
		checkCreatedModes(t, filepath.Join(os.Getenv("TRENT_TEST_DIR"), "data"))
		return
	}
	for _, mask := range []string{"0", "022", "277"} {
		t.Run("umask-"+mask, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestCreatedFileModes$", "-test.v")
			cmd.Env = append(os.Environ(), "TRENT_TEST_UMASK="+mask, "TRENT_TEST_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child with umask %s: %v\n%s", mask, err, out)
			}
		})
	}
}

func checkCreatedModes(t *testing.T, dir string) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", "")
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", "")
	creds := filepath.Join(filepath.Dir(dir), "root-credentials.env")
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir, RootCredentialsFile: creds}
	cfg.Defaults()
	srv := startConfigured(t, cfg, io.Discard, io.Discard)
	// A request writes to the database, so the -wal and -shm files exist.
	if err := srv.Service().EnsureAccount(context.Background(), "444455556666"); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{dir: 0o700, creds: 0o600}
	for _, name := range []string{"root.key", "trent.db", "trent.db-wal", "trent.db-shm"} {
		want[filepath.Join(dir, name)] = 0o600
	}
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("%s has mode %#o, want %#o", path, got, mode)
		}
	}
}
