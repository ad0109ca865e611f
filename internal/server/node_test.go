package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
)

// TestNoSecretsOnDisk creates keys, data keys and ciphertexts, then scans
// every file in the data directory for the raw key material (raw, hex and
// base64), the secret access key, plaintexts and data keys. None may
// appear: material is sealed under the root key, and plaintext is never
// stored.
func TestNoSecretsOnDisk(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	var secrets [][]byte
	plaintext := []byte("the plaintext that must never reach the disk")
	secrets = append(secrets, plaintext, []byte(testSecret))
	var keyIDs []string
	for range 3 {
		ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		keyIDs = append(keyIDs, *ck.KeyMetadata.KeyId)
		if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: ck.KeyMetadata.KeyId, Plaintext: plaintext}); err != nil {
			t.Fatal(err)
		}
		dk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: ck.KeyMetadata.KeyId, KeySpec: types.DataKeySpecAes256})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, dk.Plaintext)
	}
	// Private keys of asymmetric and HMAC keys, and of data key pairs.
	for _, spec := range []types.KeySpec{types.KeySpecRsa2048, types.KeySpecEccNistP256, types.KeySpecHmac256, types.KeySpec("ML_DSA_44")} {
		usage := types.KeyUsageTypeSignVerify
		if spec == types.KeySpecHmac256 {
			usage = types.KeyUsageTypeGenerateVerifyMac
		}
		ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
		if err != nil {
			t.Fatal(err)
		}
		keyIDs = append(keyIDs, *ck.KeyMetadata.KeyId)
	}
	pair, err := c.GenerateDataKeyPair(ctx, &kms.GenerateDataKeyPairInput{KeyId: &keyIDs[0], KeyPairSpec: types.DataKeyPairSpecEccNistP256})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, pair.PrivateKeyPlaintext)
	n.stop()

	// Recover the raw material with the root key, as only the server can.
	root, err := keystore.OpenFileRoot(filepath.Join(n.dataDir, server.RootKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	db, err := embedded.Open(filepath.Join(n.dataDir, server.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range keyIDs {
		k, err := db.GetKey(ctx, store.KeyRef{Region: "us-east-1", KeyID: id})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range k.Materials {
			raw, err := root.Open(m.Sealed, keystore.MaterialAAD("arn:aws:kms:us-east-1:111122223333:key/"+id, m.ID))
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) < 32 {
				t.Fatalf("material is %d bytes", len(raw))
			}
			secrets = append(secrets, raw)
		}
	}
	db.Close()

	var forms [][]byte
	for _, s := range secrets {
		forms = append(forms, s, []byte(hex.EncodeToString(s)), []byte(strings.ToUpper(hex.EncodeToString(s))),
			[]byte(base64.StdEncoding.EncodeToString(s)), []byte(base64.RawURLEncoding.EncodeToString(s)))
	}
	scanned := 0
	filepath.WalkDir(n.dataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		scanned++
		for i, f := range forms {
			if bytes.Contains(b, f) {
				t.Errorf("%s contains secret %d (form %d)", filepath.Base(path), i/5, i%5)
			}
		}
		return nil
	})
	if scanned < 2 {
		t.Fatalf("scanned only %d files", scanned)
	}
}

// TestRestartKeepsEverything restarts a node on the same data directory:
// generated credentials, keys, aliases and ciphertexts all survive.
func TestRestartKeepsEverything(t *testing.T) {
	dir := privateDir(t)
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", "")
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", "")
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir}
	cfg.Defaults()
	var banner bytes.Buffer
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(context.Background(), cfg, log, &banner)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+)\s+AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(banner.String())
	if m == nil {
		t.Fatalf("no credentials printed at first start: %q", banner.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	c := sdkClient(srv.URL(), m[1], m[2], nil)
	ck, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("survivor")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String("alias/survivor"), TargetKeyId: ck.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encrypt(context.Background(), &kms.EncryptInput{KeyId: aws.String("alias/survivor"), Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	banner.Reset()
	srv, err = server.New(context.Background(), cfg, log, &banner)
	if err != nil {
		t.Fatal(err)
	}
	if banner.Len() != 0 {
		t.Fatalf("credentials printed again on restart: %q", banner.String())
	}
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c = sdkClient(srv.URL(), m[1], m[2], nil)
	dec, err := c.Decrypt(context.Background(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil {
		t.Fatal(err)
	}
	if string(dec.Plaintext) != "x" {
		t.Fatalf("plaintext %q", dec.Plaintext)
	}
	d, err := c.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String("alias/survivor")})
	if err != nil || *d.KeyMetadata.Description != "survivor" {
		t.Fatalf("describe after restart: %v", err)
	}
}

func sdkClient(url, akid, secret string, hc *http.Client) *kms.Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return kms.New(kms.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), HTTPClient: hc,
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
	})
}

