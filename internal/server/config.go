package server

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/trent-kms/trent/internal/hsm"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/quota"
)

// AdminOff as admin_listen disables the admin listener.
const AdminOff = "off"

// UnlimitedRequestQuotas returns request_quotas with every quota 0
// (unlimited), for tests and deployments that limit rates elsewhere.
func UnlimitedRequestQuotas() map[string]float64 {
	m := map[string]float64{}
	for _, d := range quota.Defs {
		m[d.Name] = 0
	}
	return m
}

// Config is the server's configuration, loaded from a versioned YAML file
// and overridden by flags. The zero value plus [Config.Defaults] is a
// working single-node server on 127.0.0.1:8400.
type Config struct {
	Version int `yaml:"version"` // 1

	Listen  string `yaml:"listen"`   // host:port
	DataDir string `yaml:"data_dir"` // embedded store and root key
	TLSCert string `yaml:"tls_cert"` // PEM certificate chain file
	TLSKey  string `yaml:"tls_key"`  // PEM private key file
	// AllowInsecureListen permits plain HTTP on a non-loopback address.
	AllowInsecureListen bool `yaml:"allow_insecure_listen"`
	// InsecureListenAcks counts how often --allow-insecure-listen was
	// given on the command line (allow_insecure_listen: true counts as
	// one). A dev server (Dev) listens on a non-loopback address only when
	// it is at least 2, with or without TLS: its credentials and keys are
	// well known.
	InsecureListenAcks int `yaml:"-"`

	// SeedFiles are seed files (package seed, docs/seed.md) applied at
	// every start: accounts, root access keys, keys with fixed ids and
	// material, and aliases, for test fixtures.
	SeedFiles []string `yaml:"seed_files"`
	// Dev runs a throwaway server for tests (trent server --dev): the
	// store and the root key live in memory only, nothing is written to
	// disk, and the root access key has well-known default credentials.
	// It cannot be set in the config file.
	Dev bool `yaml:"-"`
	// RootCredentialsFile receives the root access key generated at first
	// start (mode 0600, never overwritten) instead of the server's output,
	// which often ends up in container and journal logs.
	RootCredentialsFile string `yaml:"root_credentials_file"`

	// DatabaseURL selects PostgreSQL instead of the embedded store, e.g.
	// postgres://trent@db:5432/trent?search_path=trent. Nodes that share it
	// must share the root key file too. Give secrets as ${VAR}.
	DatabaseURL string `yaml:"database_url"`
	// DatabaseWait bounds how long a starting node waits for an
	// unreachable PostgreSQL database, retrying with backoff, before it
	// gives up with an error. 0, the default, waits until the database
	// comes or the node is stopped. Errors other than an unreachable
	// database (a wrong password, a missing privilege) fail at once.
	DatabaseWait time.Duration `yaml:"database_wait"`
	// CacheTTL bounds how long a node trusts its in-memory copy of a key or
	// alias that another node may have changed. Default: 0 (forever) with
	// the embedded store, 2s with PostgreSQL.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// KeyCacheSize bounds how many keys, with their unsealed material, a
	// node keeps in memory; the least recently used are dropped first and
	// reloaded from the store when next used. The alias and access key
	// caches have the same bound. Default: 100000 (about 200 MiB of
	// symmetric keys; docs/performance.md).
	KeyCacheSize int `yaml:"key_cache_size"`
	// GCMinHeap is the heap size in bytes below which the garbage
	// collector does not start a cycle (gc.go): Go's default collects each
	// time the heap doubles, which for a node's few MiB of live heap is
	// many times a second under load. Default 64 MiB; 0 leaves the
	// collector at GOGC; the GOGC environment variable also turns it off.
	GCMinHeap *int64 `yaml:"gc_min_heap"`
	// AuditDir is the audit directory (docs/audit.md); default
	// <data_dir>/audit. A --dev server writes no audit file.
	AuditDir string `yaml:"audit_dir"`
	// AuditStdout copies every audit record to standard output, one JSON
	// line each, for container log pipelines.
	AuditStdout bool `yaml:"audit_stdout"`
	// AuditFailOpen lets requests succeed when their audit record cannot
	// be written. For test environments only: by default a request fails
	// with KMSInternalException unless its record is durable.
	AuditFailOpen bool `yaml:"audit_fail_open"`
	// AuditDisabled writes no audit record at all: requests are answered
	// without one. For benchmarking and testing only (trent bench
	// --audit=false measures the audit trail's cost with it); it cannot be
	// combined with audit_dir, audit_stdout or audit_fail_open.
	AuditDisabled bool `yaml:"audit_disabled"`
	// AuditMaxFileSize and AuditRotateInterval close the current audit
	// file, sign its digest and start a new one once it is that large or
	// that old. Defaults: 64 MiB and 1h.
	AuditMaxFileSize    int64         `yaml:"audit_max_file_size"`
	AuditRotateInterval time.Duration `yaml:"audit_rotate_interval"`

	// Quotas are the resource quotas, AWS's by default.
	Quotas Quotas `yaml:"quotas"`
	// OIDCProviders are the OpenID Connect issuers whose ID tokens
	// AssumeRoleWithWebIdentity accepts (docs/identities.md). Seed files
	// may declare more, per account.
	OIDCProviders []OIDCProvider `yaml:"oidc_providers"`
	// HSMClusters are the PKCS#11 tokens that custom key stores of type
	// AWS_CLOUDHSM name by cluster id (docs/hsm.md).
	HSMClusters []hsm.Cluster `yaml:"hsm_clusters"`
	// RequestQuotas are request rates in requests per second per caller
	// account and region, by quota name (package quota, [quota.Defs]:
	// "cryptographic_symmetric", "create_key", ...). An unset quota has
	// AWS's default for the region; 0 means unlimited.
	RequestQuotas map[string]float64 `yaml:"request_quotas"`
	// QuotaClock is the request quotas' clock in monotonic nanoseconds;
	// nil means the real one. Tests set it.
	QuotaClock func() int64 `yaml:"-"`

	// AdminListen is the address of the admin listener, which serves
	// Prometheus metrics at /metrics (and pprof at /debug/pprof/ with
	// AdminPprof). "off" or "" disables it; `trent server` defaults it to
	// DefaultAdminListen (Defaults leaves it alone, so that tests
	// starting many nodes do not compete for one port).
	AdminListen string `yaml:"admin_listen"`
	// AdminPprof serves Go's profiler at /debug/pprof/ on the admin
	// listener.
	AdminPprof bool `yaml:"admin_pprof"`

	// Peering links this deployment to others that serve other regions
	// (peering.go); nil without.
	Peering *PeeringConfig `yaml:"peering"`

	AccountID string   `yaml:"account_id"` // the default account, created at first start
	Regions   []string `yaml:"regions"`    // regions served; empty means the AWS commercial and China regions
	LogLevel  string   `yaml:"log_level"`  // debug, info, warn, error

	// DeletionInterval is how often keys whose deletion window has ended
	// are deleted.
	DeletionInterval time.Duration `yaml:"deletion_interval"`
	// RotationInterval is how often keys whose automatic rotation is due
	// are rotated, and imported key material whose ValidTo has passed is
	// deleted.
	RotationInterval time.Duration `yaml:"rotation_interval"`
	// UsageFlushInterval is how often the last use of each key recorded in
	// memory is written to the store (GetKeyLastUsage); it is also written
	// at shutdown.
	UsageFlushInterval time.Duration `yaml:"usage_flush_interval"`

	// XKS serves Trent keys to AWS KMS as an XKS proxy, on a listener
	// of its own (docs/xks.md); nil serves none.
	XKS *XKSConfig `yaml:"xks"`
	// XKSClient configures how this node reaches the XKS proxies of
	// its external key stores (docs/xks.md).
	XKSClient XKSClientConfig `yaml:"xks_client"`

	// Now is the clock the KMS service uses for key lifecycle times such
	// as creation and deletion dates and the end of deletion windows. It
	// cannot be set from the config file; nil means time.Now. Tests set it
	// to move a node past a deletion window. SigV4 request dates are always
	// checked against the real clock.
	Now func() time.Time `yaml:"-"`

	lines map[string]int // field name -> line in the file, for errors
}

