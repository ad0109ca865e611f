package kms

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
	"github.com/trent-kms/trent/internal/xks"
)

// This file is the EXTERNAL_KEY_STORE backend of the custom key store
// framework (cks.go): Trent as an XKS client (docs/xks.md).
//
// # Double encryption
//
// AWS KMS encrypts data under a key in an external key store twice: "First,
// AWS KMS encrypts the data using AWS KMS key material in the KMS key.
// Then, the external key store proxy ... encrypts the encrypted data using
// the external key" (KMS Developer Guide, keystore-external.html, "Double
// encryption"). Trent does the same: each such key has one Trent-held
// AES-256 material (sealed under the root key like any other); SealBlob
// encrypts the plaintext with it, then sends that ciphertext to the proxy's
// Encrypt; OpenBlob reverses both. The blob is version 2
// (docs/ciphertext.md): the version 1 header with version byte 0x02, then
// the envelope ivLen(1) || iv || metadataLen(1) || ciphertextMetadata ||
// tag(16) || proxy ciphertext, where the proxy ciphertext is the proxy's
// encryption of nonce(12) || Trent ciphertext || Trent tag. Both layers
// take as AAD the header's first 50 bytes (version, key id, material id)
// and the canonical encryption context, so neither key alone decrypts and
// neither layer can be moved to another key or context.

// XKSBackendConfig configures the EXTERNAL_KEY_STORE backend.
type XKSBackendConfig struct {
	Root   keystore.Root
	Rand   io.Reader
	Logger *slog.Logger
	// Timeout bounds each proxy call; 0 means xks.DefaultTimeout (250 ms,
	// AWS's).
	Timeout time.Duration
	// RootCAs verify proxies' certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// Certificates are presented to proxies that require mutual TLS.
	Certificates []tls.Certificate
	// Resolve maps a proxy host name to the host:port to dial, as curl
	// --resolve does (XksProxyUriEndpoint has no port).
	Resolve map[string]string
}

type xksBackend struct{ cfg XKSBackendConfig }

// NewXKSBackend returns the EXTERNAL_KEY_STORE [KeyStoreBackend].
func NewXKSBackend(cfg XKSBackendConfig) KeyStoreBackend {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &xksBackend{cfg: cfg}
}

var _ KeyStoreBackend = (*xksBackend)(nil)

// The model's patterns (XksProxyUriEndpointType, XksProxyUriPathType).
var (
	xksEndpointPattern = regexp.MustCompile(`^https://[a-zA-Z0-9.-]+$`)
)

