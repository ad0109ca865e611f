package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/trent-kms/trent/internal/api"
	"github.com/trent-kms/trent/internal/bench"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/wire"
)

const (
	akid   = "AKIAAPITESTKEY000001"
	secret = "api-test-secret-access-key-00000000000000"
)

// newHandler returns a handler over a fresh embedded store, and a key id.
func newHandler(t testing.TB) (*api.Handler, string) {
	e := newEnv(t, nil)
	return e.h, e.keyID
}

// env is a handler with the parts behind it.
type env struct {
	h     *api.Handler
	keyID string
	svc   *kms.Service
	db    *embedded.DB
}

// base is what every handler test builds on: a service over a fresh
// embedded store in a temporary directory, with the default account and
// the test access key.
type base struct {
	dir  string
	root *keystore.FileRoot
	db   *embedded.DB
	svc  *kms.Service
}

// newBase makes a base; cfg may set the service's other options (its
// store, root, randomness and, if unset, clock are the base's).
func newBase(t testing.TB, cfg kms.Config) base {
	dir := t.TempDir()
	root, err := keystore.OpenFileRoot(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := embedded.Open(filepath.Join(dir, "trent.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg.Store, cfg.Root, cfg.Rand = db, root, rand.Reader
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	svc, err := kms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(context.Background(), kms.DefaultAccountID, akid, secret); err != nil {
		t.Fatal(err)
	}
	return base{dir: dir, root: root, db: db, svc: svc}
}

// newEnv is newHandler with a logger, returning the parts.
func newEnv(t testing.TB, log *slog.Logger) env {
	b := newBase(t, kms.Config{})
	svc, db, ctx := b.svc, b.db, context.Background()
	c := &kms.Caller{AccountID: kms.DefaultAccountID, Region: "us-east-1",
		Identity: policy.Principal{Type: policy.PrincipalAccount, Account: kms.DefaultAccountID}}
	ck, err := svc.CreateKey(ctx, c, &wire.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return env{h: api.NewHandler(api.Config{Service: svc, Logger: log}), keyID: *ck.KeyMetadata.KeyId, svc: svc, db: db}
}

// signed returns a request for the operation signed with the test key.
func signed(t testing.TB, op, body string) *http.Request {
	return signedAs(t, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, "us-east-1", op, body)
}

// signedWithType is signed with the given Content-Type ("" for none).
func signedWithType(t testing.TB, op, body, contentType string) *http.Request {
	return signedAsWithType(t, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, "us-east-1", op, body, contentType)
}

// signedAs returns a request for the operation signed with creds for region.
func signedAs(t testing.TB, creds aws.Credentials, region, op, body string) *http.Request {
	return signedAsWithType(t, creds, region, op, body, "application/x-amz-json-1.1")
}

// signedAsWithType is signedAs with the given Content-Type ("" for none).
func signedAsWithType(t testing.TB, creds aws.Credentials, region, op, body, contentType string) *http.Request {
	return signedTarget(t, creds, region, "TrentService."+op, body, contentType)
}

// signedTarget returns a request with the X-Amz-Target target, signed
// with creds for region.
func signedTarget(t testing.TB, creds aws.Credentials, region, target, body, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8400/", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "kms", region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEncryptDecryptThroughHandler(t *testing.T) {
	h, keyID := newHandler(t)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signed(t, "Encrypt", `{"KeyId":"`+keyID+`","Plaintext":"aGVsbG8="}`))
	if w.Code != http.StatusOK || w.Header().Get("x-amzn-RequestId") == "" {
		t.Fatalf("Encrypt: %d %s", w.Code, w.Body)
	}
	var enc struct{ CiphertextBlob []byte }
	if err := json.Unmarshal(w.Body.Bytes(), &enc); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"CiphertextBlob": enc.CiphertextBlob})
	w = httptest.NewRecorder()
	h.ServeHTTP(w, signed(t, "Decrypt", string(body)))
	if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"Plaintext":"aGVsbG8="`)) {
		t.Fatalf("Decrypt: %d %s", w.Code, w.Body)
	}
}

// BenchmarkHandler measures the server's cost of one request, without the
// network and the client: SigV4 verification, JSON, key lookup, the
// cryptography and the response.
func BenchmarkHandler(b *testing.B) {
	h, keyID := newHandler(b)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signed(b, "Encrypt", `{"KeyId":"`+keyID+`","Plaintext":"aGVsbG8="}`))
	var enc struct{ CiphertextBlob []byte }
	json.Unmarshal(w.Body.Bytes(), &enc)
	decBody, _ := json.Marshal(map[string]any{"CiphertextBlob": enc.CiphertextBlob, "EncryptionContext": map[string]string{}})
	cases := []struct{ op, body string }{
		{"Encrypt", `{"KeyId":"` + keyID + `","Plaintext":"` + strings.Repeat("A", 44) + `","EncryptionContext":{"purpose":"bench"}}`},
		{"Decrypt", string(decBody)},
		{"GenerateDataKey", `{"KeyId":"` + keyID + `","KeySpec":"AES_256","EncryptionContext":{"purpose":"bench"}}`},
	}
	run := func(b *testing.B, h http.Handler, op, body string) {
		req := signed(b, op, body)
		b.ReportAllocs()
		cpu0 := processCPU()
		for b.Loop() {
			r := req.Clone(context.Background())
			r.Body = ioNopCloser(body)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("%s: %d %s", op, w.Code, w.Body)
			}
		}
		// The process's CPU time per request: on a machine shared with
		// other work it varies far less than wall time.
		if cpu := processCPU() - cpu0; cpu > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(b.N), "cpu-µs/op")
		}
	}
	for _, tc := range cases {
		b.Run(tc.op, func(b *testing.B) { run(b, h, tc.op, tc.body) })
	}
	// The floor (bench.Baseline: JSON parse and one AES-GCM seal) through
	// the same harness, so that Trent's CPU per request can be stated as a
	// ratio to it measured in one run.
	b.Run("Floor", func(b *testing.B) { run(b, bench.Baseline(), "Encrypt", cases[0].body) })
}
