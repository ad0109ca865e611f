package server_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/server"
)

var testArgon2 = keystore.Argon2Params{MemoryKiB: 19 << 10, Iterations: 1, Parallelism: 1}

// rootKeyOf reads the root key in dir's root.key, whatever protects it.
func rootKeyOf(t *testing.T, dir string, unlock func(*keystore.RootFile) (*keystore.RootKey, error)) *keystore.RootKey {
	t.Helper()
	f, err := keystore.ReadRootFile(filepath.Join(dir, server.RootKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if unlock == nil {
		unlock = (*keystore.RootFile).Key
	}
	k, err := unlock(f)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startSealed starts a node on dir whose root key file is protected; it
// returns once /healthz answers, with the channels New reports on.
func startSealed(t *testing.T, dir string, clk *testClock, logs *syncBuffer) (string, <-chan *server.Server, <-chan error, context.CancelFunc) {
	t.Helper()
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	addr := freeAddr(t)
	cfg := &server.Config{Listen: addr, DataDir: dir}
	if clk != nil {
		cfg.Now = clk.Now
	}
	cfg.Defaults()
	ctx, cancel := context.WithCancel(context.Background())
	srvc, errc := startAsync(ctx, cfg, logs)
	waitHealthy(t, addr, errc)
	return addr, srvc, errc, cancel
}

// running waits for New to return after an unseal and serves the node
// until the test ends.
func running(t *testing.T, dir string, srvc <-chan *server.Server, errc <-chan error) *node {
	t.Helper()
	var srv *server.Server
	select {
	case srv = <-srvc:
	case err := <-errc:
		t.Fatalf("New: %v", err)
	case <-time.After(2 * time.Minute): // a failsafe, not a timing assertion
		t.Fatal("New did not return after the unseal")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	n := &node{srv: srv, dataDir: dir}
	var once bool
	n.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with: %v", err)
		}
	}
	t.Cleanup(n.stop)
	return n
}

func wantRefusal(t *testing.T, err error, status int, msg string) *server.UnsealRefusal {
	t.Helper()
	var r *server.UnsealRefusal
	if !errors.As(err, &r) || r.Status != status || !strings.Contains(r.Message, msg) {
		t.Fatalf("unseal error = %#v (%v), want status %d containing %q", r, err, status, msg)
	}
	return r
}

// TestSealedNodeWithPassphrase starts a node whose root key file is
// protected by a passphrase: it serves health, says it is not ready
// because it is sealed, refuses KMS calls with a retryable AWS error,
// refuses wrong passphrases and locks out after repeated ones, then
// unseals with the right one and serves.
func TestSealedNodeWithPassphrase(t *testing.T) {
	const pass = "the operator's long passphrase 7f3a"
	dir := privateDir(t)
	if _, err := keystore.OpenFileRoot(filepath.Join(dir, server.RootKeyFile)); err != nil {
		t.Fatal(err)
	}
	if err := keystore.WritePassphraseFile(filepath.Join(dir, server.RootKeyFile), rootKeyOf(t, dir, nil), []byte(pass), testArgon2); err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Now().UTC()}
	var logs syncBuffer
	addr, srvc, errc, cancel := startSealed(t, dir, clk, &logs)
	defer cancel()

	uc := server.NewUnsealClient(dir)
	ctx := context.Background()
	// The socket comes up with the sealed state; wait for it.
	var st server.SealStatus
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err = uc.Status(ctx); err == nil {
			break
		}
	}
	if err != nil || !st.Sealed || st.Protection != "passphrase" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	t.Run("health-while-sealed", func(t *testing.T) {
		if code, body := httpGet("http://" + addr + "/healthz"); code != 200 || body != "ok\n" {
			t.Errorf("/healthz = %d %q", code, body)
		}
		if code, body := httpGet("http://" + addr + "/readyz"); code != 503 || body != "not ready: sealed (run trent operator unseal)\n" {
			t.Errorf("/readyz = %d %q", code, body)
		}
	})
	t.Run("kms-refused-while-sealed", func(t *testing.T) {
		status, _, doc := kmsPost(t, addr, "Encrypt")
		if status != 503 || doc["__type"] != "DependencyTimeoutException" || !strings.Contains(doc["message"], "sealed") {
			t.Errorf("Encrypt = %d %v", status, doc)
		}
		status, _, doc = kmsPost(t, addr, "GenerateMac") // the model lists no DependencyTimeoutException for it
		if status != 500 || doc["__type"] != "KMSInternalException" || !strings.Contains(doc["message"], "sealed") {
			t.Errorf("GenerateMac = %d %v", status, doc)
		}
	})
	t.Run("bad-requests", func(t *testing.T) {
		_, err := uc.Unseal(ctx, server.UnsealRequest{})
		wantRefusal(t, err, 400, "one passphrase or one share")
		_, err = uc.Unseal(ctx, server.UnsealRequest{Share: "trent-share-v1-AAAA"})
		wantRefusal(t, err, 400, "protected by passphrase")
	})
	t.Run("wrong-passphrases-lock-out", func(t *testing.T) {
		for i := 1; i <= 3; i++ {
			_, err := uc.Unseal(ctx, server.UnsealRequest{Passphrase: "wrong passphrase number " + string(rune('0'+i))})
			wantRefusal(t, err, 403, "do not open the root key")
		}
		// The third wrong attempt started a lockout: even the right
		// passphrase is refused unheard until it ends.
		_, err := uc.Unseal(ctx, server.UnsealRequest{Passphrase: pass})
		if r := wantRefusal(t, err, 429, "too many wrong unseal attempts"); r.RetryAfter != time.Second {
			t.Errorf("RetryAfter = %v, want 1s", r.RetryAfter)
		}
		clk.Advance(time.Second)
		_, err = uc.Unseal(ctx, server.UnsealRequest{Passphrase: "yet another wrong one"})
		wantRefusal(t, err, 403, "do not open")
		_, err = uc.Unseal(ctx, server.UnsealRequest{Passphrase: pass})
		if r := wantRefusal(t, err, 429, "too many"); r.RetryAfter != 2*time.Second {
			t.Errorf("RetryAfter = %v, want 2s (doubled)", r.RetryAfter)
		}
		clk.Advance(2 * time.Second)
	})
	st, err = uc.Unseal(ctx, server.UnsealRequest{Passphrase: pass})
	if err != nil || st.Sealed {
		t.Fatalf("Unseal = %+v, %v", st, err)
	}
	n := running(t, dir, srvc, errc)
	c := n.client("us-east-1")
	key := newKey(t, c)
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("after unseal")})
	mustOK(t, "Encrypt", err)
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	mustOK(t, "Decrypt", err)
	if string(dec.Plaintext) != "after unseal" {
		t.Fatalf("Decrypt = %q", dec.Plaintext)
	}
	if code, _ := httpGet("http://" + addr + "/readyz"); code != 200 {
		t.Errorf("/readyz after unseal = %d", code)
	}
	if st, err := uc.Status(ctx); err != nil || st.Sealed {
		t.Errorf("Status after unseal = %+v, %v", st, err)
	}
	_, err = uc.Unseal(ctx, server.UnsealRequest{Passphrase: pass})
	wantRefusal(t, err, 409, "already unsealed")
	if strings.Contains(logs.String(), pass) || strings.Contains(logs.String(), "wrong passphrase number") {
		t.Fatalf("a passphrase reached the logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "unseal attempt refused") {
		t.Errorf("refused attempts not logged:\n%s", logs.String())
	}
}

