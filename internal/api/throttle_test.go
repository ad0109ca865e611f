package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trent-kms/trent/internal/api"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/quota"
	"github.com/trent-kms/trent/internal/wire"
)

// instrumented is a handler with request quotas and metrics, as the server
// wires it, serving through Metrics.Serve.
type instrumented struct {
	h     *api.Handler
	m     *api.Metrics
	keyID string
}

func (e instrumented) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.m.Serve(e.h, w, r) }

func newInstrumented(t testing.TB, rates map[string]float64, now func() int64) instrumented {
	l := quota.New(quota.Config{Rates: rates, Now: now})
	svc, ctx := newBase(t, kms.Config{Throttle: api.KeyThrottle(l)}).svc, context.Background()
	ck, err := svc.CreateKey(ctx, &kms.Caller{AccountID: kms.DefaultAccountID, Region: "us-east-1"}, &wire.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return instrumented{h: api.NewHandler(api.Config{Service: svc, Quotas: l}), m: api.NewMetrics(prometheus.NewRegistry()), keyID: *ck.KeyMetadata.KeyId}
}

func TestThrottledRequestShape(t *testing.T) {
	var now int64 // time stands still
	e := newInstrumented(t, map[string]float64{"cryptographic_symmetric": 2, "describe_key": 1}, func() int64 { return now })
	encrypt := `{"KeyId":"` + e.keyID + `","Plaintext":"aGVsbG8="}`
	for i, want := range []int{200, 200, 400} {
		w := serve(e, signed(t, "Encrypt", encrypt))
		if w.Code != want {
			t.Fatalf("Encrypt %d: HTTP %d %s, want %d", i, w.Code, w.Body, want)
		}
		if want == 400 && w.Body.String() != `{"__type":"ThrottlingException","message":"You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."}` {
			t.Errorf("throttled body = %s", w.Body)
		}
	}
	// DescribeKey has its own quota, unaffected by the Encrypts.
	describe := `{"KeyId":"` + e.keyID + `"}`
	if w := serve(e, signed(t, "DescribeKey", describe)); w.Code != 200 {
		t.Fatalf("DescribeKey: %d %s", w.Code, w.Body)
	}
	if w := serve(e, signed(t, "DescribeKey", describe)); w.Code != 400 || !strings.Contains(w.Body.String(), "ThrottlingException") {
		t.Fatalf("second DescribeKey: %d %s", w.Code, w.Body)
	}
	// A second later both quotas have room again.
	now += int64(time.Second)
	if w := serve(e, signed(t, "Encrypt", encrypt)); w.Code != 200 {
		t.Fatalf("Encrypt after 1s: %d %s", w.Code, w.Body)
	}
	if w := serve(e, signed(t, "DescribeKey", describe)); w.Code != 200 {
		t.Fatalf("DescribeKey after 1s: %d %s", w.Code, w.Body)
	}
}

// TestInstrumentationAllocatesNothing checks that quotas and metrics add
// no allocation to a successful Encrypt.
func TestInstrumentationAllocatesNothing(t *testing.T) {
	plain, keyID := newHandler(t)
	e := newInstrumented(t, map[string]float64{"cryptographic_symmetric": 1e9}, nil)
	allocs := func(h http.Handler, keyID string) float64 {
		body := `{"KeyId":"` + keyID + `","Plaintext":"aGVsbG8="}`
		req := signed(t, "Encrypt", body)
		return testing.AllocsPerRun(200, func() {
			r := req.Clone(context.Background())
			r.Body = ioNopCloser(body)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("Encrypt: %d %s", w.Code, w.Body)
			}
		})
	}
	a, b := allocs(plain, keyID), allocs(e, e.keyID)
	if b > a {
		t.Errorf("Encrypt allocates %v times with quotas and metrics, %v without", b, a)
	}
}

// BenchmarkHandlerInstrumented is BenchmarkHandler's Encrypt with request
// quotas (never exceeded) and metrics, as a server runs it; the difference
// is their cost per request.
func BenchmarkHandlerInstrumented(b *testing.B) {
	e := newInstrumented(b, map[string]float64{"cryptographic_symmetric": 1e9}, nil)
	body := `{"KeyId":"` + e.keyID + `","Plaintext":"` + strings.Repeat("A", 44) + `","EncryptionContext":{"purpose":"bench"}}`
	req := signed(b, "Encrypt", body)
	b.ReportAllocs()
	for b.Loop() {
		r := req.Clone(context.Background())
		r.Body = ioNopCloser(body)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("Encrypt: %d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkHandlerMetricsOverhead measures what Metrics.Serve adds to a
// request, around a handler that only writes a response.
func BenchmarkHandlerMetricsOverhead(b *testing.B) {
	m := api.NewMetrics(prometheus.NewRegistry())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	w := httptest.NewRecorder()
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
	})
	b.Run("metrics", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Serve(h, w, r)
		}
	})
}
