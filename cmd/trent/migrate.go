package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/store/postgres"
)

// migrateSample bounds how many keys and access keys the verification
// decrypts.
const migrateSample = 20

// migrateCmd runs `trent migrate --from DATA_DIR --to URL`: it copies an
// embedded deployment into an empty PostgreSQL schema, then verifies the
// copy: every record of every table compared, and a sample of key
// material and access key secrets opened with the root key.
func migrateCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("trent migrate", flag.ContinueOnError)
	from := fs.String("from", "", "data directory of the embedded deployment (stop its server first)")
	to := fs.String("to", "", "PostgreSQL URL of an empty database or schema, e.g. postgres://trent@db/trent?search_path=trent")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from == "" || *to == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: trent migrate --from DATA_DIR --to postgres://...")
		return 2
	}
	if err := migrateStore(ctx, os.Stderr, *from, *to); err != nil {
		fmt.Fprintln(os.Stderr, "trent migrate:", err)
		return 1
	}
	return 0
}

func migrateStore(ctx context.Context, out io.Writer, dir, dbURL string) error {
	path := filepath.Join(dir, server.DatabaseFile)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no embedded store to migrate: %w", err)
	}
	src, err := embedded.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer dst.Close()
	counts, err := store.Copy(ctx, dst, src)
	if errors.Is(err, store.ErrTargetNotEmpty) {
		return errors.New("the target database already holds Trent data; migrate into an empty database or schema")
	}
	if err != nil {
		return fmt.Errorf("copy (the target now holds part of the data: drop its tables or schema before trying again): %w", err)
	}
	for _, kind := range slices.Sorted(func(yield func(string) bool) {
		for k := range counts {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(out, "copied %d %s\n", counts[kind], kind)
	}
	if err := store.Compare(ctx, src, dst); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	fmt.Fprintln(out, "verified: every record of every table is the same in both stores")
	return verifySealed(ctx, out, dir, dst)
}

// verifySealed opens a sample of the copied key material and access key
// secrets with the deployment's root key, as the servers will.
func verifySealed(ctx context.Context, out io.Writer, dir string, dst store.Store) error {
	root, err := keystore.LoadFileRoot(filepath.Join(dir, server.RootKeyFile))
	if errors.Is(err, keystore.ErrProtected) {
		fmt.Fprintln(out, "root.key is protected: no sample decrypted; start a node on the database to check the root key")
		return nil
	}
	if err != nil {
		return fmt.Errorf("verify: load the root key: %w", err)
	}
	svc, err := kms.New(kms.Config{Store: dst, Root: root, Rand: rand.Reader})
	if err != nil {
		return err
	}
	accts, err := dst.ListAccounts(ctx)
	if err != nil {
		return err
	}
	regions, err := dst.(store.Inventory).KeyRegions(ctx)
	if err != nil {
		return err
	}
	materials, secrets := 0, 0
	for _, a := range accts {
		aks, err := dst.ListAccessKeys(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, ak := range aks {
			if secrets == migrateSample {
				break
			}
			if _, err := svc.Identity(ctx, ak.ID); err != nil {
				return fmt.Errorf("verify: access key %s does not open with the root key: %w", ak.ID, err)
			}
			secrets++
		}
		for _, region := range regions {
			refs, err := dst.ListKeys(ctx, region, a.ID, "", migrateSample)
			if err != nil {
				return err
			}
			for _, ref := range refs {
				k, err := dst.GetKey(ctx, ref)
				if err != nil {
					return err
				}
				arn := kms.KeyARN(k.Region, k.AccountID, k.KeyID)
				for _, m := range k.Materials {
					raw, err := root.Open(m.Sealed, keystore.MaterialAAD(arn, m.ID))
					if err != nil {
						return fmt.Errorf("verify: material %s of %s does not open with the root key: %w", m.ID, arn, err)
					}
					clear(raw)
					materials++
				}
			}
		}
	}
	fmt.Fprintf(out, "verified: %d key materials and %d access key secrets open with the root key\n", materials, secrets)
	return nil
}
