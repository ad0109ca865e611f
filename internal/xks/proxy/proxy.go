// Package proxy serves Trent keys to AWS KMS (or to another Trent) as an
// XKS proxy: the four operations of the External Key Store Proxy API
// (GetKeyMetadata, Encrypt, Decrypt, GetHealthStatus) under
// [/<prefix>]/kms/xks/v1, for the logical key stores an operator
// configures. See docs/xks.md.
//
// # Authentication and authorization
//
// Every request must carry a SigV4 signature (service "kms-xks-proxy") made
// with one of the credentials of a configured key store; a key store has
// one or two (credential rotation). Access key ids are unique across key
// stores, so the signature is checked before the path is looked at: an
// unauthenticated caller learns nothing about the configured prefixes.
// The request's path prefix must then be its credential's key store's,
// else InvalidUriPathException. A key store serves exactly the external
// key ids its configuration lists, each naming one Trent key; nothing
// else is reachable (fail closed). Key policies are not evaluated: the
// operator's configuration is the authorization, and AWS KMS authorizes
// its own callers.
//
// # Cryptography
//
// Encrypt and Decrypt use AES-256-GCM under a subkey derived from the
// Trent key's material ([kms.XKSKey]), with 12-byte IVs drawn at random.
// The AES-GCM additional data is [xks.AAD] of the request's
// additionalAuthenticatedData and the answer's ciphertextMetadata, which
// is 17 bytes: a format byte (1) and the reference of the key material
// used, so ciphertext made before a rotation of the Trent key still
// decrypts. A requested ciphertextDataIntegrityValue is computed before a
// trial decryption, as the specification's Appendix C prescribes.
//
// # Audit
//
// Every request, answered or refused, produces one audit record (event
// source "kms-xks-proxy") with the request metadata, the Trent key used
// and the outcome; never plaintext, AAD bytes or secrets.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/sigv4"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/xks"
)

// EventSource is the eventSource of the proxy's audit records.
const EventSource = "kms-xks-proxy"

// maxBody bounds a request body: MaxPlaintext and MaxAAD in Base64 with
// room for the request metadata.
const maxBody = 256 << 10

// metadataFormat is the first byte of the proxy's ciphertextMetadata.
const metadataFormat = 1

// KeySource gives the proxy Trent's keys; *kms.Service is one.
type KeySource interface {
	XKSKey(ctx context.Context, ref store.KeyRef) (*kms.XKSKey, error)
}

// Config is what a Proxy is built from.
type Config struct {
	Keys   KeySource
	Audit  *audit.Log // nil writes no audit record
	Logger *slog.Logger
	Rand   io.Reader
	// Probe, if set, is the deep health check of GetHealthStatus and of
	// GET /healthz: nil means the key manager (Trent's store) works.
	Probe func(ctx context.Context) error
	// FleetSize is xksProxyFleetSize (default 1); NodeID is this node's
	// ekmFleetDetails id (default "trent").
	FleetSize int
	NodeID    string
	// Now is the SigV4 clock; nil means time.Now.
	Now func() time.Time
}

// KeyStore is one logical key store.
type KeyStore struct {
	Name string
	// PathPrefix is "" or "/a/b": the key store's URI path is
	// PathPrefix + "/kms/xks/v1".
	PathPrefix  string
	Credentials []xks.Credential
	// Keys maps external key ids to Trent keys.
	Keys map[string]Key
}

// Key is the Trent key behind an external key id.
type Key struct {
	Region    string
	AccountID string // the account that must own the key
	KeyID     string
	// Usage, when RestrictUsage is set, limits the key's usage to these
	// of xks.UsageEncrypt and xks.UsageDecrypt (none when empty).
	Usage         []string
	RestrictUsage bool
}

// Proxy is the XKS proxy's HTTP handler. It is safe for concurrent use;
// [Proxy.Reload] swaps its key stores while it serves.
type Proxy struct {
	cfg      Config
	verifier *sigv4.Verifier
	tab      atomic.Pointer[table]
}

type table struct {
	stores []*KeyStore
	byKey  map[string]*KeyStore // access key id -> key store
	creds  map[string]xks.Credential
}

