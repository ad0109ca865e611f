package api_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/trent-kms/trent/internal/api"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// TestServiceLogLinesCarryRequestID: the lines kms logs while serving a
// request — an access key whose sealed secret does not open for its row,
// a stored key policy that does not parse — carry the request's id, as the
// handler's own lines do.
func TestServiceLogLinesCarryRequestID(t *testing.T) {
	b := newBase(t, kms.Config{})
	root, db, setup, ctx := b.root, b.db, b.svc, context.Background()
	const tampered = "AKIATAMPEREDKEY00001"
	if _, err := setup.CreateAccessKey(ctx, kms.DefaultAccountID, tampered, secret); err != nil {
		t.Fatal(err)
	}
	c := &kms.Caller{AccountID: kms.DefaultAccountID, Region: "us-east-1",
		Identity: policy.Principal{Type: policy.PrincipalAccount, Account: kms.DefaultAccountID}}
	ck, err := setup.CreateKey(ctx, c, &wire.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Changed outside Trent: the access key's principal and the key policy.
	if _, err := db.UpdateAccessKey(ctx, tampered, func(k *store.AccessKey) error {
		k.Principal = "arn:aws:iam::111122223333:user/admin"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateKey(ctx, store.KeyRef{Region: "us-east-1", KeyID: *ck.KeyMetadata.KeyId}, func(k *store.Key) error {
		k.Policy = `{"Version":"2012-10-17","Statement":"not a list"}`
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// A fresh service (cold caches) logging to a buffer.
	log, _, records := captureLog(t)
	svc, err := kms.New(kms.Config{Store: db, Root: root, Rand: rand.Reader, Now: time.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h := api.NewHandler(api.Config{Service: svc, Logger: log})

	find := func(prefix string) logRecord {
		t.Helper()
		var found []logRecord
		for _, r := range records() {
			if msg, _ := r["msg"].(string); strings.HasPrefix(msg, prefix) {
				found = append(found, r)
			}
		}
		if len(found) != 1 {
			t.Fatalf("%d records %q, want 1: %v", len(found), prefix, records())
		}
		return found[0]
	}

	w := serve(h, signedAs(t, aws.Credentials{AccessKeyID: tampered, SecretAccessKey: secret}, "us-east-1", "ListKeys", "{}"))
	if !strings.Contains(w.Body.String(), "UnrecognizedClientException") {
		t.Fatalf("tampered access key: %d %s", w.Code, w.Body)
	}
	rec := find("access key integrity error")
	if id := w.Header().Get("x-amzn-RequestId"); id == "" || rec["request_id"] != id {
		t.Errorf("integrity error request_id = %v, want %q", rec["request_id"], id)
	}

	w = serve(h, signed(t, "DescribeKey", `{"KeyId":"`+*ck.KeyMetadata.KeyId+`"}`))
	if !strings.Contains(w.Body.String(), "AccessDeniedException") {
		t.Fatalf("key with a broken policy: %d %s", w.Code, w.Body)
	}
	rec = find("stored key policy does not parse")
	if id := w.Header().Get("x-amzn-RequestId"); id == "" || rec["request_id"] != id {
		t.Errorf("policy error request_id = %v, want %q", rec["request_id"], id)
	}
	// One request_id member per line, not two.
	for _, r := range records() {
		if r["msg"] == "access denied" && r["request_id"] != w.Header().Get("x-amzn-RequestId") {
			t.Errorf("access denied line: %v", r)
		}
	}
}

// TestLogHandlerKeepsExistingRequestID: a line that already names its
// request id gets no second one.
func TestLogHandlerKeepsExistingRequestID(t *testing.T) {
	log, buf, _ := captureLog(t)
	l := slog.New(kms.LogHandler(log.Handler()))
	ctx := kms.WithRequestID(context.Background(), "from-context")
	l.InfoContext(ctx, "explicit", "request_id", "explicit-id")
	l.InfoContext(ctx, "implicit")
	l.Info("no context")
	got := buf.String()
	if strings.Count(got, "request_id") != 2 || !strings.Contains(got, `"msg":"explicit","request_id":"explicit-id"}`) ||
		!strings.Contains(got, `"msg":"implicit","request_id":"from-context"}`) {
		t.Errorf("log:\n%s", got)
	}
}
