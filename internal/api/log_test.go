package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/trent-kms/trent/internal/kms"
)

// logRecord is one slog JSON line.
type logRecord map[string]any

// captureLog returns a JSON logger at info level writing to a buffer, and
// a function returning the records logged so far.
func captureLog(t *testing.T) (*slog.Logger, *bytes.Buffer, func() []logRecord) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return log, &buf, func() []logRecord {
		var recs []logRecord
		for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var rec logRecord
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			recs = append(recs, rec)
		}
		return recs
	}
}

// serve sends r to h and returns the response.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// wantRecord finds the one record with msg and checks its fields.
func wantRecord(t *testing.T, recs []logRecord, msg, level string, fields map[string]string) {
	t.Helper()
	var found []logRecord
	for _, rec := range recs {
		if rec["msg"] == msg {
			found = append(found, rec)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d records %q in %v, want 1", len(found), msg, recs)
	}
	rec := found[0]
	if rec["level"] != level {
		t.Errorf("level %v, want %s", rec["level"], level)
	}
	for k, want := range fields {
		if got, _ := rec[k].(string); got != want {
			t.Errorf("%s = %q, want %q (record %v)", k, got, want, rec)
		}
	}
}

// noSecrets fails if the log holds a secret, a signature or an
// Authorization header.
func noSecrets(t *testing.T, log []byte, r *http.Request, secrets ...string) {
	t.Helper()
	authz := r.Header.Get("Authorization")
	sig := authz[strings.Index(authz, "Signature=")+len("Signature="):]
	for _, s := range append(secrets, sig, "Credential=", "AWS4-HMAC-SHA256") {
		if bytes.Contains(log, []byte(s)) {
			t.Errorf("log contains %q:\n%s", s, log)
		}
	}
}

func TestAuthenticationFailuresLogged(t *testing.T) {
	const wrongSecret = "wrong-secret-access-key-0000000000000000"
	tests := []struct {
		name    string
		req     func(t *testing.T) *http.Request
		code    string
		msg     string
		keyID   string
		secrets []string
	}{
		{"wrong-secret", func(t *testing.T) *http.Request {
			return signedAs(t, aws.Credentials{AccessKeyID: akid, SecretAccessKey: wrongSecret}, "us-east-1", "ListKeys", "{}")
		}, "InvalidSignatureException", "", akid, []string{wrongSecret, secret}},
		{"unknown-key", func(t *testing.T) *http.Request {
			return signedAs(t, aws.Credentials{AccessKeyID: "AKIAUNKNOWNKEY000001", SecretAccessKey: wrongSecret}, "us-east-1", "ListKeys", "{}")
		}, "UnrecognizedClientException", "The security token included in the request is invalid.", "AKIAUNKNOWNKEY000001", []string{wrongSecret}},
		{"unserved-region", func(t *testing.T) *http.Request {
			return signedAs(t, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, "xx-nowhere-1", "ListKeys", "{}")
		}, "UnrecognizedClientException", "The security token included in the request is invalid.", akid, []string{secret}},
		{"token-with-long-term-key", func(t *testing.T) *http.Request {
			return signedAs(t, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: "made-up-session-token"}, "us-east-1", "ListKeys", "{}")
		}, "UnrecognizedClientException", "The security token included in the request is invalid.", akid, []string{secret, "made-up-session-token"}},
		{"no-authorization", func(t *testing.T) *http.Request {
			r := signed(t, "ListKeys", "{}")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Signature="+strings.Repeat("5ca1ab1e", 8))
			return r
		}, "IncompleteSignatureException", "", "", []string{secret}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, buf, records := captureLog(t)
			e := newEnv(t, log)
			r := tc.req(t)
			w := serve(e.h, r)
			var body struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			json.Unmarshal(w.Body.Bytes(), &body)
			if body.Type != tc.code || tc.msg != "" && body.Message != tc.msg {
				t.Fatalf("response %d %s, want %s %q", w.Code, w.Body, tc.code, tc.msg)
			}
			wantRecord(t, records(), "authentication failed", "INFO", map[string]string{
				"request_id":    w.Header().Get("x-amzn-RequestId"),
				"access_key_id": tc.keyID,
				"remote_addr":   r.RemoteAddr,
				"operation":     "TrentService.ListKeys",
				"code":          tc.code,
			})
			noSecrets(t, buf.Bytes(), r, tc.secrets...)
		})
	}
}

func TestAccessDeniedLogged(t *testing.T) {
	log, buf, records := captureLog(t)
	e := newEnv(t, log)
	ctx := context.Background()
	const other, otherKey, otherSecret = "444455556666", "AKIAOTHERACCOUNT0001", "other-account-secret-key-000000000000000"
	if err := e.svc.EnsureAccount(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateAccessKey(ctx, other, otherKey, otherSecret); err != nil {
		t.Fatal(err)
	}
	arn := kms.KeyARN("us-east-1", kms.DefaultAccountID, e.keyID)
	r := signedAs(t, aws.Credentials{AccessKeyID: otherKey, SecretAccessKey: otherSecret}, "us-east-1", "DescribeKey", `{"KeyId":"`+arn+`"}`)
	w := serve(e.h, r)
	if !strings.Contains(w.Body.String(), "AccessDeniedException") {
		t.Fatalf("response %d %s, want AccessDeniedException", w.Code, w.Body)
	}
	wantRecord(t, records(), "access denied", "INFO", map[string]string{
		"request_id":    w.Header().Get("x-amzn-RequestId"),
		"access_key_id": otherKey,
		"remote_addr":   r.RemoteAddr,
		"operation":     "TrentService.DescribeKey",
		"code":          "AccessDeniedException",
	})
	noSecrets(t, buf.Bytes(), r, otherSecret, secret)
}

// TestInternalErrorCauseLogged: a failed access-key lookup is
// KMSInternalException for the caller, with a generic message, and its
// cause is logged at error level with the request id.
func TestInternalErrorCauseLogged(t *testing.T) {
	log, buf, records := captureLog(t)
	e := newEnv(t, log)
	e.db.Close() // every store read now fails
	r := signedAs(t, aws.Credentials{AccessKeyID: "AKIANOTCACHEDKEY0001", SecretAccessKey: secret}, "us-east-1", "ListKeys", "{}")
	w := serve(e.h, r)
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "KMSInternalException") {
		t.Fatalf("response %d %s, want KMSInternalException", w.Code, w.Body)
	}
	wantRecord(t, records(), "internal error", "ERROR", map[string]string{
		"request_id": w.Header().Get("x-amzn-RequestId"),
		"operation":  "TrentService.ListKeys",
	})
	if !strings.Contains(buf.String(), "AKIANOTCACHEDKEY0001") || !strings.Contains(buf.String(), `"err":"sigv4: look up access key`) {
		t.Errorf("log does not carry the cause:\n%s", buf)
	}
	if strings.Contains(w.Body.String(), "look up") || strings.Contains(w.Body.String(), "closed") {
		t.Errorf("response carries the cause: %s", w.Body)
	}
	noSecrets(t, buf.Bytes(), r, secret)
}
