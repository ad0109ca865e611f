package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/xks"
	"github.com/trent-kms/trent/internal/xks/proxy"
)

// XKSConfig is the xks section of the config file: Trent as an XKS proxy
// that AWS KMS (or another Trent) uses as an external key store, on a
// listener of its own (docs/xks.md).
type XKSConfig struct {
	// Listen is the proxy's address, host:port. AWS KMS calls a proxy on
	// port 443 over TLS; a plain-HTTP listener is allowed on loopback
	// only (or with allow_insecure_listen), for tests and for a
	// TLS-terminating load balancer on the same host.
	Listen  string `yaml:"listen"`
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// ClientCA turns on mutual TLS: clients must present a certificate
	// chained to one of these PEM certificates, whose subject common name
	// is one of ClientSubjects (AWS KMS presents
	// CN=cks.kms.<region>.amazonaws.com).
	ClientCA       string   `yaml:"client_ca"`
	ClientSubjects []string `yaml:"client_subjects"`
	// FleetSize is xksProxyFleetSize in GetHealthStatus (default 1);
	// NodeID names this node in ekmFleetDetails (default: the host name).
	FleetSize int    `yaml:"fleet_size"`
	NodeID    string `yaml:"node_id"`
	// KeyStores are the logical key stores the proxy serves.
	KeyStores []XKSKeyStore `yaml:"key_stores"`
}

// XKSKeyStore is one logical key store of the proxy.
type XKSKeyStore struct {
	Name string `yaml:"name"`
	// PathPrefix is the part of XksProxyUriPath before /kms/xks/v1: ""
	// or "/a/b".
	PathPrefix string `yaml:"path_prefix"`
	// AccountID and Region are those of keys named by key id alone;
	// defaults: account_id and the first of regions (us-east-1 when
	// regions is empty).
	AccountID   string          `yaml:"account_id"`
	Region      string          `yaml:"region"`
	Credentials []XKSCredential `yaml:"credentials"`
	Keys        []XKSKey        `yaml:"keys"`
}

// XKSCredential is a SigV4 credential of a key store. Give the secret as
// ${VAR}.
type XKSCredential struct {
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
}

// XKSKey maps an external key id to a Trent key.
type XKSKey struct {
	ID string `yaml:"id"` // the externalKeyId
	// Key is a Trent key id (in the key store's account and region) or a
	// key ARN (any account and region of this Trent).
	Key string `yaml:"key"`
	// Usage, when present, limits the key's usage: [ENCRYPT, DECRYPT],
	// [ENCRYPT], [DECRYPT] or [].
	Usage *[]string `yaml:"usage"`
}