// TestRekeyKeepsDataReadable writes data under a plain root key file, then
// moves the file to Shamir shares and to a passphrase with the node
// stopped: each time the node starts sealed, unseals, and decrypts the
// ciphertext made before.
func TestRekeyKeepsDataReadable(t *testing.T) {
	n := startNode(t)
	dir := n.dataDir
	c := n.client("us-east-1")
	ctx := context.Background()
	key := newKey(t, c)
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("written before the rekey")})
	mustOK(t, "Encrypt", err)
	n.stop()
	rootPath := filepath.Join(dir, server.RootKeyFile)
	shares, err := keystore.WriteShamirFile(rootPath, rootKeyOf(t, dir, nil), 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	decrypts := func(n *node) {
		t.Helper()
		out, err := n.client("us-east-1").Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		mustOK(t, "Decrypt", err)
		if string(out.Plaintext) != "written before the rekey" {
			t.Fatalf("Decrypt = %q", out.Plaintext)
		}
	}

	t.Run("shares", func(t *testing.T) {
		var logs syncBuffer
		_, srvc, errc, cancel := startSealed(t, dir, nil, &logs)
		defer cancel()
		uc := server.NewUnsealClient(dir)
		var st server.SealStatus
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if st, err = uc.Status(ctx); err == nil {
				break
			}
		}
		if err != nil || st.Protection != "shamir" || st.Threshold != 2 || st.Shares != 3 || st.Progress != 0 {
			t.Fatalf("Status = %+v, %v", st, err)
		}
		st, err = uc.Unseal(ctx, server.UnsealRequest{Share: shares[2].Encode()})
		if err != nil || !st.Sealed || st.Progress != 1 {
			t.Fatalf("first share: %+v, %v", st, err)
		}
		// The same share again does not count twice.
		st, err = uc.Unseal(ctx, server.UnsealRequest{Share: shares[2].Encode()})
		if err != nil || !st.Sealed || st.Progress != 1 {
			t.Fatalf("repeated share: %+v, %v", st, err)
		}
		other, err := keystore.WriteShamirFile(filepath.Join(t.TempDir(), "other.key"), rootKeyOf(t, dir, func(f *keystore.RootFile) (*keystore.RootKey, error) {
			return f.Combine(shares[:2])
		}), 2, 3)
		if err != nil {
			t.Fatal(err)
		}
		_, err = uc.Unseal(ctx, server.UnsealRequest{Share: other[0].Encode()})
		wantRefusal(t, err, 403, "belongs to split")
		st, err = uc.Unseal(ctx, server.UnsealRequest{Share: shares[0].Encode()})
		if err != nil || st.Sealed {
			t.Fatalf("second share: %+v, %v", st, err)
		}
		n := running(t, dir, srvc, errc)
		decrypts(n)
		n.stop()
		for _, s := range shares {
			if strings.Contains(logs.String(), s.Encode()[15:]) {
				t.Fatal("a share reached the logs")
			}
		}
	})

	t.Run("passphrase", func(t *testing.T) {
		const pass = "passphrase after the shares"
		k := rootKeyOf(t, dir, func(f *keystore.RootFile) (*keystore.RootKey, error) { return f.Combine(shares[1:]) })
		if err := keystore.WritePassphraseFile(rootPath, k, []byte(pass), testArgon2); err != nil {
			t.Fatal(err)
		}
		_, srvc, errc, cancel := startSealed(t, dir, nil, &syncBuffer{})
		defer cancel()
		uc := server.NewUnsealClient(dir)
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err = uc.Unseal(ctx, server.UnsealRequest{Passphrase: pass}); err == nil {
				break
			}
		}
		mustOK(t, "Unseal", err)
		decrypts(running(t, dir, srvc, errc))
	})
}

