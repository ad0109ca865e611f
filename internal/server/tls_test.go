package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/server"
)

// lockedBuffer is a bytes.Buffer safe for the server's concurrent logging.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startConfigured starts a server with cfg (after Defaults), logging to
// log, and stops it when the test ends.
func startConfigured(t *testing.T, cfg *server.Config, log io.Writer, out io.Writer) *server.Server {
	t.Helper()
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(log, nil)), out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with: %v", err)
		}
	})
	return srv
}

// testCert returns a self-signed certificate for 127.0.0.1 with the common
// name cn and key, as PEM, and the parsed certificate.
func testCert(t *testing.T, cn string, key crypto.Signer) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), cert
}

func ecKey(t *testing.T) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeFiles writes each path/content pair with mode 0600, replacing the
// file by a rename as certificate tooling does.
func writeFiles(t *testing.T, files map[string][]byte) {
	t.Helper()
	for path, b := range files {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
}

// startTLS starts a TLS server whose certificate files are in a temporary
// directory, with the given certificate and key.
func startTLS(t *testing.T, certPEM, keyPEM []byte, log io.Writer) (srv *server.Server, certFile, keyFile string) {
	t.Helper()
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFiles(t, map[string][]byte{certFile: certPEM, keyFile: keyPEM})
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), TLSCert: certFile, TLSKey: keyFile}
	cfg.Defaults()
	return startConfigured(t, cfg, log, io.Discard), certFile, keyFile
}

// TestTLSCipherSuites checks that under TLS 1.2 only ECDHE key exchange
// with an AEAD is negotiated, and that TLS 1.3 is preferred.
func TestTLSCipherSuites(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, cert := testCert(t, "trent rsa", rsaKey)
	srv, _, _ := startTLS(t, certPEM, keyPEM, io.Discard)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	dial := func(cfg *tls.Config) (tls.ConnectionState, error) {
		cfg.RootCAs = roots
		conn, err := tls.Dial("tcp", srv.Addr().String(), cfg)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer conn.Close()
		return conn.ConnectionState(), nil
	}
	for _, c := range []struct {
		name  string
		suite uint16
		ok    bool
	}{
		{"refused/ecdhe-cbc-sha", tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false},
		{"refused/ecdhe-cbc-sha256", tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, false},
		{"refused/ecdhe-aes256-cbc-sha", tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, false},
		{"refused/rsa-kex-gcm", tls.TLS_RSA_WITH_AES_128_GCM_SHA256, false},
		{"refused/rsa-kex-cbc", tls.TLS_RSA_WITH_AES_128_CBC_SHA, false},
		{"refused/3des", tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, false},
		{"accepted/ecdhe-aes128-gcm", tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, true},
		{"accepted/ecdhe-aes256-gcm", tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, true},
		{"accepted/ecdhe-chacha20", tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{c.suite}})
			if c.ok {
				if err != nil {
					t.Fatalf("handshake with %s: %v", tls.CipherSuiteName(c.suite), err)
				}
				if st.Version != tls.VersionTLS12 || st.CipherSuite != c.suite {
					t.Fatalf("negotiated %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				}
				return
			}
			if err == nil {
				t.Fatalf("a TLS 1.2 client offering only %s was served (%s)", tls.CipherSuiteName(c.suite), tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}
	t.Run("tls1.3-preferred", func(t *testing.T) {
		st, err := dial(&tls.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Version != tls.VersionTLS13 {
			t.Fatalf("negotiated %s, want TLS 1.3", tls.VersionName(st.Version))
		}
	})
	t.Run("refused/tls1.1", func(t *testing.T) {
		if _, err := dial(&tls.Config{MaxVersion: tls.VersionTLS11}); err == nil {
			t.Fatal("a TLS 1.1 client was served")
		}
	})
}

// roundTrip sends one HTTP/1.1 request on conn and reads the answer,
// keeping the connection open.
func roundTrip(t *testing.T, conn net.Conn, r *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequest("POST", "https://"+conn.RemoteAddr().String()+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server closed the connection")
	}
}

// TestTLSReload rotates the certificate while a connection is open: new
// handshakes present the new certificate, the open connection keeps
// working, and files that do not load leave the current certificate in use.
func TestTLSReload(t *testing.T) {
	cert1PEM, key1PEM, cert1 := testCert(t, "trent one", ecKey(t))
	cert2PEM, key2PEM, cert2 := testCert(t, "trent two", ecKey(t))
	var log lockedBuffer
	srv, certFile, keyFile := startTLS(t, cert1PEM, key1PEM, &log)
	roots := x509.NewCertPool()
	roots.AddCert(cert1)
	roots.AddCert(cert2)
	handshake := func() *tls.Conn {
		t.Helper()
		conn, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	presents := func(conn *tls.Conn, want *x509.Certificate) {
		t.Helper()
		if got := conn.ConnectionState().PeerCertificates[0]; !got.Equal(want) {
			t.Fatalf("server presented %q, want %q", got.Subject.CommonName, want.Subject.CommonName)
		}
	}

	old := handshake()
	oldR := bufio.NewReader(old)
	presents(old, cert1)
	roundTrip(t, old, oldR)

	writeFiles(t, map[string][]byte{certFile: cert2PEM, keyFile: key2PEM})
	if err := srv.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, old, oldR) // the connection opened before the reload still works
	presents(handshake(), cert2)
	if !strings.Contains(log.String(), "reloaded TLS certificate") {
		t.Errorf("no log line for the reload:\n%s", log.String())
	}

	t.Run("bad-files-keep-current", func(t *testing.T) {
		for name, files := range map[string]map[string][]byte{
			"garbage":      {certFile: []byte("not a certificate"), keyFile: key2PEM},
			"key-mismatch": {certFile: cert1PEM, keyFile: key2PEM},
		} {
			writeFiles(t, files)
			err := srv.ReloadTLS()
			if err == nil {
				t.Fatalf("%s: reload succeeded", name)
			}
			presents(handshake(), cert2)
		}
		if !strings.Contains(log.String(), "level=ERROR msg=\"TLS certificate not reloaded; keeping the current one\"") {
			t.Errorf("no error logged for the failed reload:\n%s", log.String())
		}
		roundTrip(t, old, oldR)
	})
}

// TestReloadTLSWithoutTLS reports that there is nothing to reload.
func TestReloadTLSWithoutTLS(t *testing.T) {
	n := startNode(t)
	if err := n.srv.ReloadTLS(); !errors.Is(err, server.ErrNoTLS) {
		t.Fatalf("ReloadTLS = %v, want ErrNoTLS", err)
	}
}