// keyStores converts the configuration for package proxy.
func (c *Config) xksKeyStores() ([]proxy.KeyStore, error) {
	var out []proxy.KeyStore
	var errs []error
	for _, ks := range c.XKS.KeyStores {
		p := proxy.KeyStore{Name: ks.Name, PathPrefix: ks.PathPrefix, Keys: map[string]proxy.Key{}}
		acct, region := ks.AccountID, ks.Region
		if acct == "" {
			acct = c.AccountID
		}
		if region == "" {
			region = "us-east-1"
			if len(c.Regions) > 0 {
				region = c.Regions[0]
			}
		}
		for _, cr := range ks.Credentials {
			p.Credentials = append(p.Credentials, xks.Credential{AccessKeyID: cr.AccessKeyID, Secret: cr.SecretAccessKey})
		}
		for _, k := range ks.Keys {
			if _, dup := p.Keys[k.ID]; dup {
				errs = append(errs, fmt.Errorf("key store %s: external key id %s is listed twice", ks.Name, k.ID))
			}
			pk := proxy.Key{Region: region, AccountID: acct, KeyID: k.Key}
			if strings.HasPrefix(k.Key, "arn:") {
				// arn:<partition>:kms:<region>:<account>:key/<id>
				parts := strings.SplitN(k.Key, ":", 6)
				if len(parts) != 6 || parts[2] != "kms" || !strings.HasPrefix(parts[5], "key/") {
					errs = append(errs, fmt.Errorf("key store %s: external key %s: %q is not a key ARN", ks.Name, k.ID, k.Key))
					continue
				}
				pk.Region, pk.AccountID, pk.KeyID = parts[3], parts[4], strings.TrimPrefix(parts[5], "key/")
			}
			if k.Usage != nil {
				pk.Usage, pk.RestrictUsage = *k.Usage, true
			}
			p.Keys[k.ID] = pk
		}
		out = append(out, p)
	}
	if err := proxy.CheckKeyStores(out); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// validateXKS reports the xks section's problems.
func (c *Config) validateXKS(bad func(field, format string, args ...any), acks int) {
	if xc := c.XKSClient; xc.Timeout < 0 {
		bad("xks_client", "xks_client.timeout: must not be negative")
	} else if (xc.TLSCert == "") != (xc.TLSKey == "") {
		bad("xks_client", "xks_client.tls_cert and xks_client.tls_key must be given together")
	}
	x := c.XKS
	if x == nil {
		return
	}
	host, _, err := net.SplitHostPort(x.Listen)
	switch {
	case err != nil:
		bad("xks", "xks.listen: %v", err)
	case x.TLSCert == "" && !isLoopback(host) && acks < 1:
		bad("xks", "xks.listen: %s is not a loopback address; serve the XKS proxy with TLS (xks.tls_cert, xks.tls_key) or set allow_insecure_listen", x.Listen)
	}
	if (x.TLSCert == "") != (x.TLSKey == "") {
		bad("xks", "xks.tls_cert and xks.tls_key must be given together")
	}
	if x.ClientCA != "" && x.TLSCert == "" {
		bad("xks", "xks.client_ca (mutual TLS) needs xks.tls_cert and xks.tls_key")
	}
	if (x.ClientCA == "") != (len(x.ClientSubjects) == 0) {
		bad("xks", "xks.client_ca and xks.client_subjects must be given together: mutual TLS checks both the issuer and the subject name")
	}
	if x.FleetSize < 0 {
		bad("xks", "xks.fleet_size: must be at least 1")
	}
	if len(x.KeyStores) == 0 {
		bad("xks", "xks.key_stores: the XKS proxy needs at least one key store")
	}
	if _, err := c.xksKeyStores(); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			bad("xks", "xks: %s", e)
		}
	}
}

// startXKS starts the XKS proxy listener, when the config has one. The
// node is ready: the proxy serves at once.
func (s *Server) startXKS() error {
	x := s.cfg.XKS
	if x == nil {
		return nil
	}
	stores, err := s.cfg.xksKeyStores()
	if err != nil {
		return err
	}
	node := x.NodeID
	if node == "" {
		node, _ = os.Hostname()
	}
	p, err := proxy.New(proxy.Config{Keys: s.svc, Audit: s.audit, Logger: s.log.With("component", "xks-proxy"), Rand: rand.Reader,
		Probe: s.xksProbe, FleetSize: x.FleetSize, NodeID: node}, stores)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if x.TLSCert != "" {
		tc, certs, err := newTLSConfig(&Config{TLSCert: x.TLSCert, TLSKey: x.TLSKey}, s.log)
		if err != nil {
			return fmt.Errorf("xks: %w", err)
		}
		if x.ClientCA != "" {
			if err := mutualTLS(tc, x.ClientCA, x.ClientSubjects); err != nil {
				return err
			}
		}
		srv.TLSConfig, s.xksCerts = tc, certs
	}
	ln, err := net.Listen("tcp", x.Listen)
	if err != nil {
		return fmt.Errorf("xks: %w", err)
	}
	s.xksProxy, s.xksHTTP, s.xksLn = p, srv, ln
	s.xksServed = make(chan error, 1)
	tlsOn := srv.TLSConfig != nil
	go func() {
		if tlsOn {
			s.xksServed <- srv.ServeTLS(ln, "", "")
		} else {
			s.xksServed <- srv.Serve(ln)
		}
	}()
	s.log.Info("serving the XKS proxy API", "url", s.XKSURL(), "key_stores", len(stores), "mutual_tls", x.ClientCA != "")
	return nil
}

