package xks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// DefaultTimeout bounds one proxy call: "If KMS does not receive a
// response from the XKS proxy for any API call within 250ms, KMS will time
// out and the corresponding KMS API call will fail." (spec, GetKeyMetadata,
// KMS considerations).
const DefaultTimeout = 250 * time.Millisecond

// maxResponse bounds a proxy's answer.
const maxResponse = 256 << 10

// ClientConfig configures a [Client].
type ClientConfig struct {
	// Endpoint is XksProxyUriEndpoint: https://<host>.
	Endpoint string
	// URIPath is XksProxyUriPath: [/<prefix>]/kms/xks/v1.
	URIPath    string
	Credential Credential
	// Region is the SigV4 signing region: "the Region from which KMS
	// called the XKS Proxy" (spec, Appendix A).
	Region string
	// Timeout bounds each call, connection included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Transport carries the requests; nil means a transport with TLS 1.2
	// or later, verifying the proxy's certificate against the system's
	// roots (or RootCAs), without proxies from the environment.
	Transport http.RoundTripper
	// RootCAs, if set, replaces the system roots for the proxy's
	// certificate (for a Transport built by the client).
	RootCAs *x509.CertPool
	// Certificates are presented to a proxy that asks for a client
	// certificate (mutual TLS), for a Transport built by the client.
	Certificates []tls.Certificate
	// Dial, if set, dials for a Transport built by the client: tests and
	// operators use it to reach a host name at another address, as
	// curl --resolve does.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the signing clock; nil means time.Now.
	Now func() time.Time
}

// Client calls an XKS proxy. It is safe for concurrent use.
type Client struct {
	// certAsked is set once a proxy asked this client for a TLS client
	// certificate (see transportError).
	certAsked atomic.Bool
	cfg       ClientConfig
	base      string
	http      *http.Client
	signer    *v4.Signer
}

// NewClient checks cfg and returns a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("xks: endpoint %q must be https://<host>", cfg.Endpoint)
	}
	if err := CheckURIPath(cfg.URIPath); err != nil {
		return nil, fmt.Errorf("xks: %w", err)
	}
	if err := CheckCredential(cfg.Credential); err != nil {
		return nil, fmt.Errorf("xks: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("xks: a signing region is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg, base: strings.TrimSuffix(cfg.Endpoint, "/") + cfg.URIPath, signer: v4.NewSigner()}
	tr := cfg.Transport
	if tr == nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c.certAsked.Store(true)
			if len(cfg.Certificates) > 0 {
				return &cfg.Certificates[0], nil
			}
			return &tls.Certificate{}, nil
		}
		t := &http.Transport{
			TLSClientConfig:     tc,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		}
		if cfg.Dial != nil {
			t.DialContext = cfg.Dial
		}
		tr = t
	}
	c.http = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

// Failure kinds of a [ProxyError].
type Kind int

const (
	// KindErrorName: the proxy answered with an error name of the
	// specification (ProxyError.Name).
	KindErrorName Kind = iota + 1
	// KindUnreachable: no TCP connection (refused, no route, DNS).
	KindUnreachable
	// KindTLS: no TLS connection (certificate, version, handshake).
	KindTLS
	// KindTimeout: no answer within the timeout.
	KindTimeout
	// KindInvalidResponse: an answer that is not what the specification
	// prescribes (not JSON, an unknown error name, missing or malformed
	// members).
	KindInvalidResponse
)

func (k Kind) String() string {
	switch k {
	case KindErrorName:
		return "error"
	case KindUnreachable:
		return "unreachable"
	case KindTLS:
		return "tls"
	case KindTimeout:
		return "timeout"
	case KindInvalidResponse:
		return "invalid-response"
	}
	return "unknown"
}

// ProxyError is a failed proxy call. Check with errors.As.
type ProxyError struct {
	Kind Kind
	Name string // KindErrorName: the errorName
	// Status is the HTTP status of an answer, 0 without one.
	Status int
	// Detail is the proxy's errorMessage or what was wrong; logged, never
	// shown to a KMS caller.
	Detail string
	Err    error
}

