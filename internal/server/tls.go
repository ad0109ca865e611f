package server

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
)

// tls12CipherSuites are the only suites offered under TLS 1.2: ECDHE key
// exchange (forward secrecy) with an AEAD (AES-GCM or ChaCha20-Poly1305).
// CBC suites and RSA key exchange are never negotiated. TLS 1.3, whose
// suites are all AEAD and not configurable, is preferred by crypto/tls
// whenever the client offers it.
var tls12CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// certificate is the server's TLS certificate and key, loaded from files
// and swapped atomically by Reload, so handshakes after a reload present
// the new certificate while established connections continue untouched.
type certificate struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
}

// newTLSConfig loads the certificate and key named in cfg and returns the
// server's TLS configuration and the certificate holder that reloads them.
func newTLSConfig(cfg *Config, log *slog.Logger) (*tls.Config, *certificate, error) {
	c := &certificate{certFile: cfg.TLSCert, keyFile: cfg.TLSKey, log: log}
	cert, err := c.load()
	if err != nil {
		return nil, nil, err
	}
	c.cur.Store(cert)
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12CipherSuites,
		GetCertificate: c.get,
	}, c, nil
}

func (c *certificate) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	return &cert, nil
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

// Reload reads the certificate and key files again. On success new
// handshakes present the new certificate; on failure the current one stays
// in use and the error is logged and returned.
func (c *certificate) Reload() error {
	cert, err := c.load()
	if err != nil {
		c.log.Error("TLS certificate not reloaded; keeping the current one", "err", err)
		return err
	}
	c.cur.Store(cert)
	attrs := []any{"cert_file", c.certFile}
	if leaf := cert.Leaf; leaf != nil {
		sum := sha256.Sum256(leaf.Raw)
		attrs = append(attrs, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter, "sha256", hex.EncodeToString(sum[:]))
	}
	c.log.Info("reloaded TLS certificate", attrs...)
	return nil
}

// ErrNoTLS is returned by [Server.ReloadTLS] when the server does not
// serve TLS.
var ErrNoTLS = errors.New("server: TLS is not configured")

// ReloadTLS reloads the TLS certificate and key from their files, for
// certificate rotation (trent server does it on SIGHUP). Connections
// already established are not affected. If the new files cannot be loaded
// the current certificate stays in use; the error is logged and returned.
// It returns ErrNoTLS if the server serves plain HTTP.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return ErrNoTLS
	}
	return s.certs.Reload()
}
