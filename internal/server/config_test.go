package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/server"
)

func writeConfig(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "trent.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	t.Setenv("TRENT_TEST_DATA", "/var/lib/trent")
	cfg, err := server.LoadConfig(writeConfig(t, `version: 1
listen: 127.0.0.1:9400
data_dir: ${TRENT_TEST_DATA}
regions: [us-east-1, eu-west-1]
deletion_interval: 30s
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	if cfg.Listen != "127.0.0.1:9400" || cfg.DataDir != "/var/lib/trent" || len(cfg.Regions) != 2 ||
		cfg.DeletionInterval != 30*time.Second || cfg.AccountID != "111122223333" {
		t.Fatalf("config: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct{ text, want string }{
		"unknown-field":    {"version: 1\nlisten_addr: x\n", "listen_addr"},
		"unset-variable":   {"version: 1\ndata_dir: ${TRENT_TEST_UNSET_VARIABLE}\n", "TRENT_TEST_UNSET_VARIABLE"},
		"wrong-version":    {"version: 2\n", "version must be 1"},
		"not-yaml":         {"version: [1\n", "yaml"},
		"wrong-field-type": {"version: 1\nregions: eu-west-1\n", "line 2"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := server.LoadConfig(writeConfig(t, tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadConfig() = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestLoadConfigVersionLine checks that a bad or missing version is
// reported with the file and a real line number, never "line 0".
func TestLoadConfigVersionLine(t *testing.T) {
	for name, tc := range map[string]struct{ text, want string }{
		"wrong":          {"listen: 127.0.0.1:9400\nversion: 2\n", "line 2: version must be 1"},
		"missing":        {"listen: 127.0.0.1:9400\ndata_dir: /tmp\n", "line 1: version must be 1, and the file has none"},
		"empty-file":     {"", "line 1: version must be 1, and the file has none"},
		"only-a-comment": {"# trent\n", "line 1: version must be 1, and the file has none"},
	} {
		t.Run(name, func(t *testing.T) {
			p := writeConfig(t, tc.text)
			_, err := server.LoadConfig(p)
			if err == nil || err.Error() != p+": "+tc.want {
				t.Fatalf("LoadConfig() = %v, want %q", err, p+": "+tc.want)
			}
		})
	}
}

// TestValidateReportsEveryProblem checks that Validate lists all problems
// at once, each with its line in the file.
func TestValidateReportsEveryProblem(t *testing.T) {
	cfg, err := server.LoadConfig(writeConfig(t, `version: 1
listen: 0.0.0.0:8400
account_id: "12345"
log_level: loud
tls_key: /etc/trent/tls.key
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	err = cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	for _, want := range []string{"line 2: listen", "line 3: account_id", "line 4: log_level", "line 5: tls_cert and tls_key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, missing %q", err, want)
		}
	}
}

func TestLoadConfigCacheAndQuotas(t *testing.T) {
	cfg, err := server.LoadConfig(writeConfig(t, `version: 1
key_cache_size: 5000
quotas:
  keys_per_region: 10
  aliases_per_key: 0
  tags_per_key: 7
  grants_per_key: 3
  custom_key_stores_per_region: 2
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.KeyCacheSize != 5000 {
		t.Errorf("KeyCacheSize = %d, want 5000", cfg.KeyCacheSize)
	}
	// Unset quotas keep AWS's default; 0 is kept as unlimited.
	want := kms.Quotas{KeysPerRegion: 10, AliasesPerKey: 0, KeyPolicySize: 32768, TagsPerKey: 7, GrantsPerKey: 3, CustomKeyStoresPerRegion: 2}
	if got := *cfg.Quotas.KMS(); got != want {
		t.Errorf("quotas = %+v, want %+v", got, want)
	}

	cfg, err = server.LoadConfig(writeConfig(t, "version: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	if cfg.KeyCacheSize != kms.DefaultKeyCacheSize || *cfg.Quotas.KMS() != kms.DefaultQuotas {
		t.Errorf("defaults: key_cache_size %d, quotas %+v", cfg.KeyCacheSize, *cfg.Quotas.KMS())
	}
}

func TestValidateCacheAndQuotas(t *testing.T) {
	cfg, err := server.LoadConfig(writeConfig(t, `version: 1
key_cache_size: -1
quotas:
  keys_per_region: -5
  key_policy_size: -1
  grants_per_key: -1
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	err = cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	for _, want := range []string{"line 2: key_cache_size", "line 4: quotas.keys_per_region", "line 5: quotas.key_policy_size", "line 6: quotas.grants_per_key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, missing %q", err, want)
		}
	}
	if _, err := server.LoadConfig(writeConfig(t, "version: 1\nquotas:\n  secrets_per_key: 3\n")); err == nil || !strings.Contains(err.Error(), "secrets_per_key") {
		t.Errorf("unknown quota: err = %v", err)
	}
}