var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// New returns a proxy serving stores.
func New(cfg Config, stores []KeyStore) (*Proxy, error) {
	if cfg.Keys == nil || cfg.Rand == nil {
		return nil, errors.New("xks proxy: Config needs Keys and Rand")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FleetSize <= 0 {
		cfg.FleetSize = 1
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "trent"
	}
	p := &Proxy{cfg: cfg}
	p.verifier = &sigv4.Verifier{Service: xks.SigningName, Now: cfg.Now, ValidRegion: regionName.MatchString, Lookup: p.lookup}
	if err := p.Reload(stores); err != nil {
		return nil, err
	}
	return p, nil
}

// CheckKeyStores reports every problem of a key store list: names, path
// prefixes, credential formats, unique access key ids and path prefixes,
// and external key ids.
func CheckKeyStores(stores []KeyStore) error {
	var errs []error
	prefixes := map[string]string{}
	keys := map[string]string{}
	for _, ks := range stores {
		if ks.Name == "" {
			errs = append(errs, errors.New("a key store needs a name"))
		}
		if err := xks.CheckURIPath(ks.PathPrefix + xks.APIPath); err != nil {
			errs = append(errs, fmt.Errorf("key store %s: path_prefix: %w", ks.Name, err))
		}
		if other, ok := prefixes[ks.PathPrefix]; ok {
			errs = append(errs, fmt.Errorf("key stores %s and %s have the same path prefix %q", other, ks.Name, ks.PathPrefix))
		}
		prefixes[ks.PathPrefix] = ks.Name
		if n := len(ks.Credentials); n < 1 || n > 2 {
			errs = append(errs, fmt.Errorf("key store %s: needs one or two credentials (two while rotating), has %d", ks.Name, n))
		}
		for _, c := range ks.Credentials {
			if err := xks.CheckCredential(c); err != nil {
				errs = append(errs, fmt.Errorf("key store %s: %w", ks.Name, err))
			}
			if other, ok := keys[c.AccessKeyID]; ok {
				errs = append(errs, fmt.Errorf("access key id %s is used by key stores %s and %s; an access key id must identify one secret", c.AccessKeyID, other, ks.Name))
			}
			keys[c.AccessKeyID] = ks.Name
		}
		for id, k := range ks.Keys {
			if !xks.ValidExternalKeyID(id) {
				errs = append(errs, fmt.Errorf("key store %s: external key id %q must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '-' and '_'", ks.Name, id))
			}
			if k.KeyID == "" || k.Region == "" || k.AccountID == "" {
				errs = append(errs, fmt.Errorf("key store %s: external key %s needs a Trent key, region and account", ks.Name, id))
			}
			for _, u := range k.Usage {
				if u != xks.UsageEncrypt && u != xks.UsageDecrypt {
					errs = append(errs, fmt.Errorf("key store %s: external key %s: usage %q is not ENCRYPT or DECRYPT", ks.Name, id, u))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Reload replaces the key stores, for credential rotation and key
// changes without a restart. Requests in flight finish with the old ones.
// On error the current key stores stay.
func (p *Proxy) Reload(stores []KeyStore) error {
	if err := CheckKeyStores(stores); err != nil {
		return err
	}
	t := &table{byKey: map[string]*KeyStore{}, creds: map[string]xks.Credential{}}
	for i := range stores {
		ks := stores[i]
		t.stores = append(t.stores, &ks)
		for _, c := range ks.Credentials {
			t.byKey[c.AccessKeyID] = &ks
			t.creds[c.AccessKeyID] = c
		}
	}
	p.tab.Store(t)
	return nil
}

func (p *Proxy) lookup(_ context.Context, accessKeyID string) (sigv4.Credential, error) {
	c, ok := p.tab.Load().creds[accessKeyID]
	if !ok {
		return sigv4.Credential{}, sigv4.ErrUnknownAccessKey
	}
	return sigv4.Credential{Secret: c.Secret}, nil
}

// Operation names, as the audit records carry them.
const (
	opGetKeyMetadata  = "GetKeyMetadata"
	opEncrypt         = "Encrypt"
	opDecrypt         = "Decrypt"
	opGetHealthStatus = "GetHealthStatus"
)

// route is a parsed XKS URI path.
type route struct {
	prefix string
	op     string
	keyID  string
}

// parsePath splits [/<prefix>]/kms/xks/v1/{health,keys/<id>/<op>}.
func parsePath(path string) (route, bool) {
	i := strings.LastIndex(path, xks.APIPath+"/")
	if i < 0 {
		return route{}, false
	}
	r := route{prefix: path[:i]}
	rest := path[i+len(xks.APIPath)+1:]
	if rest == "health" {
		r.op = opGetHealthStatus
		return r, true
	}
	id, op, ok := strings.Cut(strings.TrimPrefix(rest, "keys/"), "/")
	if !ok || !strings.HasPrefix(rest, "keys/") || !xks.ValidExternalKeyID(id) {
		return route{}, false
	}
	r.keyID = id
	switch op {
	case "metadata":
		r.op = opGetKeyMetadata
	case "encrypt":
		r.op = opEncrypt
	case "decrypt":
		r.op = opDecrypt
	default:
		return route{}, false
	}
	return r, true
}

// exchange is one request as the audit record sees it.
type exchange struct {
	start     time.Time
	reqID     string
	r         *http.Request
	rt        route
	region    string
	accessKey string
	ks        *KeyStore
	meta      *xks.RequestMetadata
	params    map[string]any
	key       *kms.XKSKey
}

// ServeHTTP answers XKS requests, and GET /healthz for load balancers
// ("an XKS Proxy MUST also implement the necessary health checks for the
// load balancers it intends to support", spec, Other considerations): 200
// when the deep health check passes, 503 otherwise, without
// authentication and without an audit record.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Path == "/healthz" {
		if err := p.probe(r.Context()); err != nil {
			p.cfg.Logger.Warn("xks proxy health check failed", "err", err)
			writeText(w, http.StatusServiceUnavailable, "unavailable\n")
			return
		}
		writeText(w, http.StatusOK, "ok\n")
		return
	}
	x := &exchange{start: time.Now(), reqID: newRequestID(), r: r}
	w.Header().Set("x-amzn-RequestId", x.reqID)
	rt, ok := parsePath(r.URL.EscapedPath())
	if ok && r.Method != http.MethodPost {
		// "If the XKS Proxy receives an HTTP GET request at a URI
		// associated with any of these four APIs, it MUST reject the
		// request with a 405 Method Not Allowed error." The errorName is
		// Trent's choice (inferred): the specification names none.
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, xks.ErrorBody{ErrorName: xks.ErrValidation, ErrorMessage: "XKS proxy API requests must use POST."})
		return
	}
	x.rt = rt
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		p.finish(w, x, nil, &xks.Error{Name: xks.ErrValidation, Message: "The request body could not be read.", Err: err})
		return
	}
	if len(body) > maxBody {
		p.finish(w, x, nil, xks.Errorf(xks.ErrUnsupportedOperation, "The request body exceeds %d bytes.", maxBody))
		return
	}
	res, err := p.verifier.Verify(r.Context(), r, body)
	if err != nil {
		// Every SigV4 failure is AuthenticationFailedException ("The
		// request was rejected due to invalid AWS SigV4 signature."); the
		// detail is logged.
		x.accessKey = sigv4.AccessKeyID(r.Header.Get("Authorization"))
		p.finish(w, x, nil, &xks.Error{Name: xks.ErrAuthenticationFailed, Message: "The request was rejected due to an invalid AWS SigV4 signature.", Err: err})
		return
	}
	x.region, x.accessKey = res.Region, res.AccessKeyID
	x.ks = p.tab.Load().byKey[res.AccessKeyID]
	if x.ks == nil {
		// Reloaded between the lookup and here.
		p.finish(w, x, nil, xks.Errorf(xks.ErrAuthenticationFailed, "The request was rejected due to an invalid AWS SigV4 signature."))
		return
	}
	if !ok || rt.prefix != x.ks.PathPrefix {
		p.finish(w, x, nil, xks.Errorf(xks.ErrInvalidURIPath, "The request was rejected because the specified URI path is not valid."))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		p.finish(w, x, nil, xks.Errorf(xks.ErrValidation, "The Content-Type must be application/json."))
		return
	}
	var out any
	switch rt.op {
	case opGetHealthStatus:
		out, err = p.health(x, body)
	case opGetKeyMetadata:
		out, err = p.getKeyMetadata(x, body)
	case opEncrypt:
		out, err = p.encrypt(x, body)
	case opDecrypt:
		out, err = p.decrypt(x, body)
	}
	p.finish(w, x, out, err)
}

func (p *Proxy) probe(ctx context.Context) error {
	if p.cfg.Probe == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	return p.cfg.Probe(ctx)
}

// decode decodes a request body into v. Unknown members are ignored: KMS
// may add requestMetadata fields (spec, Appendix B).
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &xks.Error{Name: xks.ErrValidation, Message: "The request body is not a valid JSON object of this operation.", Err: err}
	}
	return nil
}