func (e *ProxyError) Error() string {
	s := "xks proxy: " + e.Kind.String()
	if e.Name != "" {
		s += " " + e.Name
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ProxyError) Unwrap() error { return e.Err }

func invalidResponse(status int, format string, args ...any) *ProxyError {
	return &ProxyError{Kind: KindInvalidResponse, Status: status, Detail: fmt.Sprintf(format, args...)}
}

// GetHealthStatus calls GetHealthStatus and checks the answer's shape
// (spec, GetHealthStatus: a fleet size above zero, one to ten
// ekmFleetDetails entries with a known healthStatus).
func (c *Client) GetHealthStatus(ctx context.Context, m RequestMetadata) (*HealthResponse, error) {
	var out HealthResponse
	if err := c.call(ctx, "/health", &HealthRequest{RequestMetadata: &m}, &out); err != nil {
		return nil, err
	}
	if out.XksProxyFleetSize < 1 || len(out.EkmFleetDetails) < 1 || len(out.EkmFleetDetails) > 10 {
		return nil, invalidResponse(200, "GetHealthStatus: fleet size %d and %d ekmFleetDetails entries", out.XksProxyFleetSize, len(out.EkmFleetDetails))
	}
	for _, d := range out.EkmFleetDetails {
		switch d.HealthStatus {
		case HealthActive, HealthDegraded, HealthUnavailable:
		default:
			return nil, invalidResponse(200, "GetHealthStatus: healthStatus %q", d.HealthStatus)
		}
	}
	return &out, nil
}

// Available reports whether a health answer shows at least one external
// key manager that can serve traffic (ACTIVE or DEGRADED).
func (h *HealthResponse) Available() bool {
	for _, d := range h.EkmFleetDetails {
		if d.HealthStatus == HealthActive || d.HealthStatus == HealthDegraded {
			return true
		}
	}
	return false
}

// GetKeyMetadata calls GetKeyMetadata for an external key.
func (c *Client) GetKeyMetadata(ctx context.Context, keyID string, m RequestMetadata) (*GetKeyMetadataResponse, error) {
	if !ValidExternalKeyID(keyID) {
		return nil, fmt.Errorf("xks: invalid external key id %q", keyID)
	}
	var out GetKeyMetadataResponse
	if err := c.call(ctx, "/keys/"+keyID+"/metadata", &GetKeyMetadataRequest{RequestMetadata: &m}, &out); err != nil {
		return nil, err
	}
	if out.KeySpec == "" || out.KeyUsage == nil || len(out.KeyUsage) > 10 || (out.KeyStatus != StatusEnabled && out.KeyStatus != StatusDisabled) {
		return nil, invalidResponse(200, "GetKeyMetadata: keySpec %q, %d keyUsage values, keyStatus %q", out.KeySpec, len(out.KeyUsage), out.KeyStatus)
	}
	return &out, nil
}

// Encrypt calls Encrypt and checks the answer: ciphertext as long as the
// plaintext, a 12- or 16-byte IV, a 16-byte tag, at most 20 bytes of
// ciphertextMetadata, and, when in asks for one, a ciphertext data
// integrity value that matches the one computed here (spec, Encrypt:
// "KMS will independently calculate the ciphertextDataIntegrityValue
// (CDIV) and return an error to the caller if the computed value does not
// match").
func (c *Client) Encrypt(ctx context.Context, keyID string, in *EncryptRequest) (*EncryptResponse, error) {
	if !ValidExternalKeyID(keyID) {
		return nil, fmt.Errorf("xks: invalid external key id %q", keyID)
	}
	var out EncryptResponse
	if err := c.call(ctx, "/keys/"+keyID+"/encrypt", in, &out); err != nil {
		return nil, err
	}
	switch {
	case len(out.Ciphertext) != len(in.Plaintext):
		return nil, invalidResponse(200, "Encrypt: %d bytes of ciphertext for %d of plaintext", len(out.Ciphertext), len(in.Plaintext))
	case len(out.InitializationVector) != 12 && len(out.InitializationVector) != 16:
		return nil, invalidResponse(200, "Encrypt: a %d-byte IV", len(out.InitializationVector))
	case len(out.AuthenticationTag) != 16:
		return nil, invalidResponse(200, "Encrypt: a %d-byte tag", len(out.AuthenticationTag))
	case len(out.CiphertextMetadata) > MaxCiphertextMetadata:
		return nil, invalidResponse(200, "Encrypt: %d bytes of ciphertextMetadata", len(out.CiphertextMetadata))
	}
	if in.CiphertextDataIntegrityValueAlgorithm != "" {
		want := CDIV(in.AdditionalAuthenticatedData, out.CiphertextMetadata, out.InitializationVector, out.Ciphertext, out.AuthenticationTag)
		if !bytes.Equal(want, out.CiphertextDataIntegrityValue) {
			return nil, invalidResponse(200, "Encrypt: the ciphertextDataIntegrityValue does not match")
		}
	}
	return &out, nil
}

// Decrypt calls Decrypt and checks that the plaintext is as long as the
// ciphertext.
func (c *Client) Decrypt(ctx context.Context, keyID string, in *DecryptRequest) (*DecryptResponse, error) {
	if !ValidExternalKeyID(keyID) {
		return nil, fmt.Errorf("xks: invalid external key id %q", keyID)
	}
	var out DecryptResponse
	if err := c.call(ctx, "/keys/"+keyID+"/decrypt", in, &out); err != nil {
		return nil, err
	}
	if len(out.Plaintext) != len(in.Ciphertext) {
		clear(out.Plaintext)
		return nil, invalidResponse(200, "Decrypt: %d bytes of plaintext for %d of ciphertext", len(out.Plaintext), len(in.Ciphertext))
	}
	return &out, nil
}

// call POSTs in as JSON to the operation's path, signed, and decodes a
// 200 answer into out.
func (c *Client) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("xks: encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+op, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("xks: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: c.cfg.Credential.AccessKeyID, SecretAccessKey: c.cfg.Credential.Secret}
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), SigningName, c.cfg.Region, c.cfg.Now()); err != nil {
		return fmt.Errorf("xks: sign request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return c.transportError(ctx, err)
	}
	if len(raw) > maxResponse {
		return invalidResponse(resp.StatusCode, "answer exceeds %d bytes", maxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		var eb ErrorBody
		if json.Unmarshal(raw, &eb) != nil || !KnownError(eb.ErrorName) {
			return invalidResponse(resp.StatusCode, "HTTP %d without a known errorName", resp.StatusCode)
		}
		return &ProxyError{Kind: KindErrorName, Name: eb.ErrorName, Status: resp.StatusCode, Detail: printable(eb.ErrorMessage)}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(out); err != nil {
		return &ProxyError{Kind: KindInvalidResponse, Status: resp.StatusCode, Detail: "answer is not the operation's JSON", Err: err}
	}
	return nil
}

// printable keeps at most 512 printable ASCII characters of a proxy's
// errorMessage, for logs.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 512; i++ {
		if s[i] >= 0x20 && s[i] <= 0x7e {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// transportError classifies a failure to get an answer.
//
// Under TLS 1.3 a server that refuses the client's certificate (mutual
// TLS) says so after the client considers the handshake complete: the
// client then sees the connection closed under its first request (a
// broken pipe, a reset, or HTTP/2's "client conn could not be
// established") rather than a TLS alert. When the client presents a
// certificate, those failures are classed as TLS failures (inferred: the
// proxy's refusal of the certificate is their likely cause).
func (c *Client) transportError(ctx context.Context, err error) *ProxyError {
	if c.certAsked.Load() && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(err.Error(), "client conn could not be established")) {
		return &ProxyError{Kind: KindTLS, Err: err}
	}
	var (
		ne       net.Error
		certErr  *tls.CertificateVerificationError
		alertErr tls.AlertError
		recErr   tls.RecordHeaderError
		hostErr  x509.HostnameError
		authErr  x509.UnknownAuthorityError
		invErr   x509.CertificateInvalidError
		opErr    *net.OpError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &alertErr), errors.As(err, &recErr),
		errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &invErr):
		return &ProxyError{Kind: KindTLS, Err: err}
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded || (errors.As(err, &ne) && ne.Timeout()):
		return &ProxyError{Kind: KindTimeout, Err: err}
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return &ProxyError{Kind: KindUnreachable, Err: err}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, os.ErrDeadlineExceeded):
		return &ProxyError{Kind: KindInvalidResponse, Err: err}
	}
	if strings.Contains(err.Error(), "tls:") {
		return &ProxyError{Kind: KindTLS, Err: err}
	}
	return &ProxyError{Kind: KindUnreachable, Err: err}
}