func TestRequestQuotasConfig(t *testing.T) {
	cfg, err := server.LoadConfig(writeConfig(t, `version: 1
request_quotas:
  cryptographic_symmetric: 50000
  create_key: 0
  generate_data_key_pair_rsa_4096: 0.5
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"cryptographic_symmetric": 50000, "create_key": 0, "generate_data_key_pair_rsa_4096": 0.5}
	if len(cfg.RequestQuotas) != len(want) {
		t.Fatalf("RequestQuotas = %v", cfg.RequestQuotas)
	}
	for k, v := range want {
		if cfg.RequestQuotas[k] != v {
			t.Errorf("RequestQuotas[%s] = %v, want %v", k, cfg.RequestQuotas[k], v)
		}
	}

	cfg, err = server.LoadConfig(writeConfig(t, `version: 1
request_quotas:
  cryptographic_symmetric: 50000
  create_keys: 5
  list_keys: -1
admin_listen: 10.0.0.1:8401
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	err = cfg.Validate()
	for _, want := range []string{
		"line 4: request_quotas.create_keys: unknown quota",
		"line 5: request_quotas.list_keys: must be a number of requests per second, at least 0 (0 means unlimited)",
		"line 6: admin_listen: 10.0.0.1:8401 is not a loopback address",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
}

// TestAuditDisabledConfig: audit_disabled takes no audit directory by
// default and refuses every other audit setting, which it would silently
// ignore.
func TestAuditDisabledConfig(t *testing.T) {
	cfg, err := server.LoadConfig(writeConfig(t, "version: 1\ndata_dir: /tmp/x\naudit_disabled: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil || cfg.AuditDir != "" {
		t.Fatalf("Validate() = %v, AuditDir %q", err, cfg.AuditDir)
	}
	cfg, err = server.LoadConfig(writeConfig(t, "version: 1\naudit_disabled: true\naudit_dir: /tmp/a\naudit_stdout: true\naudit_fail_open: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	err = cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	for _, want := range []string{"line 3: audit_dir", "line 4: audit_stdout", "line 5: audit_fail_open"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, missing %q", err, want)
		}
	}
}

// TestValidateHSMClusters: every problem of a declared HSM cluster is
// reported, with the line of hsm_clusters.
func TestValidateHSMClusters(t *testing.T) {
	cfg, err := server.LoadConfig(writeConfig(t, `version: 1
hsm_clusters:
  - id: cluster-1a2b3c4d5e6
    token_label: a
    slot: 0
    trust_anchor: not a certificate
  - id: cluster-2ab3cd4ef5g
    module: /usr/lib/softhsm/libsofthsm2.so
    token_label: a
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	err = cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad clusters")
	}
	for _, want := range []string{
		`line 2: hsm_clusters[0]: id "cluster-1a2b3c4d5e6" is not a cluster id`,
		"module is required",
		"set exactly one of token_label and slot",
		"trust anchor: not a PEM certificate",
		"hsm_clusters[1]: cluster-2ab3cd4ef5g: set exactly one of trust_anchor_file and trust_anchor",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q lacks %q", err, want)
		}
	}
}

func TestGCMinHeapConfig(t *testing.T) {
	for _, c := range []struct {
		conf string
		want int64
	}{
		{"version: 1\n", server.DefaultGCMinHeap},
		{"version: 1\ngc_min_heap: 0\n", 0},
		{"version: 1\ngc_min_heap: 268435456\n", 256 << 20},
	} {
		cfg, err := server.LoadConfig(writeConfig(t, c.conf))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Defaults()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if *cfg.GCMinHeap != c.want {
			t.Errorf("%q: gc_min_heap = %d, want %d", c.conf, *cfg.GCMinHeap, c.want)
		}
	}
	cfg, err := server.LoadConfig(writeConfig(t, "version: 1\ngc_min_heap: -1\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "line 2: gc_min_heap") {
		t.Errorf("gc_min_heap -1: Validate() = %v", err)
	}
}
