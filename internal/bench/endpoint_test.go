package bench_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/bench"
	"github.com/trent-kms/trent/internal/server"
)

const (
	tlsAccessKeyID = "AKIABENCHTLS00000001"
	tlsSecret      = "bench-tls-secret-access-key-000000000000"
)

// tlsDeployment is a real trent server serving HTTPS on loopback with a
// certificate signed by a test CA; caFile holds the CA's certificate (PEM).
type tlsDeployment struct {
	url    string
	caFile string
	now    time.Time // server clock when started, for deletion dates
}

// startTLSDeployment writes a test CA and a server certificate it signed for
// 127.0.0.1, and runs trent with them until the test ends.
func startTLSDeployment(t *testing.T) tlsDeployment {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trent bench test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "trent"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(srvKey)
	d := tlsDeployment{caFile: filepath.Join(dir, "ca.pem")}
	write := func(name string, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("ca.pem", "CERTIFICATE", caDER)
	cfg := &server.Config{
		Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
		TLSCert: write("tls.crt", "CERTIFICATE", srvDER), TLSKey: write("tls.key", "PRIVATE KEY", kb),
	}
	cfg.Defaults()
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", tlsAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", tlsSecret)
	d.now = time.Now()
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	d.url = srv.URL()
	if !strings.HasPrefix(d.url, "https://") {
		t.Fatalf("server URL %s is not HTTPS", d.url)
	}
	return d
}

// isolateAWSConfig clears every AWS setting that the developer's machine
// might supply, so only what the test sets is read, and keeps the SDK away
// from the EC2 metadata service (not a loopback address).
func isolateAWSConfig(t *testing.T) {
	home := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// TestEndpointOverTLS measures a TLS deployment the way an operator would
// (`trent bench --endpoint https://...`): the certificate is trusted only
// through AWS_CA_BUNDLE, credentials come from the standard AWS chain, and
// the keys the run created are left pending deletion after 7 days.
func TestEndpointOverTLS(t *testing.T) {
	d := startTLSDeployment(t)
	opts := func() bench.Options {
		return bench.Options{Endpoint: d.url, Ops: []string{"Encrypt", "Sign:ECC_NIST_P256"},
			Concurrency: 1, Duration: 50 * time.Millisecond, PlaintextSize: 16}
	}

	t.Run("untrusted-ca-fails", func(t *testing.T) {
		isolateAWSConfig(t)
		t.Setenv("AWS_ACCESS_KEY_ID", tlsAccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", tlsSecret)
		_, err := bench.Run(context.Background(), opts())
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("without AWS_CA_BUNDLE: %v, want an unknown-authority error", err)
		}
	})

	t.Run("environment", func(t *testing.T) {
		isolateAWSConfig(t)
		t.Setenv("AWS_CA_BUNDLE", d.caFile)
		t.Setenv("AWS_ACCESS_KEY_ID", tlsAccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", tlsSecret)
		t.Setenv("AWS_REGION", "eu-west-1")
		var log strings.Builder
		o := opts()
		o.Log = &log
		created := runAndCheck(t, o, &log)
		checkPendingDeletion(t, d, "eu-west-1", created)
	})

	t.Run("profile", func(t *testing.T) {
		isolateAWSConfig(t)
		// The CA bundle and region come from the profile in the config
		// file, the keys from the shared credentials file.
		cfg := "[profile trent]\nregion = ap-southeast-2\nca_bundle = " + d.caFile + "\n"
		creds := "[default]\naws_access_key_id = AKIAWRONGWRONGWRONG0\naws_secret_access_key = wrong\n\n" +
			"[trent]\naws_access_key_id = " + tlsAccessKeyID + "\naws_secret_access_key = " + tlsSecret + "\n"
		if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), []byte(creds), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_PROFILE", "trent")
		var log strings.Builder
		o := opts()
		o.Log = &log
		created := runAndCheck(t, o, &log)
		checkPendingDeletion(t, d, "ap-southeast-2", created)
	})

	t.Run("interrupted", func(t *testing.T) {
		// Ctrl-C cancels the context mid-measurement; the keys made so
		// far are still scheduled for deletion.
		isolateAWSConfig(t)
		t.Setenv("AWS_CA_BUNDLE", d.caFile)
		t.Setenv("AWS_ACCESS_KEY_ID", tlsAccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", tlsSecret)
		t.Setenv("AWS_REGION", "ca-central-1")
		var log strings.Builder
		o := opts()
		o.Log, o.Duration = &log, time.Minute
		// Cancel once the run's first key exists, i.e. during the
		// (minute-long) Encrypt measurement.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		watcher, err := bench.NewClient(ctx, bench.Options{Endpoint: d.url, Region: "ca-central-1", Concurrency: 1})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for ctx.Err() == nil {
				if lk, err := watcher.ListKeys(ctx, &kms.ListKeysInput{}); err == nil && len(lk.Keys) > 0 {
					cancel()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		if _, err := bench.Run(ctx, o); err == nil {
			t.Fatal("an interrupted run reported success")
		}
		if n := strings.Count(log.String(), "scheduled deletion of key "); n != 1 {
			t.Fatalf("%d keys scheduled for deletion, want the Encrypt key: %q", n, log.String())
		}
		checkPendingDeletion(t, d, "ca-central-1", []string{strings.Fields(log.String())[4]})
	})
}

// runAndCheck runs o, checks that every operation was measured and returns
// the ids of the keys the log says were scheduled for deletion.
func runAndCheck(t *testing.T, o bench.Options, log *strings.Builder) []string {
	t.Helper()
	results, err := bench.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Requests == 0 || r.Errors != 0 {
			t.Errorf("%s: %+v", r.Op, r)
		}
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		f := strings.Fields(line)
		if len(f) != 7 || strings.Join(f[:4], " ") != "scheduled deletion of key" {
			t.Fatalf("log line %q", line)
		}
		ids = append(ids, f[4])
	}
	if len(ids) != 2 {
		t.Fatalf("%d keys scheduled for deletion, want 2 (the Encrypt key and the Sign key): %q", len(ids), log)
	}
	return ids
}

// checkPendingDeletion asks the server, with the SDK and the CA, for every
// key in region: each must be one the run created, pending deletion 7 days
// from now.
func checkPendingDeletion(t *testing.T, d tlsDeployment, region string, created []string) {
	t.Helper()
	o := bench.Options{Endpoint: d.url, Region: region, AccessKeyID: tlsAccessKeyID, SecretAccessKey: tlsSecret, Concurrency: 1}
	c, err := bench.NewClient(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lk, err := c.ListKeys(ctx, &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lk.Keys) != len(created) {
		t.Fatalf("%d keys in %s, want the %d the run created", len(lk.Keys), region, len(created))
	}
	for _, k := range lk.Keys {
		dk, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		m := dk.KeyMetadata
		if m.KeyState != types.KeyStatePendingDeletion {
			t.Errorf("key %s: state %s, want PendingDeletion", *k.KeyId, m.KeyState)
		}
		// DescribeKey gives PendingDeletionWindowInDays only for
		// PendingReplicaDeletion (model), so the window shows in the date.
		const week = 7 * 24 * time.Hour
		if m.DeletionDate == nil || m.DeletionDate.Before(d.now.Add(week-time.Second)) || m.DeletionDate.After(time.Now().Add(week+time.Second)) {
			t.Errorf("key %s: deletion date %v, want 7 days from the run", *k.KeyId, m.DeletionDate)
		}
		found := false
		for _, id := range created {
			found = found || id == *k.KeyId
		}
		if !found {
			t.Errorf("key %s was not reported as scheduled for deletion", *k.KeyId)
		}
	}
}