// checkMetadata checks the requestMetadata members an operation requires
// and records the metadata for the audit record.
func checkMetadata(x *exchange, m *xks.RequestMetadata, keyARN bool) error {
	if m == nil {
		return xks.Errorf(xks.ErrValidation, "requestMetadata is required.")
	}
	x.meta = m
	var missing []string
	if x.rt.op != opGetHealthStatus && m.AWSPrincipalARN == "" {
		missing = append(missing, "awsPrincipalArn")
	}
	if keyARN && m.KMSKeyARN == "" {
		missing = append(missing, "kmsKeyArn")
	}
	if m.KMSOperation == "" {
		missing = append(missing, "kmsOperation")
	}
	if m.KMSRequestID == "" {
		missing = append(missing, "kmsRequestId")
	}
	if len(missing) > 0 {
		return xks.Errorf(xks.ErrValidation, "requestMetadata is missing %s.", strings.Join(missing, ", "))
	}
	return nil
}

func (p *Proxy) health(x *exchange, body []byte) (any, error) {
	var in xks.HealthRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMetadata(x, in.RequestMetadata, false); err != nil {
		return nil, err
	}
	status := xks.HealthActive
	if err := p.probe(x.r.Context()); err != nil {
		p.cfg.Logger.Warn("xks proxy deep health check failed", "err", err, "kms_request_id", in.RequestMetadata.KMSRequestID)
		status = xks.HealthUnavailable
	}
	return &xks.HealthResponse{
		XksProxyFleetSize: p.cfg.FleetSize,
		XksProxyVendor:    "Trent",
		XksProxyModel:     "Trent XKS Proxy 1.0",
		EkmVendor:         "Trent",
		EkmFleetDetails:   []xks.EkmFleetDetail{{ID: p.cfg.NodeID, Model: "Trent KMS", HealthStatus: status}},
	}, nil
}

