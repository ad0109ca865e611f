package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/api"
	"github.com/trent-kms/trent/internal/audit"
)

// TestAuditRecordsReused sends requests that fill different parts of a
// record one after the other: records are reused from a pool, and no field
// of one may leak into the next.
func TestAuditRecordsReused(t *testing.T) {
	e := newAuditEnv(t)
	enc := `{"KeyId":"` + e.keyID + `","Plaintext":"aGVsbG8=","EncryptionContext":{"purpose":"pool"}}`
	failed, _ := e.do(t, signed(t, "Encrypt", `{"KeyId":"arn:aws:kms:us-east-1:444455556666:key/`+e.key2+`","Plaintext":"aGVsbG8="}`))
	ok, _ := e.do(t, signed(t, "Encrypt", enc))
	bad, _ := e.do(t, signed(t, "NoSuchOperation", `{}`))
	ok2, _ := e.do(t, signed(t, "DescribeKey", `{"KeyId":"`+e.key2+`"}`))
	recs, _ := e.records(t)
	if r := recs[failed]; r == nil || r["errorCode"] == nil {
		t.Fatalf("failed request: %v", r)
	}
	r := recs[ok]
	if r == nil || r["errorCode"] != nil || r["errorMessage"] != nil {
		t.Fatalf("Encrypt after a failed request carries its error: %v", r)
	}
	if res, _ := r["resources"].([]any); len(res) != 1 || !strings.HasSuffix(res[0].(map[string]any)["ARN"].(string), e.keyID) {
		t.Fatalf("Encrypt resources %v", r["resources"])
	}
	if p, _ := r["requestParameters"].(map[string]any); p == nil || p["keyId"] != e.keyID {
		t.Fatalf("Encrypt requestParameters %v", r["requestParameters"])
	}
	if r := recs[bad]; r == nil || r["requestParameters"] != nil || len(r["resources"].([]any)) != 0 || r["trent"].(map[string]any)["checks"] != nil {
		t.Fatalf("unknown operation after Encrypt carries its fields: %v", r)
	}
	r = recs[ok2]
	if res, _ := r["resources"].([]any); len(res) != 1 || !strings.HasSuffix(res[0].(map[string]any)["ARN"].(string), e.key2) {
		t.Fatalf("DescribeKey resources %v", r["resources"])
	}
	if p, _ := r["requestParameters"].(map[string]any); p == nil || p["keyId"] != e.key2 || p["encryptionContext"] != nil {
		t.Fatalf("DescribeKey requestParameters %v", r["requestParameters"])
	}
}

// TestAuditAllocations bounds the allocations the audit trail adds to an
// Encrypt request (record building, encoding and the hand-off to the
// writer): the event id and source address strings and the writer's
// batch hash. The same request is measured without audit for reference.
func TestAuditAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	e := newAuditEnv(t)
	defer e.log.Close()
	l, err := audit.Open(audit.Options{Stdout: io.Discard}) // no fsync: the allocations are the same
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	body := `{"KeyId":"` + e.keyID + `","Plaintext":"` + strings.Repeat("A", 44) + `","EncryptionContext":{"purpose":"bench"}}`
	req := signed(t, "Encrypt", body)
	allocs := func(h *api.Handler) float64 {
		return testing.AllocsPerRun(200, func() {
			r := req.Clone(context.Background())
			r.Body = ioNopCloser(body)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("Encrypt: %d %s", w.Code, w.Body)
			}
		})
	}
	off := allocs(api.NewHandler(api.Config{Service: e.svc}))
	on := allocs(api.NewHandler(api.Config{Service: e.svc, Audit: l}))
	t.Logf("Encrypt through the handler: %.0f allocations without audit, %.0f with", off, on)
	if on-off > 4 {
		t.Errorf("the audit trail adds %.0f allocations per Encrypt; want at most 4", on-off)
	}
}
