package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/store/postgres"
)

// storeFlags adds --config, --data-dir and --database-url; the result
// gives the data directory and the database URL ("" for the embedded
// store) after parsing.
func storeFlags(fs *flag.FlagSet) func() (dataDir, dbURL string, err error) {
	config := fs.String("config", "", "YAML config file to read data_dir and database_url from")
	dir := fs.String("data-dir", "", "data directory (default ./trent-data)")
	dbURL := fs.String("database-url", "", "PostgreSQL URL (default: the embedded store in the data directory)")
	return func() (string, string, error) {
		cfg := &server.Config{}
		if *config != "" {
			var err error
			if cfg, err = server.LoadConfig(*config); err != nil {
				return "", "", err
			}
		}
		if *dir != "" {
			cfg.DataDir = *dir
		}
		if *dbURL != "" {
			cfg.DatabaseURL = *dbURL
		}
		if cfg.DataDir == "" {
			cfg.DataDir = "./trent-data"
		}
		return cfg.DataDir, cfg.DatabaseURL, nil
	}
}

// backupCmd runs `trent backup FILE`: a consistent snapshot of the store,
// taken while the server runs. root.key is not in it.
func backupCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("trent backup", flag.ContinueOnError)
	where := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: trent backup [--config FILE] [--data-dir DIR] [--database-url URL] BACKUP-FILE")
		return 2
	}
	out := fs.Arg(0)
	dir, dbURL, err := where()
	if err == nil && dbURL == "" {
		err = embedded.Backup(ctx, filepath.Join(dir, server.DatabaseFile), out)
	} else if err == nil {
		err = pgBackup(ctx, dbURL, out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent backup:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "wrote %s; it does not contain the root key: keep root.key backed up separately\n", out)
	return 0
}

func pgBackup(ctx context.Context, dbURL, out string) error {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = postgres.Backup(ctx, dbURL, f)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(out)
	}
	return err
}

// restoreCmd runs `trent restore FILE` into an empty data directory or
// database.
func restoreCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("trent restore", flag.ContinueOnError)
	where := storeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: trent restore [--config FILE] [--data-dir DIR] [--database-url URL] BACKUP-FILE")
		return 2
	}
	in := fs.Arg(0)
	dir, dbURL, err := where()
	if err == nil {
		err = restore(ctx, in, dir, dbURL)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent restore:", err)
		return 1
	}
	rootKey := filepath.Join(dir, server.RootKeyFile)
	if _, err := os.Stat(rootKey); err != nil {
		fmt.Fprintf(os.Stderr, "restored %s; now copy the root.key of this backup to %s (mode 0600) before starting the server\n", in, rootKey)
	} else {
		fmt.Fprintf(os.Stderr, "restored %s; the server checks %s against it at start\n", in, rootKey)
	}
	return 0
}

func restore(ctx context.Context, in, dir, dbURL string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	switch {
	case embedded.IsBackup(in):
		if dbURL != "" {
			return fmt.Errorf("%s is a backup of the embedded store; it cannot be restored into PostgreSQL", in)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		return embedded.Restore(ctx, in, filepath.Join(dir, server.DatabaseFile))
	case postgres.IsBackup(f):
		if dbURL == "" {
			return fmt.Errorf("%s is a backup of a PostgreSQL store; give --database-url (or database_url in --config)", in)
		}
		if _, err := f.Seek(0, 0); err != nil {
			return err
		}
		return postgres.Restore(ctx, dbURL, f)
	}
	return fmt.Errorf("%s is not a Trent backup", in)
}