// key resolves the external key id of the request.
func (p *Proxy) key(x *exchange) (*Key, *kms.XKSKey, error) {
	notFound := xks.Errorf(xks.ErrKeyNotFound, "The request was rejected because the specified external key is not found.")
	cfgKey, ok := x.ks.Keys[x.rt.keyID]
	if !ok {
		return nil, nil, notFound
	}
	k, err := p.cfg.Keys.XKSKey(x.r.Context(), store.KeyRef{Region: cfgKey.Region, KeyID: cfgKey.KeyID})
	if errors.Is(err, store.ErrNotFound) {
		notFound.Err = err
		return nil, nil, notFound
	}
	if err != nil {
		return nil, nil, &xks.Error{Name: xks.ErrInternal, Message: "The external key manager failed.", Err: err}
	}
	if k.AccountID != cfgKey.AccountID {
		notFound.Err = fmt.Errorf("key %s belongs to account %s, not %s", k.ARN, k.AccountID, cfgKey.AccountID)
		return nil, nil, notFound
	}
	x.key = k
	return &cfgKey, k, nil
}

// usage returns the XKS key usages of a Trent key: ENCRYPT and DECRYPT for
// an encryption key (limited by the configuration), and for other keys
// the PKCS#11-style usages the specification mentions ("PKCS11-based
// HSMs additionally support DERIVE, SIGN, VERIFY, WRAP, UNWRAP").
func usage(c *Key, k *kms.XKSKey) []string {
	if k.InCustomKeyStore {
		// A key of a custom key store of this Trent: its material is
		// not Trent's to use (docs/xks.md).
		return []string{}
	}
	var u []string
	switch k.KeyUsage {
	case "ENCRYPT_DECRYPT":
		u = []string{xks.UsageEncrypt, xks.UsageDecrypt}
	case "SIGN_VERIFY", "GENERATE_VERIFY_MAC":
		return []string{"SIGN", "VERIFY"}
	case "KEY_AGREEMENT":
		return []string{"DERIVE"}
	default:
		return []string{}
	}
	if !c.RestrictUsage {
		return u
	}
	out := []string{}
	for _, x := range u {
		for _, y := range c.Usage {
			if x == y {
				out = append(out, x)
			}
		}
	}
	return out
}