// TestUnsealRefusesAnotherRootKey protects a different root key with the
// right passphrase: it opens, but its check value is not the one the
// store recorded, so the node stays sealed.
func TestUnsealRefusesAnotherRootKey(t *testing.T) {
	n := startNode(t)
	dir := n.dataDir
	n.stop()
	other, err := keystore.GenerateRootKey()
	if err != nil {
		t.Fatal(err)
	}
	const pass = "a passphrase for the wrong key"
	if err := keystore.WritePassphraseFile(filepath.Join(dir, server.RootKeyFile), other, []byte(pass), testArgon2); err != nil {
		t.Fatal(err)
	}
	addr, _, errc, cancel := startSealed(t, dir, nil, &syncBuffer{})
	uc := server.NewUnsealClient(dir)
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err = uc.Unseal(ctx, server.UnsealRequest{Passphrase: pass}); err != nil && !strings.Contains(err.Error(), "connect") {
			break
		}
	}
	wantRefusal(t, err, 403, "not the one the database")
	if code, body := httpGet("http://" + addr + "/readyz"); code != 503 || !bytes.Contains([]byte(body), []byte("sealed")) {
		t.Errorf("/readyz = %d %q, want still sealed", code, body)
	}
	cancel()
	select {
	case err := <-errc:
		if !strings.Contains(err.Error(), "stopped while sealed") {
			t.Errorf("New = %v", err)
		}
	case <-time.After(2 * time.Minute): // failsafe
		t.Fatal("New did not stop")
	}
}