// TestKill9KeepsAcknowledgedKeys runs the real binary's server code in a
// child process, creates keys through the SDK, kills the child with
// SIGKILL and restarts: every key CreateKey acknowledged is there.
func TestKill9KeepsAcknowledgedKeys(t *testing.T) {
	if os.Getenv("TRENT_TEST_CHILD_SERVER") != "" {
		return // the child is started by TestMain
	}
	dir := privateDir(t)
	addr := freeAddr(t)
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "TRENT_TEST_CHILD_SERVER="+dir+"|"+addr,
			"TRENT_ROOT_ACCESS_KEY_ID="+testAccessKeyID, "TRENT_ROOT_SECRET_ACCESS_KEY="+testSecret)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitListening(t, addr)
		return cmd
	}
	cmd := child()
	c := sdkClient("http://"+addr, testAccessKeyID, testSecret, nil)
	var ids []string
	var blobs [][]byte
	for i := range 5 {
		ck, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String(fmt.Sprint("k", i))})
		if err != nil {
			t.Fatal(err)
		}
		enc, err := c.Encrypt(context.Background(), &kms.EncryptInput{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids, blobs = append(ids, *ck.KeyMetadata.KeyId), append(blobs, enc.CiphertextBlob)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	cmd = child()
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	c = sdkClient("http://"+addr, testAccessKeyID, testSecret, nil)
	for i, id := range ids {
		d, err := c.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(id)})
		if err != nil {
			t.Fatalf("key %d lost after kill -9: %v", i, err)
		}
		if *d.KeyMetadata.Description != fmt.Sprint("k", i) {
			t.Fatalf("key %d description %q", i, *d.KeyMetadata.Description)
		}
		dec, err := c.Decrypt(context.Background(), &kms.DecryptInput{CiphertextBlob: blobs[i]})
		if err != nil || !bytes.Equal(dec.Plaintext, []byte{byte(i)}) {
			t.Fatalf("decrypt %d after kill -9: %v", i, err)
		}
	}
}

// TestMain lets the test binary act as a server process for the kill -9 test.
func TestMain(m *testing.M) {
	if spec := os.Getenv("TRENT_TEST_CHILD_SERVER"); spec != "" {
		dir, addr, _ := strings.Cut(spec, "|")
		cfg := &server.Config{Listen: addr, DataDir: dir, LogLevel: "error"}
		cfg.Defaults()
		srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})), io.Discard)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ctx, stop := signalContext()
		defer stop()
		if err := srv.Run(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	for _, f := range afterTests {
		f()
	}
	os.Exit(code)
}

// afterTests run when every test has finished (the SoftHSM token
// directory's removal, softhsm_test.go).
var afterTests []func()

func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signalNotify(ch)
	go func() { <-ch; cancel() }()
	return ctx, cancel
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitListening waits until the server at addr says it is ready.
func waitListening(t *testing.T, addr string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server at %s did not become ready", addr)
}

// TestTLS serves HTTPS with a certificate and talks to it with the SDK.
func TestTLS(t *testing.T) {
	dir := privateDir(t)
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), TLSCert: certFile, TLSKey: keyFile}
	cfg.Defaults()
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL %s", srv.URL())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c := sdkClient(srv.URL(), testAccessKeyID, testSecret, hc)
	ck, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("a"), 4096) // bodies over 4 KiB, which plain HTTP makes flaky in the SDK
	enc, err := c.Encrypt(context.Background(), &kms.EncryptInput{KeyId: ck.KeyMetadata.KeyId, Plaintext: big})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := c.Decrypt(context.Background(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || !bytes.Equal(dec.Plaintext, big) {
		t.Fatalf("decrypt over TLS: %v", err)
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trent test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
}

// TestGracefulShutdown checks that a request in flight when shutdown
// starts still gets its answer.
func TestGracefulShutdown(t *testing.T) {
	n := startNode(t)
	c := n.client("us-east-1")
	ck, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	// Open a connection and send half a request, so it is in flight.
	conn, err := net.Dial("tcp", n.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"KeyId":"` + *ck.KeyMetadata.KeyId + `","Plaintext":"aGk="}`
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: TrentService.Encrypt\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: %d\r\n\r\n", n.srv.Addr(), len(body))
	time.Sleep(100 * time.Millisecond) // let the server start reading the request
	stopped := make(chan struct{})
	go func() { n.stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("server stopped while a request was in flight")
	case <-time.After(200 * time.Millisecond):
	}
	io.WriteString(conn, body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The request is unsigned, so the answer is an auth error: what
	// matters is that it was answered, and that shutdown then completed.
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("in-flight request got %s", resp.Status)
	}
	<-stopped
}

// TestRefusesInsecureNonLoopback checks the TLS guard on listen addresses.
func TestRefusesInsecureNonLoopback(t *testing.T) {
	cfg := &server.Config{Listen: "0.0.0.0:8400"}
	cfg.Defaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("Validate() = %v, want the loopback error", err)
	}
	cfg.AllowInsecureListen = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg = &server.Config{Listen: "[::1]:8400"}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