// mutualTLS makes tc require a client certificate chained to a CA of
// caFile whose subject common name is one of subjects: "The XKS proxy MUST
// terminate the TLS handshake if the client presents a certificate
// containing a different subject name or chained to a different
// certificate authority." (spec, Authentication)
func mutualTLS(tc *tls.Config, caFile string, subjects []string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("xks.client_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("xks.client_ca: %s holds no PEM certificate", caFile)
	}
	allowed := map[string]bool{}
	for _, s := range subjects {
		allowed[s] = true
	}
	tc.ClientAuth = tls.RequireAndVerifyClientCert
	tc.ClientCAs = pool
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 || !allowed[cs.PeerCertificates[0].Subject.CommonName] {
			return errors.New("xks: client certificate subject is not allowed")
		}
		return nil
	}
	return nil
}

// xksProbe is the proxy's deep health check: the store answers.
func (s *Server) xksProbe(ctx context.Context) error {
	if !s.databaseReachable(ctx) {
		return errors.New("the database does not answer")
	}
	return nil
}

// XKSURL returns the XKS proxy's base URL, "" without one.
func (s *Server) XKSURL() string {
	if s.xksLn == nil {
		return ""
	}
	scheme := "http"
	if s.cfg.XKS.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.xksLn.Addr().String()
}

// ReloadXKS replaces the XKS proxy's key stores (credentials, keys) and
// reloads its TLS certificate from cfg's xks section, without dropping
// connections: the credential rotation of the specification ("XKS
// proxies SHOULD allow changes to these credentials to take effect
// without disconnecting or shutting down the XKS proxy"). The listener
// and mutual TLS settings need a restart. trent server calls it on
// SIGHUP with the config file read again.
func (s *Server) ReloadXKS(cfg *Config) error {
	if s.xksProxy == nil {
		return errors.New("server: the XKS proxy is not configured")
	}
	if cfg.XKS == nil {
		return errors.New("server: the new configuration has no xks section; the proxy keeps its key stores")
	}
	if cfg.AccountID == "" {
		cfg.AccountID = s.cfg.AccountID
	}
	stores, err := cfg.xksKeyStores()
	if err != nil {
		s.log.Error("XKS key stores not reloaded; keeping the current ones", "err", err)
		return err
	}
	if err := s.xksProxy.Reload(stores); err != nil {
		s.log.Error("XKS key stores not reloaded; keeping the current ones", "err", err)
		return err
	}
	s.log.Info("reloaded the XKS key stores", "key_stores", len(stores))
	if s.xksCerts != nil {
		return s.xksCerts.Reload()
	}
	return nil
}

// stopXKS closes the proxy listener after a graceful shutdown.
func (s *Server) stopXKS(ctx context.Context) error {
	if s.xksHTTP == nil {
		return nil
	}
	err := s.xksHTTP.Shutdown(ctx)
	if err != nil {
		s.xksHTTP.Close()
	}
	if serr := <-s.xksServed; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

var _ proxy.KeySource = (*kms.Service)(nil)

// XKSClientConfig is the xks_client section: how this node calls the XKS
// proxies of its external key stores.
type XKSClientConfig struct {
	// Timeout bounds each proxy call (default 250ms, AWS KMS's).
	Timeout time.Duration `yaml:"timeout"`
	// CAFile, if set, holds the PEM certificates that verify proxies'
	// certificates instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// TLSCert and TLSKey are a client certificate for proxies that
	// require mutual TLS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Resolve sends a proxy host name to another host:port, as curl
	// --resolve does: XksProxyUriEndpoint is https://<host>, always on
	// port 443.
	Resolve map[string]string `yaml:"resolve"`
}

// xksBackends returns the EXTERNAL_KEY_STORE backend for kms.Config.
func (s *Server) xksBackends(root keystore.Root) (map[string]kms.KeyStoreBackend, error) {
	c := s.cfg.XKSClient
	bc := kms.XKSBackendConfig{Root: root, Rand: rand.Reader, Logger: s.log.With("component", "xks-client"), Timeout: c.Timeout, Resolve: c.Resolve}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("xks_client.ca_file: %w", err)
		}
		bc.RootCAs = x509.NewCertPool()
		if !bc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("xks_client.ca_file: %s holds no PEM certificate", c.CAFile)
		}
	}
	if c.TLSCert != "" || c.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("xks_client: %w", err)
		}
		bc.Certificates = []tls.Certificate{cert}
	}
	return map[string]kms.KeyStoreBackend{store.TypeExternal: kms.NewXKSBackend(bc)}, nil
}