func keySpec(k *kms.XKSKey) string {
	if k.KeySpec == "SYMMETRIC_DEFAULT" {
		return xks.KeySpecAES256
	}
	return k.KeySpec
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *Proxy) getKeyMetadata(x *exchange, body []byte) (any, error) {
	var in xks.GetKeyMetadataRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMetadata(x, in.RequestMetadata, false); err != nil {
		return nil, err
	}
	c, k, err := p.key(x)
	if err != nil {
		return nil, err
	}
	status := xks.StatusDisabled
	if k.KeyState == "Enabled" {
		status = xks.StatusEnabled
	}
	return &xks.GetKeyMetadataResponse{KeySpec: keySpec(k), KeyUsage: usage(c, k), KeyStatus: status}, nil
}

// usable checks that the key can do the AES-GCM operation op (usages
// first, as KMS checks a key's usage before its state), then that it is
// enabled.
func usable(c *Key, k *kms.XKSKey, need ...string) error {
	u := usage(c, k)
	for _, n := range need {
		if keySpec(k) != xks.KeySpecAES256 || !has(u, n) {
			return xks.Errorf(xks.ErrInvalidKeyUsage, "The request was rejected because the specified key does not support the requested operation.")
		}
	}
	if k.KeyState != "Enabled" {
		return xks.Errorf(xks.ErrInvalidState, "The request was rejected because the specified external key is not enabled (its Trent key state is %s).", k.KeyState)
	}
	return nil
}

func checkAlgorithm(alg string) error {
	if alg != xks.AlgorithmAESGCM {
		return xks.Errorf(xks.ErrValidation, "encryptionAlgorithm must be AES_GCM.")
	}
	return nil
}

func (p *Proxy) encrypt(x *exchange, body []byte) (any, error) {
	var in xks.EncryptRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMetadata(x, in.RequestMetadata, true); err != nil {
		return nil, err
	}
	x.params = map[string]any{"encryptionAlgorithm": in.EncryptionAlgorithm, "additionalAuthenticatedDataLength": len(in.AdditionalAuthenticatedData)}
	if in.CiphertextDataIntegrityValueAlgorithm != "" {
		x.params["ciphertextDataIntegrityValueAlgorithm"] = in.CiphertextDataIntegrityValueAlgorithm
	}
	if len(in.Plaintext) == 0 {
		return nil, xks.Errorf(xks.ErrValidation, "plaintext is required.")
	}
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	cdiv := in.CiphertextDataIntegrityValueAlgorithm != ""
	if cdiv && in.CiphertextDataIntegrityValueAlgorithm != xks.CDIVSHA256 {
		return nil, xks.Errorf(xks.ErrValidation, "ciphertextDataIntegrityValueAlgorithm must be SHA_256.")
	}
	if len(in.Plaintext) > xks.MaxPlaintext {
		return nil, xks.Errorf(xks.ErrUnsupportedOperation, "plaintext exceeds %d bytes.", xks.MaxPlaintext)
	}
	if len(in.AdditionalAuthenticatedData) > xks.MaxAAD {
		return nil, xks.Errorf(xks.ErrUnsupportedOperation, "additionalAuthenticatedData exceeds %d bytes.", xks.MaxAAD)
	}
	c, k, err := p.key(x)
	if err != nil {
		return nil, err
	}
	need := []string{xks.UsageEncrypt}
	if cdiv {
		// The ciphertext data integrity value needs a trial decryption
		// (Appendix C, step 3), which a key without DECRYPT cannot do;
		// the compliance suite expects InvalidKeyUsageException for it
		// (aws-samples/aws-kms-xksproxy-test-client, test_encrypt_only_key:
		// "Encrypt with AAD and CDIV using an encrypt-only key").
		need = append(need, xks.UsageDecrypt)
	}
	if err := usable(c, k, need...); err != nil {
		return nil, err
	}
	// The material reference is the ciphertextMetadata, which is part of
	// the AAD, so the reference must be known before sealing: the key's
	// current one, which Seal returns.
	iv, ct, tag, ref, err := sealCurrent(p.cfg.Rand, k, in.Plaintext, in.AdditionalAuthenticatedData)
	if err != nil {
		return nil, err
	}
	meta := append([]byte{metadataFormat}, ref[:]...)
	out := &xks.EncryptResponse{Ciphertext: ct, CiphertextMetadata: meta, InitializationVector: iv, AuthenticationTag: tag}
	if cdiv {
		// Appendix C: compute the value first, then decrypt to check.
		out.CiphertextDataIntegrityValue = xks.CDIV(in.AdditionalAuthenticatedData, meta, iv, ct, tag)
		pt, err := k.Open(ref, iv, ct, tag, xks.AAD(in.AdditionalAuthenticatedData, meta))
		if err != nil || !bytes.Equal(pt, in.Plaintext) {
			clear(pt)
			return nil, &xks.Error{Name: xks.ErrInternal, Message: "The encryption could not be verified.", Err: err}
		}
		clear(pt)
	}
	return out, nil
}

