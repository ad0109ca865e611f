package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/store/postgres"
)

type sealedMsg struct {
	blob []byte
	ctx  map[string]string
	pt   string
}

// backupDrill creates keys and ciphertexts on n, takes a backup with
// backup while other clients keep creating keys and encrypting, then
// restores it with restore into a new data directory holding a copy of
// root.key, starts a node there with start, and decrypts every ciphertext
// made before the backup. Writes made during the backup must all succeed:
// the backup does not stop the server.
func backupDrill(t *testing.T, n *node, embeddedStore bool, backup func() error, restore func(dir string) error, start func(dir string) *node) {
	t.Helper()
	ctx := context.Background()
	c := n.client("us-east-1")
	var msgs []sealedMsg
	for k := 0; k < 3; k++ {
		key := newKey(t, c)
		for i := 0; i < 5; i++ {
			m := sealedMsg{ctx: map[string]string{"n": fmt.Sprint(k, i)}, pt: fmt.Sprintf("message %d/%d", k, i)}
			out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte(m.pt), EncryptionContext: m.ctx})
			mustOK(t, "Encrypt", err)
			m.blob = out.CiphertextBlob
			msgs = append(msgs, m)
		}
	}

	// Load: two clients create keys and encrypt until the backup is done
	// (bounded in count, not time).
	stop := make(chan struct{})
	var ops atomic.Int64
	started := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				select {
				case <-stop:
					return
				default:
				}
				out, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
				if err == nil {
					_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: out.KeyMetadata.KeyId, Plaintext: []byte("load")})
				}
				if err != nil {
					errs <- err
					return
				}
				ops.Add(1)
				once.Do(func() { close(started) })
			}
		}()
	}
	<-started
	berr := backup()
	close(stop)
	wg.Wait()
	close(errs)
	mustOK(t, "backup under load", berr)
	for err := range errs {
		t.Fatalf("a write during the backup failed: %v", err)
	}
	t.Logf("%d writes ran beside the backup", ops.Load())
	n.stop()

	if embeddedStore {
		// The backup holds no root key: a restored data directory without
		// root.key is refused at start, and no new root key is made for it.
		dir := privateDir(t)
		mustOK(t, "restore", restore(dir))
		cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir}
		cfg.Defaults()
		_, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "is missing") {
			t.Fatalf("New without root.key = %v, want the missing root key refused", err)
		}
	}

	dir := privateDir(t)
	root, err := os.ReadFile(filepath.Join(n.dataDir, server.RootKeyFile))
	mustOK(t, "read root.key", err)
	mustOK(t, "copy root.key", os.WriteFile(filepath.Join(dir, server.RootKeyFile), root, 0o600))
	mustOK(t, "restore", restore(dir))
	r := start(dir)
	rc := r.client("us-east-1")
	for _, m := range msgs {
		out, err := rc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: m.blob, EncryptionContext: m.ctx})
		mustOK(t, "Decrypt after restore", err)
		if string(out.Plaintext) != m.pt {
			t.Fatalf("Decrypt = %q, want %q", out.Plaintext, m.pt)
		}
	}
	keys, err := rc.ListKeys(ctx, &kms.ListKeysInput{})
	mustOK(t, "ListKeys", err)
	if len(keys.Keys) < 3 {
		t.Fatalf("%d keys after restore, want at least 3", len(keys.Keys))
	}
	// The restored node writes too.
	key := newKey(t, rc)
	_, err = rc.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("after restore")})
	mustOK(t, "Encrypt after restore", err)
}

func TestBackupRestoreEmbedded(t *testing.T) {
	n := startNode(t)
	out := filepath.Join(t.TempDir(), "trent.backup")
	backupDrill(t, n, true,
		func() error {
			return embedded.Backup(context.Background(), filepath.Join(n.dataDir, server.DatabaseFile), out)
		},
		func(dir string) error {
			return embedded.Restore(context.Background(), out, filepath.Join(dir, server.DatabaseFile))
		},
		func(dir string) *node { return startNodeIn(t, dir) })

	t.Run("refuses-non-empty-target", func(t *testing.T) {
		err := embedded.Restore(context.Background(), out, filepath.Join(n.dataDir, server.DatabaseFile))
		if !errors.Is(err, embedded.ErrNotEmpty) {
			t.Fatalf("Restore over a database = %v, want ErrNotEmpty", err)
		}
	})
	t.Run("refuses-existing-backup-file", func(t *testing.T) {
		before, _ := os.ReadFile(out)
		if err := embedded.Backup(context.Background(), filepath.Join(n.dataDir, server.DatabaseFile), out); err == nil {
			t.Fatal("Backup overwrote a file")
		}
		after, _ := os.ReadFile(out)
		if !bytes.Equal(before, after) {
			t.Fatal("the existing file changed")
		}
	})
	t.Run("refuses-damaged-backup", func(t *testing.T) {
		b, _ := os.ReadFile(out)
		b = b[:len(b)/2]
		bad := filepath.Join(t.TempDir(), "bad")
		os.WriteFile(bad, b, 0o600)
		target := filepath.Join(privateDir(t), server.DatabaseFile)
		if err := embedded.Restore(context.Background(), bad, target); err == nil {
			t.Fatal("a truncated backup restored")
		}
		if _, err := os.Stat(target); err == nil {
			t.Fatal("a failed restore left a database behind")
		}
	})
}

func TestBackupRestorePostgres(t *testing.T) {
	src, dst := postgresURL(t), postgresURL(t)
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	n := startNodeIn(t, privateDir(t), func(c *server.Config) { c.DatabaseURL = src })
	var buf bytes.Buffer
	backupDrill(t, n, false,
		func() error { return postgres.Backup(context.Background(), src, &buf) },
		func(dir string) error {
			return postgres.Restore(context.Background(), dst, bytes.NewReader(buf.Bytes()))
		},
		func(dir string) *node { return startNodeIn(t, dir, func(c *server.Config) { c.DatabaseURL = dst }) })

	t.Run("key-counts-rebuilt", func(t *testing.T) {
		// The customer key count the quota reads is derived: the restored
		// schema counts exactly the keys it holds.
		ctx := context.Background()
		c, err := pgx.Connect(ctx, dst)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var want int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM keys WHERE region = 'us-east-1' AND account_id = '111122223333'
			AND coalesce(doc->>'KeyManager', '') <> 'AWS'`).Scan(&want); err != nil {
			t.Fatal(err)
		}
		db, err := postgres.Open(ctx, dst)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got, err := db.CountKeys(ctx, "us-east-1", "111122223333"); err != nil || got != want || want == 0 {
			t.Fatalf("restored CountKeys = %d, %v; the restored schema holds %d customer keys", got, err, want)
		}
	})

	t.Run("refuses-non-empty-target", func(t *testing.T) {
		err := postgres.Restore(context.Background(), dst, bytes.NewReader(buf.Bytes()))
		if !errors.Is(err, postgres.ErrNotEmpty) {
			t.Fatalf("Restore into a schema with data = %v, want ErrNotEmpty", err)
		}
	})
	t.Run("refuses-damaged-backup", func(t *testing.T) {
		b := bytes.Clone(buf.Bytes())
		b[len(b)/2] ^= 1
		fresh := postgresURL(t)
		if err := postgres.Restore(context.Background(), fresh, bytes.NewReader(b)); err == nil || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("Restore of a damaged backup = %v, want a checksum error", err)
		}
		if err := postgres.Restore(context.Background(), fresh, bytes.NewReader(b[:len(b)-10])); err == nil {
			t.Fatal("a truncated backup restored")
		}
	})
}
