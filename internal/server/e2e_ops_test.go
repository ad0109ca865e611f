package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/trent-kms/trent/internal/server"
)

const throttleMessage = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."

// steppingClock is a quota clock that moves forward by step each time it
// is read, so a test decides how much time passes between requests
// without reading the wall clock.
type steppingClock struct {
	ns   atomic.Int64
	step int64
}

func (c *steppingClock) now() int64 { return c.ns.Add(c.step) }

// startQuotaNode starts a node whose only limited quota is
// cryptographic_symmetric at one request per second, on a clock that
// advances half a second per request counted: of two consecutive
// Encrypts, the second is throttled once and passes when retried.
func startQuotaNode(t *testing.T) *node {
	t.Helper()
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	clock := &steppingClock{step: int64(500 * time.Millisecond)}
	return startNodeIn(t, privateDir(t), func(c *server.Config) {
		c.RequestQuotas = server.UnlimitedRequestQuotas()
		c.RequestQuotas["cryptographic_symmetric"] = 1
		c.QuotaClock = clock.now
		c.AdminListen = "127.0.0.1:0"
	})
}

func TestThrottlingSDKRetriesRecover(t *testing.T) {
	n := startQuotaNode(t)
	// The SDK's default retryer (standard: 3 attempts, exponential
	// backoff) retries ThrottlingException.
	c := n.client("us-east-1")
	key := newKey(t, c)
	for range 4 {
		_, err := c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")})
		mustOK(t, "Encrypt with retries", err)
	}
	// Without retries the throttled attempt is the caller's answer.
	noRetry := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(n.srv.URL()), Credentials: c.Options().Credentials,
		RetryMaxAttempts: 1, HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	var throttled int
	for range 4 {
		_, err := noRetry.Encrypt(t.Context(), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")})
		if err != nil {
			wantAPIError(t, err, "ThrottlingException", throttleMessage)
			throttled++
		}
	}
	if throttled != 2 {
		t.Errorf("%d of 4 Encrypts without retries throttled, want 2 (every other one)", throttled)
	}
	// Management operations are not counted against the symmetric quota.
	for range 5 {
		_, err := noRetry.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: key.KeyId})
		mustOK(t, "DescribeKey", err)
	}
	// The throttled requests show in the metrics.
	fams := scrape(t, n)
	// Three of the first four Encrypts were throttled once and retried,
	// and two of the next four were not retried.
	if v := counterValue(fams, "trent_throttled_requests_total", map[string]string{"quota": "cryptographic_symmetric"}); v != 5 {
		t.Errorf("trent_throttled_requests_total{quota=cryptographic_symmetric} = %v, want 5", v)
	}
	if v := counterValue(fams, "trent_requests_total", map[string]string{"operation": "Encrypt", "code": "ThrottlingException"}); v != 5 {
		t.Errorf("trent_requests_total{Encrypt,ThrottlingException} = %v, want 5", v)
	}
	if v := counterValue(fams, "trent_requests_total", map[string]string{"operation": "Encrypt", "code": "OK"}); v != 6 {
		t.Errorf("trent_requests_total{Encrypt,OK} = %v, want 6", v)
	}
}