// sealCurrent encrypts under the key's current material with the AAD that
// names it. Seal reports the reference it used; should the current
// material change between the two steps (a rotation in between), the
// reference in the AAD and the one used would differ, so it retries once.
func sealCurrent(rand io.Reader, k *kms.XKSKey, pt, aad []byte) (iv, ct, tag []byte, ref [kms.XKSMaterialRefSize]byte, err error) {
	ref, err = k.CurrentRef()
	if err != nil {
		return nil, nil, nil, ref, cryptoErr(err)
	}
	meta := append([]byte{metadataFormat}, ref[:]...)
	iv, ct, tag, used, err := k.Seal(rand, pt, xks.AAD(aad, meta))
	if err != nil {
		return nil, nil, nil, ref, cryptoErr(err)
	}
	if used != ref {
		return nil, nil, nil, ref, &xks.Error{Name: xks.ErrInternal, Message: "The external key manager failed.", Err: errors.New("key material changed while sealing")}
	}
	return iv, ct, tag, ref, nil
}

func cryptoErr(err error) error {
	if errors.Is(err, kms.ErrXKSNoMaterial) {
		return &xks.Error{Name: xks.ErrInvalidState, Message: "The request was rejected because the specified external key has no usable key material.", Err: err}
	}
	return &xks.Error{Name: xks.ErrInternal, Message: "The external key manager failed.", Err: err}
}

func (p *Proxy) decrypt(x *exchange, body []byte) (any, error) {
	var in xks.DecryptRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMetadata(x, in.RequestMetadata, true); err != nil {
		return nil, err
	}
	x.params = map[string]any{"encryptionAlgorithm": in.EncryptionAlgorithm, "additionalAuthenticatedDataLength": len(in.AdditionalAuthenticatedData)}
	switch {
	case len(in.Ciphertext) == 0:
		return nil, xks.Errorf(xks.ErrValidation, "ciphertext is required.")
	case in.InitializationVector == nil:
		return nil, xks.Errorf(xks.ErrValidation, "initializationVector is required.")
	case in.AuthenticationTag == nil:
		return nil, xks.Errorf(xks.ErrValidation, "authenticationTag is required.")
	case len(in.InitializationVector) != 12 && len(in.InitializationVector) != 16:
		return nil, xks.Errorf(xks.ErrValidation, "initializationVector must be 12 or 16 bytes.")
	case len(in.AuthenticationTag) != 16:
		return nil, xks.Errorf(xks.ErrValidation, "authenticationTag must be 16 bytes.")
	case len(in.CiphertextMetadata) > xks.MaxCiphertextMetadata:
		return nil, xks.Errorf(xks.ErrValidation, "ciphertextMetadata must not exceed %d bytes.", xks.MaxCiphertextMetadata)
	}
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	if len(in.Ciphertext) > xks.MaxPlaintext {
		return nil, xks.Errorf(xks.ErrUnsupportedOperation, "ciphertext exceeds %d bytes.", xks.MaxPlaintext)
	}
	if len(in.AdditionalAuthenticatedData) > xks.MaxAAD {
		return nil, xks.Errorf(xks.ErrUnsupportedOperation, "additionalAuthenticatedData exceeds %d bytes.", xks.MaxAAD)
	}
	c, k, err := p.key(x)
	if err != nil {
		return nil, err
	}
	if err := usable(c, k, xks.UsageDecrypt); err != nil {
		return nil, err
	}
	invalid := xks.Errorf(xks.ErrInvalidCiphertext, "The request was rejected because the specified ciphertext, initialization vector, additional authenticated data or authentication tag is corrupted, missing, or otherwise invalid.")
	meta := in.CiphertextMetadata
	if len(meta) != 1+kms.XKSMaterialRefSize || meta[0] != metadataFormat {
		invalid.Err = errors.New("ciphertextMetadata is not the proxy's")
		return nil, invalid
	}
	var ref [kms.XKSMaterialRefSize]byte
	copy(ref[:], meta[1:])
	pt, err := k.Open(ref, in.InitializationVector, in.Ciphertext, in.AuthenticationTag, xks.AAD(in.AdditionalAuthenticatedData, meta))
	if errors.Is(err, kms.ErrXKSOpen) {
		invalid.Err = err
		return nil, invalid
	}
	if err != nil {
		return nil, cryptoErr(err)
	}
	return &xks.DecryptResponse{Plaintext: pt}, nil
}

