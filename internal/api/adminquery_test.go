package api_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/trent-kms/trent/internal/api"
	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
)

// newAdminHandler returns a handler with IAM and, when withDir is set, an
// audit log there (else a log that writes no file, as a --dev server's).
func newAdminHandler(t *testing.T, withDir bool) *api.Handler {
	t.Helper()
	b := newBase(t, kms.Config{})
	dir, root, db, svc := b.dir, b.root, b.db, b.svc
	ids, err := iam.New(iam.Config{Store: db, Root: root, Rand: rand.Reader, Now: time.Now, ManagementAccount: kms.DefaultAccountID})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := audit.GenerateSigner(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	opt := audit.Options{Signer: sig}
	if withDir {
		opt.Dir = filepath.Join(dir, "audit")
	}
	l, err := audit.Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return api.NewHandler(api.Config{Service: svc, IAM: ids, Audit: l, Store: db})
}

// adminRequest returns a TrentAdmin request signed with the test key.
func adminRequest(t *testing.T, op, body string) *http.Request {
	t.Helper()
	return signedTarget(t, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, "us-east-1", "TrentAdmin."+op, body, "application/x-amz-json-1.1")
}

func adminError(t *testing.T, w *httptest.ResponseRecorder) (string, string) {
	t.Helper()
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("answer %q: %v", w.Body.String(), err)
	}
	return e.Type, e.Message
}

// TestAdminQueriesThrottled: while two queries run, a third is answered
// ThrottlingException; once they end, queries run again.
func TestAdminQueriesThrottled(t *testing.T) {
	h := newAdminHandler(t, true)
	release := h.HoldQuerySlots()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, adminRequest(t, "SearchAudit", `{}`))
	if code, msg := adminError(t, w); w.Code != 400 || code != "ThrottlingException" || msg != "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls." {
		t.Fatalf("answer while full: %d %s %s", w.Code, code, msg)
	}
	release()
	w = httptest.NewRecorder()
	h.ServeHTTP(w, adminRequest(t, "SearchAudit", `{}`))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"Records":[`) {
		t.Fatalf("answer after: %d %s", w.Code, w.Body)
	}
}

// TestAdminQueriesWithoutAuditFiles: a node that keeps no audit files (a
// --dev server) says so.
func TestAdminQueriesWithoutAuditFiles(t *testing.T) {
	h := newAdminHandler(t, false)
	for _, op := range []string{"SearchAudit", "GetRequestCounts", "GetUsageReport"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, adminRequest(t, op, `{}`))
		if code, msg := adminError(t, w); w.Code != 400 || code != "UnsupportedOperationException" || !strings.Contains(msg, "keeps no audit files") {
			t.Fatalf("%s: %d %s %s", op, w.Code, code, msg)
		}
	}
}

// TestRequestCountsRangeBound: a range of thousands of years is refused
// like any range of more than 1440 periods. The number of periods was
// computed as (range + period - 1) / period, and a range that saturates
// time.Duration (more than 292 years) made the sum overflow to a negative
// count that passed the bound.
func TestRequestCountsRangeBound(t *testing.T) {
	h := newAdminHandler(t, true)
	for _, body := range []string{
		`{"StartTime":0,"EndTime":253402300799,"Period":60}`,
		`{"StartTime":0,"EndTime":253402300799,"Period":86400}`,
		`{"StartTime":0,"Period":60}`,
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, adminRequest(t, "GetRequestCounts", body))
		if code, msg := adminError(t, w); w.Code != 400 || code != "ValidationException" || !strings.Contains(msg, "the most is 1440") {
			t.Fatalf("%s: %d %s %s", body, w.Code, code, msg)
		}
	}
}