// OIDCProvider is a trusted OpenID Connect issuer of the config file.
type OIDCProvider struct {
	Account   string   `yaml:"account"`    // default: account_id
	URL       string   `yaml:"url"`        // the issuer, as tokens carry it in iss
	Audiences []string `yaml:"audiences"`  // accepted aud values (client ids)
	ClientIDs []string `yaml:"client_ids"` // IAM's name for audiences; both are accepted
	JWKSFile  string   `yaml:"jwks_file"`  // the issuer's public keys, or
	Fetch     bool     `yaml:"fetch"`      // fetch them from the issuer's discovery document
}

// providerConfigs returns the config file's OIDC providers for package iam.
func (c *Config) providerConfigs() []iam.ProviderConfig {
	var out []iam.ProviderConfig
	for i, p := range c.OIDCProviders {
		acct := p.Account
		if acct == "" {
			acct = c.AccountID
		}
		src := "config file"
		if line := c.lines["oidc_providers"]; line > 0 {
			src = fmt.Sprintf("config file: oidc_providers[%d] (from line %d)", i, line)
		}
		out = append(out, iam.ProviderConfig{AccountID: acct, URL: p.URL, Audiences: append(slices.Clone(p.Audiences), p.ClientIDs...),
			JWKSFile: p.JWKSFile, Fetch: p.Fetch, Source: src})
	}
	return out
}