// finish writes the audit record, then the answer; a record that cannot
// be written turns the answer into InternalException.
func (p *Proxy) finish(w http.ResponseWriter, x *exchange, out any, err error) {
	xe := publicError(err)
	if err != nil {
		lvl := slog.LevelInfo
		if xe.Name == xks.ErrInternal {
			lvl = slog.LevelError
		}
		p.cfg.Logger.Log(x.r.Context(), lvl, "xks request failed", "request_id", x.reqID, "operation", x.rt.op,
			"external_key_id", x.rt.keyID, "error_name", xe.Name, "err", err)
	}
	if p.cfg.Audit != nil {
		if aerr := p.cfg.Audit.Write(x.r.Context(), p.record(x, xe)); aerr != nil {
			p.cfg.Logger.Error("xks audit record not written; refusing the request", "request_id", x.reqID, "err", aerr)
			out, xe = nil, &xks.Error{Name: xks.ErrInternal, Message: "The request could not be recorded."}
		}
	}
	if xe != nil {
		writeJSON(w, xks.Status(xe.Name), xks.ErrorBody{ErrorName: xe.Name, ErrorMessage: xe.Message})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func publicError(err error) *xks.Error {
	if err == nil {
		return nil
	}
	var xe *xks.Error
	if errors.As(err, &xe) && xks.KnownError(xe.Name) {
		return xe
	}
	return &xks.Error{Name: xks.ErrInternal, Message: "The external key manager failed.", Err: err}
}

// record builds the audit record of a request.
func (p *Proxy) record(x *exchange, xe *xks.Error) *audit.Record {
	rec := &audit.Record{
		EventVersion: audit.EventVersion, EventTime: audit.EventTime(x.start), EventSource: EventSource,
		EventName: x.rt.op, AWSRegion: x.region, SourceIPAddress: sourceIP(x.r), UserAgent: x.r.UserAgent(),
		RequestID: x.reqID, EventID: newRequestID(), ReadOnly: true, EventType: "AwsApiCall", EventCategory: "Data",
		UserIdentity: audit.UserIdentity{Type: "Unknown", AccessKeyID: x.accessKey},
	}
	if rec.EventName == "" {
		rec.EventName = "Unknown"
	}
	params := map[string]any{}
	if x.ks != nil {
		rec.UserIdentity = audit.UserIdentity{Type: "XksKeyStore", PrincipalID: x.ks.Name, AccessKeyID: x.accessKey}
		params["keyStore"] = x.ks.Name
	}
	if x.rt.keyID != "" {
		params["externalKeyId"] = x.rt.keyID
	}
	if x.meta != nil {
		params["requestMetadata"] = x.meta
	}
	for k, v := range x.params {
		params[k] = v
	}
	if len(params) > 0 {
		rec.RequestParameters, _ = json.Marshal(params)
	}
	if x.key != nil {
		rec.Resources = []audit.Resource{{AccountID: x.key.AccountID, Type: "AWS::KMS::Key", ARN: x.key.ARN}}
		rec.RecipientAccountID = x.key.AccountID
		rec.Trent.Decision = "Allow"
		rec.Trent.Checks = []audit.Check{{Action: "xks:" + x.rt.op, Resource: x.key.ARN, Decision: "Allow", Source: "xks-key-store",
			Statement: -1, Reason: "key store " + x.ks.Name + " maps external key " + x.rt.keyID + " to this key"}}
	}
	rec.Trent.Status = http.StatusOK
	if xe != nil {
		rec.ErrorCode, rec.ErrorMessage, rec.Trent.Status = xe.Name, xe.Message, xks.Status(xe.Name)
	}
	rec.Trent.LatencyMS = float64(time.Since(x.start).Microseconds()) / 1000
	return rec
}

func sourceIP(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return r.RemoteAddr
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errorName":"InternalException"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func writeText(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, s)
}