func TestThrottlingByOperation(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	clock := &steppingClock{step: 1} // time stands (nearly) still
	n := startNodeIn(t, privateDir(t), func(c *server.Config) {
		c.RequestQuotas = map[string]float64{"create_key": 2, "list_keys": 0}
		c.QuotaClock = clock.now
	})
	c := kms.New(kms.Options{Region: "eu-west-3", BaseEndpoint: aws.String(n.srv.URL()), Credentials: n.client("eu-west-3").Options().Credentials,
		RetryMaxAttempts: 1, HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	for i := range 3 {
		_, err := c.CreateKey(t.Context(), &kms.CreateKeyInput{})
		if i < 2 {
			mustOK(t, "CreateKey", err)
		} else {
			wantAPIError(t, err, "ThrottlingException", throttleMessage)
		}
	}
	// The quota is per region: another region has its own bucket.
	other := kms.New(kms.Options{Region: "eu-west-1", BaseEndpoint: aws.String(n.srv.URL()), Credentials: c.Options().Credentials,
		RetryMaxAttempts: 1, HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	_, err := other.CreateKey(t.Context(), &kms.CreateKeyInput{})
	mustOK(t, "CreateKey in another region", err)
	// 0 is unlimited; other quotas keep AWS's defaults (ListKeys 500/s).
	for range 20 {
		_, err := c.ListKeys(t.Context(), &kms.ListKeysInput{})
		mustOK(t, "ListKeys", err)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	n := startQuotaNode(t)
	c := n.client("us-east-1")
	key := newKey(t, c)
	_, err := c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")})
	mustOK(t, "Encrypt", err)
	_, err = c.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: []byte("not a ciphertext")})
	wantAPIError(t, err, "InvalidCiphertextException", "*")
	_, err = c.DisableKey(t.Context(), &kms.DisableKeyInput{KeyId: key.KeyId})
	mustOK(t, "DisableKey", err)

	fams := scrape(t, n)
	if fams["trent_changes_synced_timestamp_seconds"] != nil {
		t.Error("trent_changes_synced_timestamp_seconds reported by a node whose store is not shared")
	}
	for _, name := range []string{"trent_requests_total", "trent_request_duration_seconds", "trent_keys", "trent_cache_entries",
		"trent_key_cache_lookups_total", "trent_store_duration_seconds", "trent_throttled_requests_total", "go_goroutines"} {
		if fams[name] == nil {
			t.Errorf("metric family %s missing", name)
		}
	}
	if v := counterValue(fams, "trent_requests_total", map[string]string{"operation": "Encrypt", "code": "OK"}); v != 1 {
		t.Errorf("Encrypt OK = %v, want 1", v)
	}
	if v := counterValue(fams, "trent_requests_total", map[string]string{"operation": "Decrypt", "code": "InvalidCiphertextException"}); v != 1 {
		t.Errorf("Decrypt InvalidCiphertextException = %v, want 1", v)
	}
	if h := find(fams, "trent_request_duration_seconds", map[string]string{"operation": "CreateKey"}); h == nil || h.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("CreateKey latency histogram = %v, want one sample", h)
	}
	if v := find(fams, "trent_keys", map[string]string{"state": "Disabled", "spec": "SYMMETRIC_DEFAULT"}); v == nil || v.GetGauge().GetValue() != 1 {
		t.Errorf("trent_keys{Disabled,SYMMETRIC_DEFAULT} = %v, want 1", v)
	}
	if v := find(fams, "trent_cache_entries", map[string]string{"cache": "access_keys"}); v == nil || v.GetGauge().GetValue() < 1 {
		t.Errorf("trent_cache_entries{access_keys} = %v, want at least 1", v)
	}
	if h := find(fams, "trent_store_duration_seconds", map[string]string{"method": "CreateKey"}); h == nil || h.GetHistogram().GetSampleCount() < 1 {
		t.Errorf("store CreateKey latency = %v", h)
	}
	// The audit trail's counters: every request above was recorded, in
	// fewer or as many group commits, and the sink is healthy.
	if v := find(fams, "trent_audit_records_total", nil); v == nil || v.GetCounter().GetValue() < 3 {
		t.Errorf("trent_audit_records_total = %v, want at least 3", v)
	}
	if b, r := find(fams, "trent_audit_batches_total", nil), find(fams, "trent_audit_records_total", nil); b == nil || r == nil ||
		b.GetCounter().GetValue() < 1 || b.GetCounter().GetValue() > r.GetCounter().GetValue() {
		t.Errorf("trent_audit_batches_total = %v for %v records", b, r)
	}
	if v := find(fams, "trent_audit_failing", nil); v == nil || v.GetGauge().GetValue() != 0 {
		t.Errorf("trent_audit_failing = %v, want 0", v)
	}
	if v := find(fams, "trent_audit_fsync_seconds_total", nil); v == nil || v.GetCounter().GetValue() <= 0 {
		t.Errorf("trent_audit_fsync_seconds_total = %v, want some time", v)
	}
	if v := find(fams, "trent_audit_queue_depth", nil); v == nil {
		t.Error("no trent_audit_queue_depth")
	}
	// An unknown X-Amz-Target is counted under one label value, so a
	// client cannot grow the metrics without bound.
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL(), strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "TrentService.NoSuchOperation")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	fams = scrape(t, n)
	if v := counterValue(fams, "trent_requests_total", map[string]string{"operation": "Unknown", "code": "UnknownOperationException"}); v != 1 {
		t.Errorf("unknown operation counted %v times under Unknown", v)
	}

	// pprof is off unless admin_pprof is set.
	if code := get(t, "http://"+n.srv.AdminAddr().String()+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof without admin_pprof: HTTP %d, want 404", code)
	}
}

func TestAdminPprof(t *testing.T) {
	n := startNodeIn(t, privateDir(t), func(c *server.Config) {
		c.AdminListen, c.AdminPprof = "127.0.0.1:0", true
	})
	if code := get(t, "http://"+n.srv.AdminAddr().String()+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("pprof with admin_pprof: HTTP %d, want 200", code)
	}
	// The KMS listener serves neither.
	if code := get(t, n.srv.URL()+"/metrics"); code == http.StatusOK {
		t.Error("the KMS listener serves /metrics")
	}
}

func TestAdminListenerTakenPortDoesNotStopTheNode(t *testing.T) {
	first := startNodeIn(t, privateDir(t), func(c *server.Config) { c.AdminListen = "127.0.0.1:0" })
	taken := first.srv.AdminAddr().String()
	second := startNodeIn(t, privateDir(t), func(c *server.Config) { c.AdminListen = taken })
	if second.srv.AdminAddr() != nil {
		t.Fatal("second node has an admin listener on a taken port")
	}
	if code := get(t, second.srv.URL()+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d", code)
	}
}

func TestAdminListenMustBeLoopback(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"loopback", server.Config{AdminListen: "127.0.0.1:8401"}, ""},
		{"ipv6-loopback", server.Config{AdminListen: "[::1]:8401"}, ""},
		{"off", server.Config{AdminListen: "off"}, ""},
		{"non-loopback", server.Config{AdminListen: "0.0.0.0:8401"}, "admin_listen: 0.0.0.0:8401 is not a loopback address"},
		{"non-loopback-allowed", server.Config{AdminListen: "0.0.0.0:8401", AllowInsecureListen: true}, ""},
		{"dev-once", server.Config{Dev: true, AdminListen: "192.0.2.1:8401", InsecureListenAcks: 1}, "admin_listen: 192.0.2.1:8401 is not a loopback address"},
		{"bad", server.Config{AdminListen: "nonsense"}, "admin_listen:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Defaults()
			err := cfg.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// scrape reads the node's /metrics and parses it with Prometheus's text
// parser.
func scrape(t *testing.T, n *node) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.srv.AdminAddr().String()+"/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// find returns the metric of family name with all of labels, or nil.
func find(fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range labels {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

func counterValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m := find(fams, name, labels)
	if m == nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