// Quotas are the resource quotas a node enforces (see [kms.Quotas]). An
// unset quota is AWS's default; 0 means unlimited.
type Quotas struct {
	KeysPerRegion *int `yaml:"keys_per_region"` // keys per account and region; default 100000
	AliasesPerKey *int `yaml:"aliases_per_key"` // default 50
	KeyPolicySize *int `yaml:"key_policy_size"` // characters; default 32768
	TagsPerKey    *int `yaml:"tags_per_key"`    // default 50
	GrantsPerKey  *int `yaml:"grants_per_key"`  // default 50000
	// CustomKeyStoresPerRegion: custom key stores per account and region;
	// default 10.
	CustomKeyStoresPerRegion *int `yaml:"custom_key_stores_per_region"`
}

// KMS returns the quotas for [kms.Config], with AWS's default for each
// unset one.
func (q Quotas) KMS() *kms.Quotas {
	out := kms.DefaultQuotas
	for _, f := range []struct {
		from *int
		to   *int
	}{
		{q.KeysPerRegion, &out.KeysPerRegion},
		{q.AliasesPerKey, &out.AliasesPerKey},
		{q.KeyPolicySize, &out.KeyPolicySize},
		{q.TagsPerKey, &out.TagsPerKey},
		{q.GrantsPerKey, &out.GrantsPerKey},
		{q.CustomKeyStoresPerRegion, &out.CustomKeyStoresPerRegion},
	} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	return &out
}

