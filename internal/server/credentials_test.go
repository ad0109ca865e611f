package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/server"
)

var credsLine = regexp.MustCompile(`(?m)^AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})\nAWS_SECRET_ACCESS_KEY=([A-Za-z0-9+/]{40})\n`)

// TestRootCredentialsFile checks that with root_credentials_file the root
// access key generated at first start is written to that file with mode
// 0600 and works, that its secret is not printed, that later starts leave
// the file alone, and that an existing file is never overwritten.
func TestRootCredentialsFile(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", "")
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", "")
	base := t.TempDir()
	creds := filepath.Join(base, "root-credentials.env")
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(base, "data"), RootCredentialsFile: creds}
	cfg.Defaults()

	var out, log lockedBuffer
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(&log, nil)), &out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(creds)
	if err != nil {
		t.Fatal(err)
	}
	m := credsLine.FindSubmatch(b)
	if m == nil {
		t.Fatalf("credentials file holds no access key:\n%s", b)
	}
	id, secret := string(m[1]), string(m[2])
	if fi, _ := os.Stat(creds); fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file has mode %#o, want 0600", fi.Mode().Perm())
	}
	for name, s := range map[string]string{"output": out.String(), "log": log.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("the secret appears in the %s:\n%s", name, s)
		}
	}
	if want := "Created the root access key " + id + " of account 111122223333; its secret is in " + creds + "."; !strings.Contains(out.String(), want) {
		t.Errorf("output %q does not say %q", out.String(), want)
	}

	// The credentials in the file sign requests.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	c := kms.New(kms.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second},
	})
	if _, err := c.ListKeys(context.Background(), &kms.ListKeysInput{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	t.Run("restart-leaves-file", func(t *testing.T) {
		var out bytes.Buffer
		startConfigured(t, cfg, io.Discard, &out)
		if after, _ := os.ReadFile(creds); !bytes.Equal(after, b) {
			t.Errorf("restart changed the credentials file:\n%s", after)
		}
		if out.Len() != 0 {
			t.Errorf("restart printed %q", out.String())
		}
	})
	t.Run("restart-without-file", func(t *testing.T) {
		moved := creds + ".moved"
		if err := os.Rename(creds, moved); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(moved, creds)
		startConfigured(t, cfg, io.Discard, io.Discard)
		if _, err := os.Stat(creds); !os.IsNotExist(err) {
			t.Errorf("restart created the credentials file again (%v)", err)
		}
	})
	t.Run("existing-file-not-overwritten", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other")
		cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(other, "data"), RootCredentialsFile: creds}
		cfg.Defaults()
		var out bytes.Buffer
		_, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &out)
		wantErrContains(t, err, "root credentials file "+creds+" already exists", "move it away")
		if after, _ := os.ReadFile(creds); !bytes.Equal(after, b) {
			t.Errorf("the existing credentials file changed:\n%s", after)
		}
		if out.Len() != 0 {
			t.Errorf("refused start printed %q", out.String())
		}
		// Nothing was generated: a start with a free file name writes the
		// account's first key there.
		cfg.RootCredentialsFile = filepath.Join(other, "creds.env")
		startConfigured(t, cfg, io.Discard, io.Discard)
		if b, err := os.ReadFile(cfg.RootCredentialsFile); err != nil || !credsLine.Match(b) {
			t.Fatalf("credentials file after the retry: %q, %v", b, err)
		}
	})
	t.Run("supplied-credentials-not-written", func(t *testing.T) {
		t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
		t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
		dir := t.TempDir()
		cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), RootCredentialsFile: filepath.Join(dir, "creds.env")}
		cfg.Defaults()
		startConfigured(t, cfg, io.Discard, io.Discard)
		if _, err := os.Stat(cfg.RootCredentialsFile); !os.IsNotExist(err) {
			t.Errorf("the operator's own credentials were written to a file (%v)", err)
		}
	})
}

// TestRootCredentialsPrintedWithoutFile keeps the default: without a
// credentials file the generated secret is printed once.
func TestRootCredentialsPrintedWithoutFile(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", "")
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", "")
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data")}
	cfg.Defaults()
	var out bytes.Buffer
	startConfigured(t, cfg, io.Discard, &out)
	if !regexp.MustCompile(`AWS_SECRET_ACCESS_KEY=[A-Za-z0-9+/]{40}\n`).Match(out.Bytes()) {
		t.Fatalf("output: %q", out.String())
	}
}

// TestWarnExampleCredentials checks the warning for AWS's documentation
// example credentials: at the start that creates them and at every later
// start, and never for other credentials. The secret is never logged.
func TestWarnExampleCredentials(t *testing.T) {
	const exampleID, exampleSecret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	warned := func(log string) bool {
		return strings.Contains(log, "level=WARN") && strings.Contains(log, "documentation example credentials")
	}
	for _, c := range []struct {
		name, id, secret string
		warn             bool
	}{
		{"example-pair", exampleID, exampleSecret, true},
		{"example-secret", "AKIATRENTTESTKEY0002", exampleSecret, true},
		{"example-id", exampleID, "another-secret-that-is-long-enough", true},
		{"own-credentials", testAccessKeyID, testSecret, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", c.id)
			t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", c.secret)
			cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data")}
			cfg.Defaults()
			var log lockedBuffer
			srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(&log, nil)), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			srv.Run(ctx)
			if warned(log.String()) != c.warn {
				t.Fatalf("warned = %v, want %v; log:\n%s", !c.warn, c.warn, log.String())
			}
			if c.warn && !strings.Contains(log.String(), "access_key_id="+c.id) {
				t.Errorf("warning does not name the access key:\n%s", log.String())
			}
			if strings.Contains(log.String(), c.secret) {
				t.Errorf("the secret was logged:\n%s", log.String())
			}
			// A later start without the variables still warns: the key is in use.
			t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", "")
			t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", "")
			var log2 lockedBuffer
			startConfigured(t, cfg, &log2, io.Discard)
			if warned(log2.String()) != c.warn {
				t.Fatalf("restart: warned = %v, want %v; log:\n%s", !c.warn, c.warn, log2.String())
			}
		})
	}
}