// client returns a client for the store's proxy with the credential's
// secret.
func (b *xksBackend) client(rec *store.CustomKeyStore, secret []byte) (*xks.Client, error) {
	cfg := xks.ClientConfig{Endpoint: rec.XksProxyURIEndpoint, URIPath: rec.XksProxyURIPath, Region: rec.Region,
		Credential: xks.Credential{AccessKeyID: rec.XksProxyAccessKeyID, Secret: string(secret)},
		Timeout:    b.cfg.Timeout, RootCAs: b.cfg.RootCAs, Certificates: b.cfg.Certificates}
	if len(b.cfg.Resolve) > 0 {
		cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err == nil {
				if to, ok := b.cfg.Resolve[host]; ok {
					addr = to
				}
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
	}
	return xks.NewClient(cfg)
}

// checkFields checks the EXTERNAL_KEY_STORE members of a create or update
// and applies them to rec. It returns the new raw secret, if any.
func checkXKSFields(rec *store.CustomKeyStore, connectivity, vpcService, endpoint, path *string, cred *wire.XksProxyAuthenticationCredentialType, create bool) ([]byte, error) {
	if c := wire.Value(connectivity); connectivity != nil || create {
		switch c {
		case "PUBLIC_ENDPOINT":
		case "VPC_ENDPOINT_SERVICE":
			return nil, wire.Errorf("UnsupportedOperationException", "XksProxyConnectivity VPC_ENDPOINT_SERVICE is not supported by this server: Trent reaches external key store proxies only at public endpoints. Use PUBLIC_ENDPOINT.")
		case "":
			return nil, validationError("XksProxyConnectivity is required for a custom key store of type EXTERNAL_KEY_STORE.")
		default:
			return nil, validationError(fmt.Sprintf("1 validation error detected: Value '%s' at 'xksProxyConnectivity' failed to satisfy constraint: Member must satisfy enum value set: [PUBLIC_ENDPOINT, VPC_ENDPOINT_SERVICE]", c))
		}
		rec.XksProxyConnectivity = c
	}
	if vpcService != nil {
		return nil, validationError("XksProxyVpcEndpointServiceName is valid only when XksProxyConnectivity is VPC_ENDPOINT_SERVICE.")
	}
	if endpoint != nil || create {
		e := wire.Value(endpoint)
		if e == "" {
			return nil, validationError("XksProxyUriEndpoint is required for a custom key store of type EXTERNAL_KEY_STORE.")
		}
		if len(e) < 10 || len(e) > 128 || !xksEndpointPattern.MatchString(e) {
			return nil, validationError(fmt.Sprintf("1 validation error detected: Value '%s' at 'xksProxyUriEndpoint' failed to satisfy constraint: Member must satisfy regular expression pattern: ^https://[a-zA-Z0-9.-]+$", e))
		}
		rec.XksProxyURIEndpoint = e
	}
	if path != nil || create {
		p := wire.Value(path)
		if p == "" {
			return nil, validationError("XksProxyUriPath is required for a custom key store of type EXTERNAL_KEY_STORE.")
		}
		if len(p) < 10 || xks.CheckURIPath(p) != nil {
			return nil, validationError(fmt.Sprintf("XksProxyUriPath %s must be [/<prefix>]/kms/xks/v1, at most 128 characters of a-z, A-Z, 0-9, /, - and _.", p))
		}
		rec.XksProxyURIPath = p
	}
	if cred == nil {
		if create {
			return nil, validationError("XksProxyAuthenticationCredential is required for a custom key store of type EXTERNAL_KEY_STORE.")
		}
		return nil, nil
	}
	c := xks.Credential{AccessKeyID: wire.Value(cred.AccessKeyId), Secret: wire.Value(cred.RawSecretAccessKey)}
	if err := xks.CheckCredential(c); err != nil {
		// The message names the access key id, never the secret.
		return nil, validationError("XksProxyAuthenticationCredential: " + err.Error())
	}
	rec.XksProxyAccessKeyID = c.AccessKeyID
	return []byte(c.Secret), nil
}

// refuseCloudHSMFields refuses the AWS_CLOUDHSM members in an external
// key store request.
func refuseCloudHSMFields(cluster, anchor, password *string) error {
	if cluster != nil || anchor != nil || password != nil {
		return validationError("CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are valid only for a custom key store of type AWS_CLOUDHSM.")
	}
	return nil
}

// uriInUse refuses a proxy URI another external key store of the account
// and region has: "the concatenation of the XksProxyUriEndpoint and
// XksProxyUriPath is already associated with an external key store" (the
// model, XksProxyUriInUseException).
func uriInUse(rec *store.CustomKeyStore, others []store.CustomKeyStore) error {
	for _, o := range others {
		if o.ID != rec.ID && o.Type == store.TypeExternal && o.XksProxyURIEndpoint == rec.XksProxyURIEndpoint && o.XksProxyURIPath == rec.XksProxyURIPath {
			return wire.Errorf("XksProxyUriInUseException", "The XksProxyUriEndpoint and XksProxyUriPath %s%s are already associated with external key store %s in this account and Region.", rec.XksProxyURIEndpoint, rec.XksProxyURIPath, o.ID)
		}
	}
	return nil
}

// requestID returns id, or a new random one for a call made outside a
// KMS request (a background connection): the proxy needs a kmsRequestId.
func (b *xksBackend) requestID(id string) string {
	if id != "" {
		return id
	}
	if u, err := generateKeyID(b.cfg.Rand); err == nil {
		return u
	}
	return "trent-internal"
}

// health calls GetHealthStatus for a key store operation and maps a
// failure to the operation's exception.
func (b *xksBackend) health(ctx context.Context, rec *store.CustomKeyStore, secret []byte, op string) error {
	c, err := b.client(rec, secret)
	if err != nil {
		return err
	}
	h, err := c.GetHealthStatus(ctx, xks.RequestMetadata{KMSOperation: op, KMSRequestID: b.requestID(RequestID(ctx))})
	if err == nil && !h.Available() {
		err = xks.ErrAllUnavailable
	}
	if err != nil {
		b.cfg.Logger.Warn("external key store proxy health check failed", "custom_key_store_id", rec.ID, "operation", op, "err", err)
		return xks.KMSError(err, xks.ForKeyStore)
	}
	return nil
}

func (b *xksBackend) Create(ctx context.Context, rec *store.CustomKeyStore, in *wire.CreateCustomKeyStoreRequest, others []store.CustomKeyStore) ([]byte, error) {
	if err := refuseCloudHSMFields(in.CloudHsmClusterId, in.TrustAnchorCertificate, in.KeyStorePassword); err != nil {
		return nil, err
	}
	secret, err := checkXKSFields(rec, in.XksProxyConnectivity, in.XksProxyVpcEndpointServiceName, in.XksProxyUriEndpoint, in.XksProxyUriPath, in.XksProxyAuthenticationCredential, true)
	if err != nil {
		return nil, err
	}
	if err := uriInUse(rec, others); err != nil {
		clear(secret)
		return nil, err
	}
	// "KMS invokes the GetHealthStatus to validate the XKS Proxy's
	// endpoint and authentication key when a customer calls the
	// CreateCustomKeyStore or UpdateCustomKeyStore or
	// ConnectCustomKeyStore APIs." (XKS proxy API specification)
	if err := b.health(ctx, rec, secret, "CreateCustomKeyStore"); err != nil {
		clear(secret)
		return nil, err
	}
	return secret, nil
}

func (b *xksBackend) Update(ctx context.Context, rec *store.CustomKeyStore, in *wire.UpdateCustomKeyStoreRequest, others []store.CustomKeyStore) ([]byte, error) {
	if err := refuseCloudHSMFields(in.CloudHsmClusterId, nil, in.KeyStorePassword); err != nil {
		return nil, err
	}
	// Changing where the proxy is needs the store disconnected; the
	// credential may change while it is connected, which is how it is
	// rotated (inferred from the XKS specification's rotation steps,
	// which call UpdateCustomKeyStore without disconnecting).
	if (in.XksProxyUriEndpoint != nil || in.XksProxyUriPath != nil || in.XksProxyConnectivity != nil) && rec.ConnectionState != store.Disconnected {
		return nil, ErrKeyStoreInvalidState
	}
	secret, err := checkXKSFields(rec, in.XksProxyConnectivity, in.XksProxyVpcEndpointServiceName, in.XksProxyUriEndpoint, in.XksProxyUriPath, in.XksProxyAuthenticationCredential, false)
	if err != nil {
		return nil, err
	}
	if err := uriInUse(rec, others); err != nil {
		clear(secret)
		return nil, err
	}
	if secret != nil {
		if err := b.health(ctx, rec, secret, "UpdateCustomKeyStore"); err != nil {
			clear(secret)
			return nil, err
		}
	}
	return secret, nil
}

func (b *xksBackend) Connect(ctx context.Context, rec store.CustomKeyStore, secret []byte) (KeyStoreConn, error) {
	c, err := b.client(&rec, secret)
	if err != nil {
		return nil, &ConnectError{Code: "XKS_PROXY_INVALID_CONFIGURATION", Err: err}
	}
	h, err := c.GetHealthStatus(ctx, xks.RequestMetadata{KMSOperation: "ConnectCustomKeyStore", KMSRequestID: b.requestID(RequestID(ctx))})
	if err == nil && !h.Available() {
		err = xks.ErrAllUnavailable
	}
	if err != nil {
		return nil, &ConnectError{Code: xks.ConnectionErrorCode(err), Err: err}
	}
	return &xksConn{b: b, rec: rec, client: c}, nil
}

// xksConn is a connection to an external key store proxy: a client.
type xksConn struct {
	b      *xksBackend
	rec    store.CustomKeyStore
	client *xks.Client
}

func (c *xksConn) Close() error { return nil }

func (c *xksConn) DestroyKey(context.Context, *store.Key) error { return nil }

// NewKey checks the external key with GetKeyMetadata and makes the key's
// Trent-held material. "Invocation of the KMS CreateKey API will fail if
// any one (or more) of the following is true: keySpec is not AES_256,
// keyUsage is missing ENCRYPT or DECRYPT (or both), keyStatus is not
// ENABLED" (XKS proxy API specification, GetKeyMetadata).
func (c *xksConn) NewKey(ctx context.Context, k *store.Key, in *wire.CreateKeyRequest) error {
	id := wire.Value(in.XksKeyId)
	if id == "" {
		return validationError("XksKeyId is required when Origin is EXTERNAL_KEY_STORE.")
	}
	if !xks.ValidExternalKeyID(id) {
		return validationError(fmt.Sprintf("1 validation error detected: Value '%s' at 'xksKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9-_.]+$", id))
	}
	r := EngineRequestFrom(ctx)
	md, err := c.client.GetKeyMetadata(ctx, id, xks.RequestMetadata{AWSPrincipalARN: r.Principal, KMSOperation: "CreateKey", KMSRequestID: c.b.requestID(r.RequestID)})
	if err != nil {
		c.b.cfg.Logger.Warn("external key check failed", "custom_key_store_id", c.rec.ID, "xks_key_id", id, "err", err)
		return xks.KMSError(err, xks.ForCreateKey)
	}
	// Messages inferred: AWS's texts for these checks are not recorded.
	switch {
	case md.KeySpec != xks.KeySpecAES256:
		return wire.Errorf("XksKeyInvalidConfigurationException", "The external key %s has key spec %s; an external key store key needs AES_256.", id, md.KeySpec)
	case !slices.Contains(md.KeyUsage, xks.UsageEncrypt) || !slices.Contains(md.KeyUsage, xks.UsageDecrypt):
		return wire.Errorf("XksKeyInvalidConfigurationException", "The external key %s must support both ENCRYPT and DECRYPT.", id)
	case md.KeyStatus != xks.StatusEnabled:
		return wire.Errorf("XksKeyInvalidConfigurationException", "The external key %s is not enabled in the external key manager.", id)
	}
	raw, err := keystore.GenerateSymmetric(c.b.cfg.Rand)
	if err != nil {
		return err
	}
	defer clear(raw)
	mid, err := keystore.GenerateMaterialID(c.b.cfg.Rand)
	if err != nil {
		return err
	}
	arn := KeyARN(k.Region, k.AccountID, k.KeyID)
	sealed, err := c.b.cfg.Root.Seal(raw, keystore.MaterialAAD(arn, mid))
	if err != nil {
		return fmt.Errorf("seal the material of %s: %w", arn, err)
	}
	k.CurrentMaterialID = mid
	k.Materials = []store.Material{{ID: mid, Sealed: sealed, CreatedAt: k.CreationDate}}
	k.XksKeyID = id
	return nil
}

// Engine returns the double-encryption engine of k.
func (c *xksConn) Engine(k *store.Key) (Engine, error) {
	arn := KeyARN(k.Region, k.AccountID, k.KeyID)
	if len(k.Materials) != 1 || k.XksKeyID == "" {
		return nil, fmt.Errorf("key %s in external key store %s has %d materials and external key %q", arn, c.rec.ID, len(k.Materials), k.XksKeyID)
	}
	m := k.Materials[0]
	raw, err := c.b.cfg.Root.Open(m.Sealed, keystore.MaterialAAD(arn, m.ID))
	if err != nil {
		return nil, fmt.Errorf("unseal material %s of %s: %w", m.ID, arn, err)
	}
	sk, err := keystore.NewSymmetricKey(raw)
	clear(raw)
	if err != nil {
		return nil, err
	}
	return &xksEngine{unavailableEngine: unavailableEngine{ErrNoMaterial}, conn: c, arn: arn, xksKeyID: k.XksKeyID, materialID: m.ID, inner: sk.AEAD()}, nil
}

// xksEngine is the engine of a key in an external key store.
type xksEngine struct {
	unavailableEngine // every operation but SealBlob and OpenBlob
	conn              *xksConn
	arn, xksKeyID     string
	materialID        string
	inner             keystore.AEAD
}

var _ RequestEngine = (*xksEngine)(nil)

const envelopeTag = 16

// SealBlob seals without a request: the proxy is told "AWS Internal" as
// the principal, as the specification allows for calls not made on a
// principal's behalf.
func (e *xksEngine) SealBlob(rand io.Reader, keyID string, pt []byte, encCtx map[string]string) ([]byte, string, error) {
	return e.SealBlobFor(&EngineRequest{Ctx: context.Background(), Principal: "AWS Internal", KeyARN: e.arn}, rand, keyID, pt, encCtx)
}

func (e *xksEngine) OpenBlob(c *keystore.Ciphertext, encCtx map[string]string) ([]byte, error) {
	return e.OpenBlobFor(&EngineRequest{Ctx: context.Background(), Principal: "AWS Internal", KeyARN: e.arn}, c, encCtx)
}

func (e *xksEngine) metadata(r *EngineRequest) *xks.RequestMetadata {
	p := r.Principal
	if p == "" {
		p = "AWS Internal"
	}
	op := r.Operation
	if op == "" {
		op = "KmsInternal"
	}
	return &xks.RequestMetadata{AWSPrincipalARN: p, KMSKeyARN: e.arn, KMSOperation: op, KMSRequestID: e.conn.b.requestID(r.RequestID)}
}

// aad is the additional data of both layers: the blob header without its
// length field, and the canonical encryption context.
func aad(header []byte, encCtx map[string]string) []byte {
	return keystore.ContextAAD(header[:50], encCtx)
}

func (e *xksEngine) SealBlobFor(r *EngineRequest, rand io.Reader, keyID string, pt []byte, encCtx map[string]string) ([]byte, string, error) {
	// The header's length is not known before the proxy answers, and it
	// is not in the AAD; a provisional header gives the first 50 bytes.
	h0, err := keystore.ExternalHeader(keyID, e.materialID, 64) // any valid size: only bytes 0-49 are used
	if err != nil {
		return nil, "", err
	}
	ad := aad(h0, encCtx)
	inner := make([]byte, 12, 12+len(pt)+16)
	if _, err := io.ReadFull(rand, inner); err != nil {
		return nil, "", err
	}
	inner = e.inner.Seal(inner, inner[:12], pt, ad)
	ctx := r.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	// A ciphertext data integrity value is asked for: the proxy then
	// checks that its ciphertext decrypts before answering (spec,
	// Appendix C), and the client checks the value.
	out, err := e.conn.client.Encrypt(ctx, e.xksKeyID, &xks.EncryptRequest{RequestMetadata: e.metadata(r), Plaintext: inner,
		AdditionalAuthenticatedData: ad, EncryptionAlgorithm: xks.AlgorithmAESGCM, CiphertextDataIntegrityValueAlgorithm: xks.CDIVSHA256})
	if err != nil {
		e.conn.b.cfg.Logger.Warn("external key store proxy encrypt failed", "key_arn", e.arn, "xks_key_id", e.xksKeyID, "err", err)
		return nil, "", xks.KMSError(err, xks.ForCrypto)
	}
	n := 1 + len(out.InitializationVector) + 1 + len(out.CiphertextMetadata) + envelopeTag + len(out.Ciphertext)
	h, err := keystore.ExternalHeader(keyID, e.materialID, n)
	if err != nil {
		return nil, "", err
	}
	blob := make([]byte, 0, len(h)+n)
	blob = append(blob, h...)
	blob = append(blob, byte(len(out.InitializationVector)))
	blob = append(blob, out.InitializationVector...)
	blob = append(blob, byte(len(out.CiphertextMetadata)))
	blob = append(blob, out.CiphertextMetadata...)
	blob = append(blob, out.AuthenticationTag...)
	blob = append(blob, out.Ciphertext...)
	return blob, e.materialID, nil
}

var errEnvelope = fmt.Errorf("kms: malformed external key store envelope: %w", keystore.ErrInvalidCiphertext)

func (e *xksEngine) OpenBlobFor(r *EngineRequest, c *keystore.Ciphertext, encCtx map[string]string) ([]byte, error) {
	if c.Version != keystore.VersionExternalV2 {
		return nil, fmt.Errorf("kms: a version %d blob for a key in an external key store: %w", c.Version, keystore.ErrInvalidCiphertext)
	}
	if c.MaterialID != e.materialID {
		return nil, ErrUnknownMaterial
	}
	env := c.Sealed
	take := func(n int) ([]byte, bool) {
		if n > len(env) {
			return nil, false
		}
		b := env[:n:n]
		env = env[n:]
		return b, true
	}
	var ivLen, metaLen []byte
	var iv, meta, tag []byte
	ok := true
	if ivLen, ok = take(1); ok && (ivLen[0] == 12 || ivLen[0] == 16) {
		iv, ok = take(int(ivLen[0]))
	} else {
		ok = false
	}
	if ok {
		if metaLen, ok = take(1); ok && metaLen[0] <= xks.MaxCiphertextMetadata {
			meta, ok = take(int(metaLen[0]))
		} else {
			ok = false
		}
	}
	if ok {
		tag, ok = take(envelopeTag)
	}
	if !ok || len(env) < 12+16 {
		return nil, errEnvelope
	}
	ad := aad(c.Header(), encCtx)
	ctx := r.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	out, err := e.conn.client.Decrypt(ctx, e.xksKeyID, &xks.DecryptRequest{RequestMetadata: e.metadata(r), Ciphertext: env,
		CiphertextMetadata: meta, EncryptionAlgorithm: xks.AlgorithmAESGCM, AdditionalAuthenticatedData: ad,
		AuthenticationTag: tag, InitializationVector: iv})
	if err != nil {
		e.conn.b.cfg.Logger.Warn("external key store proxy decrypt failed", "key_arn", e.arn, "xks_key_id", e.xksKeyID, "err", err)
		return nil, xks.KMSError(err, xks.ForCrypto)
	}
	inner := out.Plaintext
	defer clear(inner)
	pt, err := e.inner.Open(nil, inner[:12], inner[12:], ad)
	if err != nil {
		return nil, fmt.Errorf("kms: the Trent-held layer does not authenticate: %w", keystore.ErrInvalidCiphertext)
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// xksKeyMeta names the store meta entry that records which KMS key uses an
// external key of an external key store.
func xksKeyMeta(region, storeID, xksKeyID string) string {
	return "xks-key/" + region + "/" + storeID + "/" + xksKeyID
}

// claimXksKey records k as the one KMS key of its external key store that
// uses its external key (XksKeyID), or returns XksKeyAlreadyInUseException
// when another key that still exists does (the model's CreateKey: "Each
// KMS key in an external key store must use a different external key").
// An entry left by a key that was deleted, or whose creation failed after
// the claim, is taken over.
func (s *Service) claimXksKey(ctx context.Context, k *store.Key) error {
	name := xksKeyMeta(k.Region, k.CustomKeyStoreID, k.XksKeyID)
	err := s.store.CreateMeta(ctx, name, []byte(k.KeyID))
	if !errors.Is(err, store.ErrExists) {
		return err
	}
	held, err := s.store.GetMeta(ctx, name)
	if err != nil {
		return err
	}
	_, err = s.store.GetKey(ctx, store.KeyRef{Region: k.Region, KeyID: string(held)})
	switch {
	case err == nil:
		// The model's XksKeyAlreadyInUseException documentation; the
		// exact wording AWS sends is not on record (inferred).
		return wire.Errorf("XksKeyAlreadyInUseException",
			"The XksKeyId %s is already associated with another KMS key in this external key store. Each KMS key in an external key store must be associated with a different external key.", k.XksKeyID)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return s.store.PutMeta(ctx, name, []byte(k.KeyID))
}
