package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
)

// AWS's documentation example credentials. Anyone may sign requests with
// them, so a server whose root access key uses them warns at every start.
// Source: https://aws.amazon.com/developers/access-keys/ ("Access key ID
// example: AKIAIOSFODNN7EXAMPLE", "Secret access key example:
// wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").
const (
	exampleAccessKeyID = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret      = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// rootCredentials is where the root access key generated at first start
// goes: the root credentials file if one is configured, or else the
// server's output, once.
type rootCredentials struct {
	path     string   // Config.RootCredentialsFile
	supplied bool     // the operator chose the key (TRENT_ROOT_ACCESS_KEY_ID)
	f        *os.File // created empty before the key is; nil if no key will be generated
}

// openRootCredentials runs before the account is bootstrapped. When a
// root credentials file is configured and a key will be generated (the
// account has no access key and none is supplied), it creates the file
// now, empty, with mode 0600 and O_EXCL, so that a file that cannot be
// written, or an existing file that would otherwise be overwritten, stops
// the start before a secret exists that nobody could learn. The caller
// must call close.
func openRootCredentials(ctx context.Context, cfg *Config, db store.Store) (*rootCredentials, error) {
	rc := &rootCredentials{path: cfg.RootCredentialsFile, supplied: os.Getenv("TRENT_ROOT_ACCESS_KEY_ID") != ""}
	if rc.path == "" || rc.supplied {
		return rc, nil
	}
	keys, err := db.ListAccessKeys(ctx, cfg.AccountID)
	if err != nil {
		return nil, fmt.Errorf("list access keys of account %s: %w", cfg.AccountID, err)
	}
	if len(keys) > 0 {
		return rc, nil // generated at an earlier start; the file, if any, is the operator's
	}
	f, err := os.OpenFile(rc.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("root credentials file %s already exists, but account %s has no access key yet; "+
			"trent does not overwrite it: move it away and start again", rc.path, cfg.AccountID)
	}
	if err != nil {
		return nil, fmt.Errorf("create root credentials file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil { // whatever the umask
		f.Close()
		os.Remove(rc.path)
		return nil, fmt.Errorf("create root credentials file: %w", err)
	}
	rc.f = f
	return rc, nil
}

// report delivers the credentials Bootstrap created, if any: to the root
// credentials file, synced, with only the access key id and the file's
// name printed to out; or, without a file, the secret itself to out.
// Credentials the operator supplied are not repeated.
func (rc *rootCredentials) report(created *kms.Credentials, out io.Writer) error {
	if created == nil || rc.supplied {
		return nil
	}
	if rc.f == nil {
		fmt.Fprintf(out, "Created the root access key of account %s. The secret is shown only this once:\n"+
			"  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\n", created.AccountID, created.AccessKeyID, created.SecretAccessKey)
		return nil
	}
	// The file is both a shell script to source and a systemd EnvironmentFile.
	_, err := fmt.Fprintf(rc.f, "# Root access key of account %s, created by trent at first start.\n"+
		"AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n", created.AccountID, created.AccessKeyID, created.SecretAccessKey)
	if err == nil {
		err = rc.f.Sync()
	}
	if err2 := rc.f.Close(); err == nil {
		err = err2
	}
	rc.f = nil
	if err == nil {
		err = syncDir(filepath.Dir(rc.path))
	}
	if err != nil {
		os.Remove(rc.path)
		return fmt.Errorf("write root credentials file %s: %w (access key %s of account %s was created; its secret is lost)",
			rc.path, err, created.AccessKeyID, created.AccountID)
	}
	fmt.Fprintf(out, "Created the root access key %s of account %s; its secret is in %s.\n", created.AccessKeyID, created.AccountID, rc.path)
	return nil
}

// close removes the root credentials file created by openRootCredentials
// if no credentials were written to it: bootstrapping failed, or another
// node sharing the database created the key first.
func (rc *rootCredentials) close() {
	if rc.f != nil {
		rc.f.Close()
		os.Remove(rc.path)
		rc.f = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}

// warnExampleCredentials logs a warning for each access key of the account
// whose id or secret is AWS's documentation example. Only the access key
// id is logged.
func warnExampleCredentials(ctx context.Context, svc *kms.Service, db store.Store, accountID string, log *slog.Logger) {
	keys, err := db.ListAccessKeys(ctx, accountID)
	if err != nil {
		log.Warn("cannot check the access keys for AWS's example credentials", "account_id", accountID, "err", err)
		return
	}
	for _, ak := range keys {
		example := ak.ID == exampleAccessKeyID
		if id, err := svc.Identity(ctx, ak.ID); err == nil {
			example = example || subtle.ConstantTimeCompare([]byte(id.Secret()), []byte(exampleSecret)) == 1
		}
		if example {
			log.Warn("an access key uses AWS's published documentation example credentials, which anyone can sign requests with; use it for local tests only",
				"access_key_id", ak.ID, "account_id", accountID)
		}
	}
}
