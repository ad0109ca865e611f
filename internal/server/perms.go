package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// prepareDataDir creates the data directory with mode 0700 if it is
// missing, whatever the umask, and then refuses, with one error per
// problem, a data directory, root key file or database file (with its
// -wal and -shm files) that group or others may access or that is not
// owned by uid, the user Trent runs as. Each error names the file and the
// chmod or chown command that fixes it. Files that do not exist yet are
// skipped: Trent creates them with mode 0600.
//
// The check is strict on purpose: the root key file opens every key, and
// the database holds sealed key material and access keys, so even a
// directory that group members may only traverse (mode 0711) or a database
// they may only read is refused. Symbolic links are followed, so a data
// directory that is a link to a volume is checked where it points.
func prepareDataDir(dir string, uid int) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil { // the umask may have taken bits away
			return fmt.Errorf("create data directory: %w", err)
		}
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	var errs []error
	check := func(what, path string, mode fs.FileMode, optional bool) {
		fi, err := os.Stat(path)
		if optional && errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
			return
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			errs = append(errs, fmt.Errorf("%s %s has mode %#o; group and others must have no access (chmod %o %s)",
				what, path, perm, mode, shellQuote(path)))
		}
		if owner, ok := fileOwner(fi); ok && owner != uid {
			errs = append(errs, fmt.Errorf("%s %s is owned by uid %d, not by uid %d that trent runs as (chown %d %s)",
				what, path, owner, uid, uid, shellQuote(path)))
		}
	}
	check("data directory", dir, 0o700, false)
	check("root key file", filepath.Join(dir, RootKeyFile), 0o600, true)
	db := filepath.Join(dir, DatabaseFile)
	check("database file", db, 0o600, true)
	check("database file", db+"-wal", 0o600, true)
	check("database file", db+"-shm", 0o600, true)
	if len(errs) > 0 {
		return fmt.Errorf("refusing to start with an unsafe data directory:\n%w", errors.Join(errs...))
	}
	return nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./@%+=:,-]+$`)

// shellQuote quotes path for a POSIX shell, so the command in an error
// message can be pasted as it is.
func shellQuote(path string) string {
	if shellSafe.MatchString(path) {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}
