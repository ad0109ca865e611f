package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/trent-kms/trent/internal/esdk"
	"github.com/trent-kms/trent/internal/server"
)

// startDevServer starts an in-memory trent server on a loopback port and
// points the AWS environment (for trent encrypt/decrypt in this process
// and for child processes) at it. It returns two new key ARNs.
func startDevServer(t *testing.T) (keys []string) {
	t.Helper()
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", "")
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", "")
	cfg := &server.Config{Dev: true, Listen: "127.0.0.1:0", LogLevel: "error"}
	cfg.Defaults()
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": srv.URL(), "AWS_ACCESS_KEY_ID": server.DevAccessKeyID,
		"AWS_SECRET_ACCESS_KEY": server.DevSecretAccessKey, "AWS_REGION": "us-east-1",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_PROFILE": "",
		"AWS_SESSION_TOKEN": "",
	} {
		t.Setenv(k, v)
	}
	c := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(server.DevAccessKeyID, server.DevSecretAccessKey, "")})
	for range 2 {
		out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, aws.ToString(out.KeyMetadata.Arn))
	}
	return keys
}

// jsJob is one job for testdata/interop/esdk.js.
type jsJob struct {
	Op          string            `json:"op"`
	Suite       uint16            `json:"suite,omitempty"`
	FrameLength int               `json:"frameLength,omitempty"`
	Keys        []string          `json:"keys"`
	Context     map[string]string `json:"context,omitempty"`
	Policy      string            `json:"policy"`
	In          string            `json:"in"`
	Out         string            `json:"out"`
}

// runJS runs jobs through the AWS Encryption SDK for JavaScript and
// returns each job's error ("" for success).
func runJS(t *testing.T, dir string, jobs []jsJob) []string {
	t.Helper()
	nodeDir := os.Getenv("TRENT_TEST_ESDK_NODE_DIR")
	f := filepath.Join(t.TempDir(), "jobs.json")
	b, _ := json.Marshal(jobs)
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs("testdata/interop/esdk.js")
	cmd := exec.Command("node", script, f)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(nodeDir, "node_modules"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("node output %q: %v", sc.Text(), err)
		}
		if !r.OK && r.Error == "" {
			r.Error = "failed"
		}
		res = append(res, r.Error)
	}
	if len(res) != len(jobs) {
		t.Fatalf("node answered %d jobs of %d:\n%s\n%s", len(res), len(jobs), out, stderr.String())
	}
	return res
}

// TestESDKInterop checks that messages from trent encrypt decrypt with the
// AWS Encryption SDK for JavaScript (@aws-crypto/client-node, KMS keyring,
// keys in a real trent server over HTTP), and the other way round, for
// every algorithm suite, frame-length edge, and with two KMS keys of
// which the reader has only one. .ci/run installs the SDK with npm and
// sets TRENT_TEST_ESDK_NODE_DIR; locally:
//
//	d=$(mktemp -d); (cd $d && npm install @aws-crypto/client-node)
//	TRENT_TEST_ESDK_NODE_DIR=$d go test ./cmd/trent -run ESDKInterop
func TestESDKInterop(t *testing.T) {
	if os.Getenv("TRENT_TEST_ESDK_NODE_DIR") == "" {
		t.Skip("TRENT_TEST_ESDK_NODE_DIR is not set (.ci/run sets it after npm install @aws-crypto/client-node)")
	}
	keys := startDevServer(t)
	dir := t.TempDir()
	const frame = 64
	type tcase struct {
		name  string
		suite *esdk.Suite
		frame int
		size  int
	}
	var cases []tcase
	for _, s := range esdk.Suites() {
		for _, n := range []int{0, 1, frame, frame + 1} {
			cases = append(cases, tcase{fmt.Sprintf("%04x-%d", s.ID, n), s, frame, n})
		}
	}
	def := esdk.SuiteByID(esdk.DefaultSuite)
	cases = append(cases, tcase{"default-4096", def, 4096, 4096}, tcase{"default-4097", def, 4096, 4097}, tcase{"default-100k", def, 4096, 100_000})

	policy := func(s *esdk.Suite) (trent, js string) {
		if s.Commit {
			return "require-encrypt-require-decrypt", "REQUIRE_ENCRYPT_REQUIRE_DECRYPT"
		}
		return "forbid-encrypt-allow-decrypt", "FORBID_ENCRYPT_ALLOW_DECRYPT"
	}
	plain := map[string][]byte{}
	var toJS, fromJS []jsJob
	for _, c := range cases {
		pt := make([]byte, c.size)
		rand.Read(pt)
		plain[c.name] = pt
		in := filepath.Join(dir, c.name+".txt")
		if err := os.WriteFile(in, pt, 0o600); err != nil {
			t.Fatal(err)
		}
		tp, jp := policy(c.suite)
		// trent encrypts under both keys; JavaScript decrypts with the second only.
		enc := filepath.Join(dir, c.name+".trent")
		if code := run(context.Background(), []string{"encrypt", "--key", keys[0], "--key", keys[1], "-c", "case=" + c.name,
			"--algorithm", fmt.Sprintf("0x%04x", c.suite.ID), "--frame-length", fmt.Sprint(c.frame), "--commitment-policy", tp,
			"-i", in, "-o", enc}); code != 0 {
			t.Fatalf("%s: trent encrypt exited %d", c.name, code)
		}
		toJS = append(toJS, jsJob{Op: "decrypt", Keys: keys[1:], Context: map[string]string{"case": c.name}, Policy: "REQUIRE_ENCRYPT_ALLOW_DECRYPT", In: enc, Out: enc + ".js-out"})
		fromJS = append(fromJS, jsJob{Op: "encrypt", Suite: c.suite.ID, FrameLength: c.frame, Keys: keys, Context: map[string]string{"case": c.name}, Policy: jp, In: in, Out: filepath.Join(dir, c.name+".js")})
	}
	for i, e := range runJS(t, dir, append(toJS, fromJS...)) {
		if e != "" {
			j := append(toJS, fromJS...)[i]
			t.Errorf("JavaScript %s of %s: %s", j.Op, filepath.Base(j.In), e)
		}
	}
	for _, c := range cases {
		got, err := os.ReadFile(filepath.Join(dir, c.name+".trent.js-out"))
		if err != nil || !bytes.Equal(got, plain[c.name]) {
			t.Errorf("%s: JavaScript decrypted other bytes", c.name)
		}
		// JavaScript's message, decrypted by trent with the second key only.
		out := filepath.Join(dir, c.name+".js.out")
		if code := run(context.Background(), []string{"decrypt", "--key", keys[1], "-c", "case=" + c.name,
			"--commitment-policy", "require-encrypt-allow-decrypt", "-i", filepath.Join(dir, c.name+".js"), "-o", out}); code != 0 {
			t.Errorf("%s: trent decrypt of the JavaScript message exited %d", c.name, code)
			continue
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, plain[c.name]) {
			t.Errorf("%s: trent decrypted other bytes", c.name)
		}
	}
	// A message parsed by our parser from JavaScript has the fields we expect.
	msg, _ := os.ReadFile(filepath.Join(dir, "0578-65.js"))
	h, err := esdk.ParseHeader(bytes.NewReader(msg), esdk.Limits{})
	if err != nil || h.Version != 2 || h.FrameLength != frame || len(h.DataKeys) != 2 || !strings.HasPrefix(string(h.DataKeys[0].ProviderInfo), "arn:aws:kms:us-east-1:") {
		t.Fatalf("JavaScript header: %+v, %v", h, err)
	}
}
