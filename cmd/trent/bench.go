package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/bench"
)

// benchCmd runs `trent bench`: without --endpoint it starts `trent server`
// (or, with --baseline, the bare reference server) as a child process on a
// free loopback port, so the server's CPU time can be measured apart from
// the client's. With --endpoint it measures a running deployment with the
// credentials, region and AWS_CA_BUNDLE of the standard AWS configuration,
// and schedules deletion of the keys it created.
func benchCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("trent bench", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "measure this endpoint instead of starting a server")
	pid := fs.Int("server-pid", 0, "with --endpoint: the server's process id, to measure its CPU time")
	ops := fs.String("ops", "Encrypt,Decrypt,GenerateDataKey", "operations to measure, comma-separated: Encrypt, Decrypt, GenerateDataKey, CreateKey, Sign:ECC_NIST_P256, Sign:RSA_2048, ...")
	conc := fs.Int("concurrency", 16, "concurrent workers")
	dur := fs.Duration("duration", 5*time.Second, "measured time per operation")
	size := fs.Int("size", 32, "plaintext bytes for Encrypt")
	region := fs.String("region", "", "region to sign requests for (default: AWS_REGION or the profile's region, else us-east-1)")
	auditOn := fs.Bool("audit", true, "with the server bench starts: write the audit trail (--audit=false starts it with audit_disabled, to measure the audit trail's cost)")
	keyID := fs.String("key-id", "", "with --endpoint: measure this existing key (e.g. one in a custom key store, docs/hsm.md) instead of creating one")
	baseline := fs.Bool("baseline", false, "measure the bare reference server (JSON parse + one AES-GCM seal) with Encrypt")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *baseline && *endpoint != "" {
		fmt.Fprintln(os.Stderr, "trent bench: --baseline starts its own reference server; it cannot be combined with --endpoint")
		return 2
	}
	if !*auditOn && (*endpoint != "" || *baseline) {
		fmt.Fprintln(os.Stderr, "trent bench: --audit=false applies to the server bench starts; it cannot be combined with --endpoint or --baseline")
		return 2
	}
	// With --endpoint, credentials come from the standard AWS chain
	// (environment, shared files, AWS_PROFILE): see bench.Options.
	o := bench.Options{
		Endpoint: *endpoint, ServerPID: *pid, Region: *region, Ops: strings.Split(*ops, ","),
		Concurrency: *conc, Duration: *dur, PlaintextSize: *size, Log: os.Stderr, KeyID: *keyID,
	}
	if *keyID != "" && *endpoint == "" {
		fmt.Fprintln(os.Stderr, "trent bench: --key-id names a key of the server --endpoint points at")
		return 2
	}
	if *endpoint == "" {
		addr, err := bench.FreePort()
		if err != nil {
			fmt.Fprintln(os.Stderr, "trent bench:", err)
			return 1
		}
		dir, err := os.MkdirTemp("", "trent-bench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "trent bench:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		self, _ := os.Executable()
		o.AccessKeyID, o.SecretAccessKey = "AKIABENCHMARK0000001", "bench-secret-access-key-000000000000000"
		child := []string{"server", "--listen", addr, "--data-dir", dir, "--log-level", "warn"}
		if !*auditOn {
			child = append(child, "--audit-disabled")
			o.Label = "no-audit"
		}
		if *baseline {
			child = []string{"bench-baseline", "--listen", addr}
			o.Ops, o.KeyID = []string{"Encrypt"}, "00000000-0000-4000-8000-000000000000"
			o.Label = "baseline"
			fmt.Println("baseline: the bare reference server (JSON parse + one AES-256-GCM seal, no SigV4, no key lookup), not Trent")
		}
		cmd := exec.Command(self, child...)
		cmd.Env = append(os.Environ(), "TRENT_ROOT_ACCESS_KEY_ID="+o.AccessKeyID, "TRENT_ROOT_SECRET_ACCESS_KEY="+o.SecretAccessKey)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "trent bench:", err)
			return 1
		}
		defer func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}()
		o.Endpoint, o.ServerPID = "http://"+addr, cmd.Process.Pid
		if err := bench.WaitReady(o.Endpoint, 10*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "trent bench:", err)
			return 1
		}
	}
	results, err := bench.Run(ctx, o)
	for _, r := range results {
		fmt.Println(r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trent bench:", err)
		return 1
	}
	return 0
}

// baselineCmd serves bench.Baseline; `trent bench --baseline` starts it.
func baselineCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("trent bench-baseline", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8401", "listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	srv := &http.Server{Addr: *listen, Handler: bench.Baseline()}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "trent bench-baseline:", err)
		return 1
	}
	return 0
}
