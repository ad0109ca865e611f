package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/trent-kms/trent/internal/server"
)

// TestIAMLogLinesCarryRequestID: a line IAM logs while serving a request
// (here "account created", for TrentAdmin.CreateAccount) carries the
// request's id: the server gives IAM a logger that adds it from the
// request's context.
func TestIAMLogLinesCarryRequestID(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: privateDir(t), RequestQuotas: server.UnlimitedRequestQuotas()}
	cfg.Defaults()
	var buf lockedBuffer
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(&buf, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	resp := signedPost(t, &node{srv: srv}, "kms", "us-east-1", "application/x-amz-json-1.1", "TrentAdmin.CreateAccount", `{"AccountId":"444455556666"}`)
	resp.Body.Close()
	id := resp.Header.Get("x-amzn-RequestId")
	if resp.StatusCode != 200 || id == "" {
		t.Fatalf("CreateAccount: %d, request id %q", resp.StatusCode, id)
	}
	found := 0
	for _, line := range bytes.Split([]byte(buf.String()), []byte("\n")) {
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil && rec["msg"] == "account created" {
			found++
			if rec["request_id"] != id {
				t.Errorf("account created: request_id = %v, want %s", rec["request_id"], id)
			}
		}
	}
	if found != 1 {
		t.Errorf("%d \"account created\" lines, want 1:\n%s", found, buf.String())
	}
}
