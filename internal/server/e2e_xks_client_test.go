package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/wire"
	"github.com/trent-kms/trent/internal/xks"
)

// testPKI is a test certificate authority.
type testPKI struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

func newTestPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustNil(t, "GenerateKey", err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	mustNil(t, "CreateCertificate", err)
	cert, err := x509.ParseCertificate(der)
	mustNil(t, "ParseCertificate", err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testPKI{t: t, cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a leaf certificate for cn (a DNS name too when server).
func (p *testPKI) issue(cn string, server bool) tls.Certificate {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustNil(p.t, "GenerateKey", err)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.DNSNames = []string{cn}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, key.Public(), p.key)
	mustNil(p.t, "CreateCertificate", err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// files writes a certificate and its key as PEM files.
func writeCert(t *testing.T, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	kb, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	mustNil(t, "MarshalPKCS8PrivateKey", err)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	mustNil(t, "write cert", os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600))
	mustNil(t, "write key", os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600))
	return certFile, keyFile
}

const xksHost = "xks.trent.test"

// dialTo dials addr whatever address is asked for, as curl --resolve
// sends a host name to a chosen address.
func dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

// startTLSXKSProxy starts the suite's proxy with TLS for xksHost and
// mutual TLS for clients of kmsCA named cks.kms.us-east-1.amazonaws.com.
func startTLSXKSProxy(t *testing.T) (x *xksTarget, ids map[string]string, serverCA, kmsCA *testPKI) {
	t.Helper()
	serverCA, kmsCA = newTestPKI(t, "server CA"), newTestPKI(t, "KMS CA")
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, "xks", serverCA.issue(xksHost, true))
	caFile := filepath.Join(dir, "kms-ca.pem")
	mustNil(t, "write CA", os.WriteFile(caFile, kmsCA.pem, 0o600))
	x, ids = startXKSProxy(t, func(c *server.Config) {
		c.XKS.TLSCert, c.XKS.TLSKey = certFile, keyFile
		c.XKS.ClientCA, c.XKS.ClientSubjects = caFile, []string{"cks.kms.us-east-1.amazonaws.com"}
	})
	return x, ids, serverCA, kmsCA
}

func xksClient(t *testing.T, addr string, mod func(*xks.ClientConfig)) *xks.Client {
	t.Helper()
	cfg := xks.ClientConfig{Endpoint: "https://" + xksHost, URIPath: xksPrefix + "/kms/xks/v1", Region: "us-east-1",
		Credential: xks.Credential{AccessKeyID: xksAccessKeyID, Secret: xksSecret}, Dial: dialTo(addr)}
	if mod != nil {
		mod(&cfg)
	}
	c, err := xks.NewClient(cfg)
	mustNil(t, "NewClient", err)
	return c
}

func wantProxyError(t *testing.T, err error, kind xks.Kind, name string) *xks.ProxyError {
	t.Helper()
	var pe *xks.ProxyError
	if !errors.As(err, &pe) || pe.Kind != kind || pe.Name != name {
		t.Fatalf("error %v, want %v %s", err, kind, name)
	}
	return pe
}

var cryptoMeta = xks.RequestMetadata{AWSPrincipalARN: "arn:aws:iam::111122223333:root", KMSKeyARN: "arn:aws:kms:us-east-1:111122223333:key/k",
	KMSOperation: "Encrypt", KMSRequestID: "r-1"}

// TestXKSClientAgainstTrentProxy runs Trent's XKS client against Trent's
// proxy over TLS with mutual TLS, and each way the call can fail.
func TestXKSClientAgainstTrentProxy(t *testing.T) {
	x, _, serverCA, kmsCA := startTLSXKSProxy(t)
	addr := x.n.srv.XKSURL()[len("https://"):]
	kmsCert := kmsCA.issue("cks.kms.us-east-1.amazonaws.com", false)
	good := func(c *xks.ClientConfig) { c.RootCAs, c.Certificates = serverCA.pool, []tls.Certificate{kmsCert} }
	c := xksClient(t, addr, good)
	ctx := context.Background()

	t.Run("health", func(t *testing.T) {
		h, err := c.GetHealthStatus(ctx, xks.RequestMetadata{KMSOperation: "ConnectCustomKeyStore", KMSRequestID: "r-0"})
		mustNil(t, "GetHealthStatus", err)
		if !h.Available() || h.XksProxyVendor != "Trent" {
			t.Fatalf("health %+v", h)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		m, err := c.GetKeyMetadata(ctx, "foo", xks.RequestMetadata{AWSPrincipalARN: "p", KMSOperation: "CreateKey", KMSRequestID: "r"})
		mustNil(t, "GetKeyMetadata", err)
		if m.KeySpec != "AES_256" || m.KeyStatus != "ENABLED" || len(m.KeyUsage) != 2 {
			t.Fatalf("metadata %+v", m)
		}
	})
	t.Run("encrypt and decrypt with CDIV", func(t *testing.T) {
		pt, aad := []byte("a data key of 32 bytes, exactly"), []byte("header and context")
		enc, err := c.Encrypt(ctx, "foo", &xks.EncryptRequest{RequestMetadata: &cryptoMeta, Plaintext: pt, AdditionalAuthenticatedData: aad,
			EncryptionAlgorithm: xks.AlgorithmAESGCM, CiphertextDataIntegrityValueAlgorithm: xks.CDIVSHA256})
		mustNil(t, "Encrypt", err)
		dec, err := c.Decrypt(ctx, "foo", &xks.DecryptRequest{RequestMetadata: &cryptoMeta, Ciphertext: enc.Ciphertext, CiphertextMetadata: enc.CiphertextMetadata,
			InitializationVector: enc.InitializationVector, AuthenticationTag: enc.AuthenticationTag, AdditionalAuthenticatedData: aad,
			EncryptionAlgorithm: xks.AlgorithmAESGCM})
		mustNil(t, "Decrypt", err)
		if string(dec.Plaintext) != string(pt) {
			t.Fatalf("plaintext %q", dec.Plaintext)
		}
	})
	t.Run("key disabled on the proxy side", func(t *testing.T) {
		_, err := c.Encrypt(ctx, "disabled_key", &xks.EncryptRequest{RequestMetadata: &cryptoMeta, Plaintext: []byte("x"), EncryptionAlgorithm: xks.AlgorithmAESGCM})
		wantProxyError(t, err, xks.KindErrorName, xks.ErrInvalidState)
		var we *wire.Error
		if !errors.As(xks.KMSError(err, xks.ForCrypto), &we) || we.Code != "KMSInvalidStateException" || we.Message != xks.MsgKeyNotEnabled {
			t.Fatalf("KMS error %v", we)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		bad := xksClient(t, addr, func(cfg *xks.ClientConfig) {
			good(cfg)
			cfg.Credential.Secret = xksSecret2
		})
		_, err := bad.GetHealthStatus(ctx, xks.RequestMetadata{KMSOperation: "ConnectCustomKeyStore", KMSRequestID: "r"})
		wantProxyError(t, err, xks.KindErrorName, xks.ErrAuthenticationFailed)
		if xks.ConnectionErrorCode(err) != "INVALID_CREDENTIALS" {
			t.Fatalf("connection error code %s", xks.ConnectionErrorCode(err))
		}
	})
	t.Run("wrong URI path", func(t *testing.T) {
		bad := xksClient(t, addr, func(cfg *xks.ClientConfig) {
			good(cfg)
			cfg.URIPath = "/other/kms/xks/v1"
		})
		_, err := bad.GetHealthStatus(ctx, xks.RequestMetadata{KMSOperation: "ConnectCustomKeyStore", KMSRequestID: "r"})
		wantProxyError(t, err, xks.KindErrorName, xks.ErrInvalidURIPath)
		if xks.ConnectionErrorCode(err) != "XKS_PROXY_INVALID_CONFIGURATION" {
			t.Fatalf("connection error code %s", xks.ConnectionErrorCode(err))
		}
	})
	health := func(c *xks.Client) error {
		_, err := c.GetHealthStatus(ctx, xks.RequestMetadata{KMSOperation: "KmsHealthCheck", KMSRequestID: "r"})
		return err
	}
	t.Run("mutual TLS refuses a client without a certificate", func(t *testing.T) {
		err := health(xksClient(t, addr, func(cfg *xks.ClientConfig) { cfg.RootCAs = serverCA.pool }))
		wantProxyError(t, err, xks.KindTLS, "")
	})
	t.Run("mutual TLS refuses another subject name", func(t *testing.T) {
		other := kmsCA.issue("cks.kms.eu-west-1.amazonaws.com", false)
		err := health(xksClient(t, addr, func(cfg *xks.ClientConfig) {
			cfg.RootCAs, cfg.Certificates = serverCA.pool, []tls.Certificate{other}
		}))
		wantProxyError(t, err, xks.KindTLS, "")
	})
	t.Run("mutual TLS refuses another CA", func(t *testing.T) {
		other := newTestPKI(t, "other CA").issue("cks.kms.us-east-1.amazonaws.com", false)
		err := health(xksClient(t, addr, func(cfg *xks.ClientConfig) {
			cfg.RootCAs, cfg.Certificates = serverCA.pool, []tls.Certificate{other}
		}))
		wantProxyError(t, err, xks.KindTLS, "")
	})
	t.Run("untrusted proxy certificate", func(t *testing.T) {
		err := health(xksClient(t, addr, func(cfg *xks.ClientConfig) { cfg.Certificates = []tls.Certificate{kmsCert} }))
		wantProxyError(t, err, xks.KindTLS, "")
		if xks.ConnectionErrorCode(err) != "XKS_PROXY_INVALID_TLS_CONFIGURATION" {
			t.Fatalf("connection error code %s", xks.ConnectionErrorCode(err))
		}
	})
}

// TestXKSClientFailures: a proxy that is down, slow, or answers garbage.
func TestXKSClientFailures(t *testing.T) {
	ctx := context.Background()
	health := func(c *xks.Client) error {
		_, err := c.GetHealthStatus(ctx, xks.RequestMetadata{KMSOperation: "KmsHealthCheck", KMSRequestID: "r"})
		return err
	}
	t.Run("down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		mustNil(t, "Listen", err)
		addr := ln.Addr().String()
		ln.Close()
		err = health(xksClient(t, addr, nil))
		wantProxyError(t, err, xks.KindUnreachable, "")
		var we *wire.Error
		if !errors.As(xks.KMSError(err, xks.ForKeyStore), &we) || we.Code != "XksProxyUriUnreachableException" || we.Message != xks.MsgUnreachable {
			t.Fatalf("KMS error %v", we)
		}
		if xks.ConnectionErrorCode(err) != "XKS_PROXY_NOT_REACHABLE" {
			t.Fatalf("connection error code %s", xks.ConnectionErrorCode(err))
		}
	})
	// A peer that answers as a broken proxy would: a real TLS server.
	broken := func(t *testing.T, h http.HandlerFunc, mod func(*xks.ClientConfig)) error {
		srv := httptest.NewUnstartedServer(h)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		c := xksClient(t, srv.Listener.Addr().String(), func(cfg *xks.ClientConfig) {
			cfg.Endpoint, cfg.RootCAs = "https://example.com", pool
			if mod != nil {
				mod(cfg)
			}
		})
		return health(c)
	}
	t.Run("slow", func(t *testing.T) {
		stop := make(chan struct{})
		err := broken(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		}, func(cfg *xks.ClientConfig) { cfg.Timeout = 100 * time.Millisecond })
		close(stop) // before the server's cleanup closes it
		wantProxyError(t, err, xks.KindTimeout, "")
		if xks.ConnectionErrorCode(err) != "XKS_PROXY_TIMED_OUT" {
			t.Fatalf("connection error code %s", xks.ConnectionErrorCode(err))
		}
		var we *wire.Error
		if !errors.As(xks.KMSError(err, xks.ForCrypto), &we) || we.Code != "KMSInvalidStateException" || we.Message != xks.MsgTimeout {
			t.Fatalf("KMS error %v", we)
		}
	})
	for name, h := range map[string]http.HandlerFunc{
		"not JSON": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>hello</html>")) },
		"HTML error": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			w.Write([]byte("<html>bad gateway</html>"))
		},
		"unknown error": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			w.Write([]byte(`{"errorName":"Bogus"}`))
		},
		"no fleet details": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"xksProxyFleetSize":1,"ekmFleetDetails":[]}`))
		},
		"bad health": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"xksProxyFleetSize":1,"ekmFleetDetails":[{"healthStatus":"FINE"}]}`))
		},
	} {
		t.Run("garbage/"+name, func(t *testing.T) {
			err := broken(t, h, nil)
			wantProxyError(t, err, xks.KindInvalidResponse, "")
			var we *wire.Error
			if !errors.As(xks.KMSError(err, xks.ForKeyStore), &we) || we.Code != "XksProxyInvalidResponseException" || we.Message != xks.MsgInvalidResponse {
				t.Fatalf("KMS error %v", we)
			}
		})
	}
	t.Run("refuses", func(t *testing.T) {
		err := broken(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			w.Write([]byte(`{"errorName":"AccessDeniedException","errorMessage":"policy says no"}`))
		}, nil)
		pe := wantProxyError(t, err, xks.KindErrorName, xks.ErrAccessDenied)
		if pe.Detail != "policy says no" || xks.ConnectionErrorCode(err) != "XKS_PROXY_ACCESS_DENIED" {
			t.Fatalf("detail %q, code %s", pe.Detail, xks.ConnectionErrorCode(err))
		}
	})
	t.Run("all key managers unavailable", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"xksProxyFleetSize":1,"xksProxyVendor":"v","xksProxyModel":"m","ekmVendor":"e","ekmFleetDetails":[{"id":"1","model":"m","healthStatus":"UNAVAILABLE"}]}`))
		}))
		srv.StartTLS()
		t.Cleanup(srv.Close)
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		c := xksClient(t, srv.Listener.Addr().String(), func(cfg *xks.ClientConfig) { cfg.Endpoint, cfg.RootCAs = "https://example.com", pool })
		h, err := c.GetHealthStatus(ctx, xks.RequestMetadata{KMSOperation: "KmsHealthCheck", KMSRequestID: "r"})
		mustNil(t, "GetHealthStatus", err)
		if h.Available() {
			t.Fatal("a fleet that is all UNAVAILABLE is available")
		}
	})
	t.Run("encrypt answer of the wrong length", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"ciphertext":"AAAA","initializationVector":"AAAAAAAAAAAAAAAA","authenticationTag":"AAAAAAAAAAAAAAAAAAAAAA=="}`))
		}))
		srv.StartTLS()
		t.Cleanup(srv.Close)
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		c := xksClient(t, srv.Listener.Addr().String(), func(cfg *xks.ClientConfig) { cfg.Endpoint, cfg.RootCAs = "https://example.com", pool })
		_, err := c.Encrypt(ctx, "k", &xks.EncryptRequest{RequestMetadata: &cryptoMeta, Plaintext: []byte("0123456789"), EncryptionAlgorithm: xks.AlgorithmAESGCM})
		wantProxyError(t, err, xks.KindInvalidResponse, "")
	})
}
