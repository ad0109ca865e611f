package bench_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/bench"
	"github.com/trent-kms/trent/internal/server"
)

// TestRunMeasures runs a short measurement against a real server in this
// process and checks that every operation was measured without errors,
// including the server-CPU reading from /proc.
func TestRunMeasures(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", "AKIABENCHTEST0000001")
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", "bench-test-secret-access-key-0000000000")
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data")} // created 0700
	cfg.Defaults()
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	results, err := bench.Run(context.Background(), bench.Options{
		Endpoint: srv.URL(), Region: "us-east-1",
		AccessKeyID: "AKIABENCHTEST0000001", SecretAccessKey: "bench-test-secret-access-key-0000000000",
		Ops:         []string{"Encrypt", "Decrypt", "GenerateDataKey", "Sign:ECC_NIST_P256"},
		Concurrency: 2, Duration: 200 * time.Millisecond, PlaintextSize: 32, ServerPID: os.Getpid(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 {
		t.Fatalf("%d results", len(results))
	}
	for _, r := range results {
		if r.Requests == 0 || r.Errors != 0 || r.P50 <= 0 || r.P99 < r.P50 || r.ServerCPU <= 0 {
			t.Errorf("%s: %+v", r.Op, r)
		}
		if !strings.Contains(r.String(), "ops/s") {
			t.Errorf("report line %q", r)
		}
	}
	if _, err := bench.Run(context.Background(), bench.Options{Endpoint: srv.URL(), Region: "us-east-1",
		AccessKeyID: "AKIABENCHTEST0000001", SecretAccessKey: "bench-test-secret-access-key-0000000000",
		Ops: []string{"Frobnicate"}, Concurrency: 1, Duration: time.Millisecond}); err == nil {
		t.Error("an unknown operation was accepted")
	}
}

func TestBaselineAnswersEncrypt(t *testing.T) {
	ts := httptest.NewServer(bench.Baseline())
	defer ts.Close()
	results, err := bench.Run(context.Background(), bench.Options{
		Endpoint: ts.URL, Region: "us-east-1", AccessKeyID: "AKIAANY0000000000000", SecretAccessKey: "any-secret-0000000000000000000000000000",
		Ops: []string{"Encrypt"}, Concurrency: 1, Duration: 100 * time.Millisecond, PlaintextSize: 16,
		KeyID: "00000000-0000-4000-8000-000000000000",
	})
	if err != nil || len(results) != 1 || results[0].Requests == 0 || results[0].Errors != 0 {
		t.Fatalf("baseline: %v %+v", err, results)
	}
}

// TestRunWithoutAudit: a server with audit_disabled (what trent bench
// --audit=false starts) answers requests and writes no audit directory.
func TestRunWithoutAudit(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", "AKIABENCHTEST0000001")
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", "bench-test-secret-access-key-0000000000")
	data := filepath.Join(t.TempDir(), "data")
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: data, AuditDisabled: true}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Audit() != nil {
		t.Fatal("audit_disabled opened an audit log")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	results, err := bench.Run(context.Background(), bench.Options{
		Endpoint: srv.URL(), Region: "us-east-1",
		AccessKeyID: "AKIABENCHTEST0000001", SecretAccessKey: "bench-test-secret-access-key-0000000000",
		Ops: []string{"Encrypt"}, Concurrency: 2, Duration: 100 * time.Millisecond, PlaintextSize: 32,
	})
	cancel()
	if rerr := <-done; rerr != nil {
		t.Errorf("Run: %v", rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Requests == 0 || results[0].Errors != 0 {
		t.Fatalf("results %+v", results)
	}
	if _, err := os.Stat(filepath.Join(data, server.AuditDirName)); !os.IsNotExist(err) {
		t.Fatalf("audit directory: %v", err)
	}
}