// Defaults fills unset fields with their default values.
func (c *Config) Defaults() {
	if c.Version == 0 {
		c.Version = 1
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8400"
	}
	if c.DataDir == "" && !c.Dev {
		c.DataDir = "./trent-data"
	}
	if c.AccountID == "" {
		c.AccountID = "111122223333"
	}
	if c.AuditDir == "" && !c.Dev && c.DataDir != "" && !c.AuditDisabled {
		c.AuditDir = filepath.Join(c.DataDir, AuditDirName)
	}
	if c.Dev && c.RequestQuotas == nil {
		// A throwaway server for tests does not throttle unless told to:
		// AWS's CreateKey quota (5 a second) would slow a test suite down
		// for nothing. request_quotas in a config file turns them on.
		c.RequestQuotas = UnlimitedRequestQuotas()
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.DeletionInterval == 0 {
		c.DeletionInterval = time.Minute
	}
	if c.RotationInterval == 0 {
		c.RotationInterval = time.Minute
	}
	if c.UsageFlushInterval == 0 {
		c.UsageFlushInterval = time.Minute
	}
	if c.KeyCacheSize == 0 {
		c.KeyCacheSize = kms.DefaultKeyCacheSize
	}
	if c.GCMinHeap == nil {
		v := int64(DefaultGCMinHeap)
		c.GCMinHeap = &v
	}
	if c.CacheTTL == 0 && c.DatabaseURL != "" {
		c.CacheTTL = 2 * time.Second
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// LoadConfig reads a YAML config file. ${VAR} references are replaced by
// the environment variable's value; a reference to an unset variable is
// an error. Unknown fields are errors.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var missing []string
	text := envRef.ReplaceAllStringFunc(string(raw), func(m string) string {
		name := envRef.FindStringSubmatch(m)[1]
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: unset environment variables: %s", path, strings.Join(missing, ", "))
	}
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(text), &node); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := &Config{lines: map[string]int{}}
	if len(node.Content) > 0 {
		root := node.Content[0]
		for i := 0; i+1 < len(root.Content); i += 2 {
			name, val := root.Content[i].Value, root.Content[i+1]
			c.lines[name] = root.Content[i].Line
			if val.Kind == yaml.MappingNode { // e.g. quotas.keys_per_region
				for j := 0; j+1 < len(val.Content); j += 2 {
					c.lines[name+"."+val.Content[j].Value] = val.Content[j].Line
				}
			}
		}
		dec := yaml.NewDecoder(strings.NewReader(text))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if line, ok := c.lines["version"]; !ok {
		// No version line to point at: name the top of the file.
		return nil, fmt.Errorf("%s: line 1: version must be 1, and the file has none", path)
	} else if c.Version != 1 {
		return nil, fmt.Errorf("%s: line %d: version must be 1", path, line)
	}
	return c, nil
}

// Validate reports every problem in the configuration at once, each with
// its line in the config file when it came from one.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if line := c.lines[field]; line > 0 {
			msg = fmt.Sprintf("line %d: %s", line, msg)
		}
		errs = append(errs, errors.New(msg))
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		bad("listen", "listen: %v", err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		field := "tls_cert"
		if c.TLSCert == "" {
			field = "tls_key"
		}
		bad(field, "tls_cert and tls_key must be given together")
	}
	acks := c.InsecureListenAcks
	if c.AllowInsecureListen {
		acks = max(acks, 1)
	}
	switch {
	case err != nil || isLoopback(host):
	case c.Dev && acks < 2:
		bad("listen", "listen: %s is not a loopback address; a --dev server hands its well-known credentials and keys to anyone "+
			"who reaches it: give --allow-insecure-listen twice to listen there anyway", c.Listen)
	case !c.Dev && c.TLSCert == "" && acks < 1:
		bad("listen", "listen: %s is not a loopback address; serve it with TLS (tls_cert, tls_key) or set allow_insecure_listen", c.Listen)
	}
	if c.AdminListen != AdminOff && c.AdminListen != "" {
		// The admin listener has no authentication: like the API listener
		// without TLS, it needs --allow-insecure-listen off loopback.
		ahost, _, err := net.SplitHostPort(c.AdminListen)
		switch {
		case err != nil:
			bad("admin_listen", "admin_listen: %v", err)
		case isLoopback(ahost):
		case c.Dev && acks < 2:
			bad("admin_listen", "admin_listen: %s is not a loopback address; give --allow-insecure-listen twice to listen there anyway", c.AdminListen)
		case acks < 1:
			bad("admin_listen", "admin_listen: %s is not a loopback address; the admin listener (metrics, pprof) has no authentication: "+
				"set allow_insecure_listen to serve it there, or set admin_listen to off", c.AdminListen)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.RequestQuotas)) {
		v := c.RequestQuotas[name]
		if _, ok := quota.Lookup(name); !ok {
			bad("request_quotas."+name, "request_quotas.%s: unknown quota (see docs/operations.md, Request quotas)", name)
		} else if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			bad("request_quotas."+name, "request_quotas.%s: must be a number of requests per second, at least 0 (0 means unlimited)", name)
		}
	}
	if c.AuditDisabled {
		for _, f := range []struct {
			name string
			set  bool
		}{{"audit_dir", c.AuditDir != ""}, {"audit_stdout", c.AuditStdout}, {"audit_fail_open", c.AuditFailOpen}} {
			if f.set {
				bad(f.name, "%s: audit_disabled writes no audit record; it cannot be combined with %s", f.name, f.name)
			}
		}
	}
	if c.Dev {
		// Nothing of a dev server reaches the disk.
		if c.DataDir != "" {
			bad("data_dir", "data_dir: a --dev server keeps everything in memory and takes no data directory")
		}
		if c.DatabaseURL != "" {
			bad("database_url", "database_url: a --dev server keeps everything in memory and takes no database")
		}
		if c.RootCredentialsFile != "" {
			bad("root_credentials_file", "root_credentials_file: a --dev server writes no file; its credentials are printed")
		}
		if c.AuditDir != "" {
			bad("audit_dir", "audit_dir: a --dev server writes no audit file; set audit_stdout to see its records")
		}
	}
	for _, f := range c.SeedFiles {
		if f == "" {
			bad("seed_files", "seed_files: an empty file name")
		}
	}
	if len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "" {
		bad("account_id", "account_id: %q is not a 12-digit account id", c.AccountID)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		bad("database_url", "database_url: must be a postgres:// URL")
	}
	if c.DatabaseWait < 0 {
		bad("database_wait", "database_wait: must not be negative")
	}
	if c.CacheTTL < 0 {
		bad("cache_ttl", "cache_ttl: must not be negative")
	}
	if c.KeyCacheSize < 0 {
		bad("key_cache_size", "key_cache_size: must be at least 1")
	}
	for _, q := range []struct {
		name string
		v    *int
	}{
		{"keys_per_region", c.Quotas.KeysPerRegion},
		{"aliases_per_key", c.Quotas.AliasesPerKey},
		{"key_policy_size", c.Quotas.KeyPolicySize},
		{"tags_per_key", c.Quotas.TagsPerKey},
		{"grants_per_key", c.Quotas.GrantsPerKey},
	} {
		if q.v != nil && *q.v < 0 {
			bad("quotas."+q.name, "quotas.%s: must not be negative (0 means unlimited)", q.name)
		}
	}
	if c.GCMinHeap != nil && *c.GCMinHeap < 0 {
		bad("gc_min_heap", "gc_min_heap: must not be negative (0 leaves the collector at GOGC)")
	}
	if c.AuditMaxFileSize < 0 {
		bad("audit_max_file_size", "audit_max_file_size: must not be negative")
	}
	if c.AuditRotateInterval < 0 {
		bad("audit_rotate_interval", "audit_rotate_interval: must not be negative")
	}
	if c.DeletionInterval < time.Second {
		bad("deletion_interval", "deletion_interval: must be at least 1s")
	}
	if c.RotationInterval < time.Second {
		bad("rotation_interval", "rotation_interval: must be at least 1s")
	}
	if c.UsageFlushInterval < time.Second {
		bad("usage_flush_interval", "usage_flush_interval: must be at least 1s")
	}
	for _, r := range c.Regions {
		if !regionName.MatchString(r) {
			bad("regions", "regions: %q is not a region name", r)
		}
	}
	for i := range c.HSMClusters {
		if err := c.HSMClusters[i].Check(); err != nil {
			bad("hsm_clusters", "hsm_clusters[%d]: %v", i, err)
		}
	}
	c.validateXKS(bad, acks)
	for _, p := range c.providerConfigs() {
		if err := p.Check(); err != nil {
			bad("oidc_providers", "oidc_providers: %v", err)
		}
	}
	c.validatePeering(bad)
	return errors.Join(errs...)
}

var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
