package kms

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Custom key stores (docs/hsm.md). The six operations, the connection
// state machine, the sealing of secrets and the dispatch of keys to their
// store live here; what differs by CustomKeyStoreType lives behind a
// [KeyStoreBackend] registered in [Config.KeyStoreBackends].

// KeyStoreBackend is what one CustomKeyStoreType (AWS_CLOUDHSM,
// EXTERNAL_KEY_STORE) does. The framework has checked authorization, the
// name, the quota and the connection state before it calls a backend, and
// it seals and stores what the backend returns. Errors meant for the
// caller are *wire.Error values (CloudHsmClusterNotFoundException,
// XksProxyUriInUseException, ...); any other error is an internal failure.
// A backend is safe for concurrent use.
type KeyStoreBackend interface {
	// Create checks a CreateCustomKeyStore request of the backend's type
	// and fills the type's fields of rec (Region, ID, AccountID, Name,
	// Type and CreationDate are set). others are the account's other
	// custom key stores in the region, of every type, for the "in use"
	// checks. It returns the secret the request carries (the
	// KeyStorePassword, the XKS raw secret access key), which the
	// framework seals into rec; the caller clears it afterwards.
	Create(ctx context.Context, rec *store.CustomKeyStore, in *wire.CreateCustomKeyStoreRequest, others []store.CustomKeyStore) (secret []byte, err error)
	// Update applies an UpdateCustomKeyStore request to rec, the current
	// record (the framework handles NewCustomKeyStoreName). It refuses,
	// with [ErrKeyStoreInvalidState], a change that needs the store
	// DISCONNECTED while it is not. It returns the new secret, nil when
	// the request does not change it.
	Update(ctx context.Context, rec *store.CustomKeyStore, in *wire.UpdateCustomKeyStoreRequest, others []store.CustomKeyStore) (secret []byte, err error)
	// Connect opens a connection to the backing key store of rec, logging
	// in with its unsealed secret (nil if it has none). A failure the
	// store reports as FAILED is a *ConnectError with the
	// ConnectionErrorCode; any other error is INTERNAL_ERROR. Connect
	// must not keep secret.
	Connect(ctx context.Context, rec store.CustomKeyStore, secret []byte) (KeyStoreConn, error)
}

// KeyStoreConn is an open connection to a custom key store's backing
// store: a logged-in PKCS#11 session pool, an XKS proxy client. It is
// safe for concurrent use. After Close, its engines fail with errors
// wrapping [ErrKeyStoreUnavailable].
type KeyStoreConn interface {
	// NewKey makes the material of a new key k (symmetric, Origin the
	// store's type) in the backing store, or, for an external key store,
	// checks the external key in.XksKeyId. It sets k's
	// CurrentMaterialID and Materials (with no sealed bytes) and the
	// fields KeyMetadata shows (CloudHsmClusterID, XksKeyID).
	NewKey(ctx context.Context, k *store.Key, in *wire.CreateKeyRequest) error
	// Engine returns the [Engine] of k's material. Only SealBlob and
	// OpenBlob are used: keys in custom key stores are symmetric.
	Engine(k *store.Key) (Engine, error)
	// DestroyKey destroys k's material in the backing store, when the key
	// is deleted at the end of its waiting period; a backend that never
	// destroys (XKS) returns nil.
	DestroyKey(ctx context.Context, k *store.Key) error
	// Close ends the connection (logs out).
	Close() error
}

// ConnectError is a failed connection: Code is the model's
// ConnectionErrorCodeType value DescribeCustomKeyStores shows, Err the
// cause, which is logged.
type ConnectError struct {
	Code string
	Err  error
}

func (e *ConnectError) Error() string {
	return "connect custom key store: " + e.Code + ": " + fmt.Sprint(e.Err)
}
func (e *ConnectError) Unwrap() error { return e.Err }

// ErrKeyStoreUnavailable is wrapped by the errors of an engine whose
// connection was closed or lost; the operation answers
// KMSInvalidStateException.
var ErrKeyStoreUnavailable = errors.New("kms: custom key store is not connected")

// ErrKeyStoreInvalidState makes a backend's Update refuse a change the
// connection state does not allow; the caller gets
// CustomKeyStoreInvalidStateException.
var ErrKeyStoreInvalidState = errors.New("kms: custom key store must be disconnected for this change")

// Actions of the custom key store operations, all IAM-policy-only: they
// have no key, so they are authorized on resource "*" like CreateKey
// (the model: "Required permissions: kms:CreateCustomKeyStore (IAM
// policy)").
const (
	actCreateCustomKeyStore     = "kms:CreateCustomKeyStore"
	actConnectCustomKeyStore    = "kms:ConnectCustomKeyStore"
	actDisconnectCustomKeyStore = "kms:DisconnectCustomKeyStore"
	actDescribeCustomKeyStores  = "kms:DescribeCustomKeyStores"
	actUpdateCustomKeyStore     = "kms:UpdateCustomKeyStore"
	actDeleteCustomKeyStore     = "kms:DeleteCustomKeyStore"
)

// DefaultCustomKeyStoresPerRegion is AWS's quota: "Custom key stores per
// account and Region: 10" (KMS Developer Guide, resource-limits.md).
const DefaultCustomKeyStoresPerRegion = 10

// cksRef addresses a custom key store on this node.
type cksRef struct{ region, id string }

// cksConn is this node's connection to one custom key store. gen counts
// the connects and disconnects of the store on this node, so a connect
// that finishes after a disconnect is dropped.
type cksConn struct {
	conn KeyStoreConn
	// checked is when the store's record last said CONNECTED; with a
	// cache TTL (several nodes), the record is read again once it is
	// older, so a store disconnected or deleted on another node stops
	// being used here too.
	checked time.Time
}

// keyStores is the connection registry of a Service.
type keyStores struct {
	backends map[string]KeyStoreBackend
	mu       sync.Mutex // guards conns and gen; serializes management operations per node
	conns    map[cksRef]*cksConn
	gen      map[cksRef]uint64
	wg       sync.WaitGroup // connects running in the background
}

func newKeyStores(b map[string]KeyStoreBackend) *keyStores {
	return &keyStores{backends: b, conns: map[cksRef]*cksConn{}, gen: map[cksRef]uint64{}}
}

// cksSecretAAD binds a custom key store's sealed secret to the store and the
// kind of secret, so a sealed value moved to another store or field does
// not open.
func cksSecretAAD(region, id, kind string) []byte {
	return keystore.BoundAAD("trent/custom-key-store-secret/v1", region, id, kind)
}

const (
	secretPassword = "KeyStorePassword"
	secretXks      = "XksProxyAuthenticationCredential"
)

// generateCustomKeyStoreID returns "cks-" and 17 random lowercase hex
// digits, the form of AWS's ids ("cks-1234567890abcdef0" in the model's
// examples).
func generateCustomKeyStoreID(rand io.Reader) (string, error) {
	var b [9]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", err
	}
	return "cks-" + hex.EncodeToString(b[:])[:17], nil
}

func errCKSNotFound(id string) error {
	// Message inferred: the model documents the shape, not its text.
	return wire.Errorf("CustomKeyStoreNotFoundException", "Custom key store %s does not exist.", id)
}

func errCKSNotFoundName(name string) error {
	return wire.Errorf("CustomKeyStoreNotFoundException", "Custom key store with name %s does not exist.", name)
}

func errCKSInvalidState(id, state string) error {
	return wire.Errorf("CustomKeyStoreInvalidStateException", "Custom key store %s is %s.", id, state)
}

func errCKSNameInUse(name string) error {
	return wire.Errorf("CustomKeyStoreNameInUseException", "Custom key store name %s is already in use in this account.", name)
}

// errStoreUnavailable is the answer to a cryptographic operation with a
// key whose custom key store is not connected: "AWS KMS cryptographic
// operations return KMSInvalidStateException for all failures related to
// the external configuration or connection state" of the key store (KMS
// Developer Guide, xks-troubleshooting.html). The text is inferred.
func errStoreUnavailable(arn, id string) error {
	return wire.Errorf("KMSInvalidStateException", "%s is unavailable because its custom key store %s is not connected.", arn, id)
}

func (s *Service) backend(typ string) (KeyStoreBackend, error) {
	if b := s.cks.backends[typ]; b != nil {
		return b, nil
	}
	return nil, wire.Errorf("UnsupportedOperationException", "Custom key stores of type %s are not supported by this server.", typ)
}

// sealSecret seals a custom key store secret; nil stays nil.
func (s *Service) sealSecret(rec *store.CustomKeyStore, kind string, secret []byte) ([]byte, error) {
	if secret == nil {
		return nil, nil
	}
	sealed, err := s.root.Seal(secret, cksSecretAAD(rec.Region, rec.ID, kind))
	if err != nil {
		return nil, fmt.Errorf("seal %s of custom key store %s: %w", kind, rec.ID, err)
	}
	return sealed, nil
}

// setSecret seals secret into the field of rec's type.
func (s *Service) setSecret(rec *store.CustomKeyStore, secret []byte) error {
	if secret == nil {
		return nil
	}
	kind, dst := secretPassword, &rec.SealedPassword
	if rec.Type == store.TypeExternal {
		kind, dst = secretXks, &rec.SealedXksSecret
	}
	sealed, err := s.sealSecret(rec, kind, secret)
	if err != nil {
		return err
	}
	*dst = sealed
	return nil
}

// openCKSSecret unseals the secret of rec's type; nil if it has none. The
// caller clears it after use.
func (s *Service) openCKSSecret(rec *store.CustomKeyStore) ([]byte, error) {
	kind, sealed := secretPassword, rec.SealedPassword
	if rec.Type == store.TypeExternal {
		kind, sealed = secretXks, rec.SealedXksSecret
	}
	if len(sealed) == 0 {
		return nil, nil
	}
	raw, err := s.root.Open(sealed, cksSecretAAD(rec.Region, rec.ID, kind))
	if err != nil {
		return nil, fmt.Errorf("unseal %s of custom key store %s: %w", kind, rec.ID, err)
	}
	return raw, nil
}

// lockCKS is the prelude of the operations on one custom key store:
// it authorizes act on the caller's account, takes the custom key store
// lock and loads the store id names. On success the caller holds the lock
// and releases it with unlock.
func (s *Service) lockCKS(ctx context.Context, c *Caller, act, id string) (rec store.CustomKeyStore, unlock func(), err error) {
	if err := s.authorizeAccount(ctx, c, act, nil); err != nil {
		return rec, nil, err
	}
	s.cks.mu.Lock()
	if rec, err = s.getCKS(ctx, c, id); err != nil {
		s.cks.mu.Unlock()
		return rec, nil, err
	}
	return rec, s.cks.mu.Unlock, nil
}

// getCKS loads a custom key store of the caller's account.
func (s *Service) getCKS(ctx context.Context, c *Caller, id string) (store.CustomKeyStore, error) {
	rec, err := s.store.GetCustomKeyStore(ctx, c.Region, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && rec.AccountID != c.AccountID {
		return store.CustomKeyStore{}, errCKSNotFound(id)
	}
	return rec, err
}

// CreateCustomKeyStore creates a custom key store, DISCONNECTED, in the
// caller's account and region.
func (s *Service) CreateCustomKeyStore(ctx context.Context, c *Caller, in *wire.CreateCustomKeyStoreRequest) (*wire.CreateCustomKeyStoreResponse, error) {
	if err := s.authorizeAccount(ctx, c, actCreateCustomKeyStore, nil); err != nil {
		return nil, err
	}
	typ := wire.Value(in.CustomKeyStoreType)
	if typ == "" {
		typ = store.TypeCloudHSM // "The CustomKeyStoreType parameter is optional for CloudHSM key stores"
	}
	b, err := s.backend(typ)
	if err != nil {
		return nil, err
	}
	id, err := generateCustomKeyStoreID(s.rand)
	if err != nil {
		return nil, err
	}
	rec := store.CustomKeyStore{
		Region: c.Region, ID: id, AccountID: c.AccountID, Name: wire.Value(in.CustomKeyStoreName), Type: typ,
		CreationDate:    s.now().UTC().Truncate(time.Millisecond),
		ConnectionState: store.Disconnected,
	}
	s.cks.mu.Lock()
	defer s.cks.mu.Unlock()
	others, err := s.store.ListCustomKeyStores(ctx, c.Region, c.AccountID, "", 0)
	if err != nil {
		return nil, err
	}
	for _, o := range others {
		if o.Name == rec.Name {
			return nil, errCKSNameInUse(rec.Name)
		}
	}
	secret, err := b.Create(ctx, &rec, in, others)
	defer clear(secret)
	if err != nil {
		return nil, err
	}
	if err := s.checkClusterAccount(ctx, c, rec.CloudHsmClusterID); err != nil {
		return nil, err
	}
	if err := s.setSecret(&rec, secret); err != nil {
		return nil, err
	}
	switch err := s.store.CreateCustomKeyStore(ctx, rec, s.quotas.CustomKeyStoresPerRegion); {
	case errors.Is(err, store.ErrQuota):
		// Text inferred; the shape is the model's for a quota.
		return nil, limitExceeded("You have reached the limit of %d custom key stores in this account and Region.", s.quotas.CustomKeyStoresPerRegion)
	case errors.Is(err, store.ErrExists):
		return nil, errCKSNameInUse(rec.Name)
	case err != nil:
		return nil, fmt.Errorf("create custom key store %s: %w", id, err)
	}
	s.log.Info("created custom key store", "custom_key_store_id", id, "type", typ)
	return &wire.CreateCustomKeyStoreResponse{CustomKeyStoreId: &id}, nil
}

// DescribeCustomKeyStores lists the caller's custom key stores in the
// region, or the one CustomKeyStoreId or CustomKeyStoreName names.
func (s *Service) DescribeCustomKeyStores(ctx context.Context, c *Caller, in *wire.DescribeCustomKeyStoresRequest) (*wire.DescribeCustomKeyStoresResponse, error) {
	if err := s.authorizeAccount(ctx, c, actDescribeCustomKeyStores, nil); err != nil {
		return nil, err
	}
	if in.CustomKeyStoreId != nil && in.CustomKeyStoreName != nil {
		// "provide either the CustomKeyStoreId or CustomKeyStoreName
		// parameter, but not both" (the model); the shape is inferred.
		return nil, validationError("You cannot specify both CustomKeyStoreId and CustomKeyStoreName.")
	}
	limit, after, err := pageArgs(in.Limit, in.Marker, 1000)
	if err != nil {
		return nil, err
	}
	out := &wire.DescribeCustomKeyStoresResponse{CustomKeyStores: []wire.CustomKeyStoresListEntry{}, Truncated: wire.Ptr(false)}
	if id := wire.Value(in.CustomKeyStoreId); in.CustomKeyStoreId != nil {
		rec, err := s.getCKS(ctx, c, id)
		if err != nil {
			return nil, err
		}
		out.CustomKeyStores = append(out.CustomKeyStores, cksEntry(&rec))
		return out, nil
	}
	recs, err := s.store.ListCustomKeyStores(ctx, c.Region, c.AccountID, after, 0)
	if err != nil {
		return nil, err
	}
	if in.CustomKeyStoreName != nil {
		name := *in.CustomKeyStoreName
		for i := range recs {
			if recs[i].Name == name {
				out.CustomKeyStores = append(out.CustomKeyStores, cksEntry(&recs[i]))
				return out, nil
			}
		}
		return nil, errCKSNotFoundName(name)
	}
	for i := range recs {
		if i == limit {
			out.Truncated = wire.Ptr(true)
			out.NextMarker = wire.Ptr(encodeMarker(recs[i-1].ID))
			break
		}
		out.CustomKeyStores = append(out.CustomKeyStores, cksEntry(&recs[i]))
	}
	return out, nil
}

// cksEntry renders a custom key store as DescribeCustomKeyStores shows it:
// the members of its type only, ConnectionErrorCode only while FAILED,
// never a secret (the XKS AccessKeyId is not secret).
func cksEntry(r *store.CustomKeyStore) wire.CustomKeyStoresListEntry {
	e := wire.CustomKeyStoresListEntry{
		CustomKeyStoreId:   wire.Ptr(r.ID),
		CustomKeyStoreName: wire.Ptr(r.Name),
		CustomKeyStoreType: wire.Ptr(r.Type),
		ConnectionState:    wire.Ptr(r.ConnectionState),
		CreationDate:       wire.NewTimestamp(r.CreationDate),
	}
	if r.ConnectionState == store.Failed && r.ConnectionErrorCode != "" {
		e.ConnectionErrorCode = wire.Ptr(r.ConnectionErrorCode)
	}
	switch r.Type {
	case store.TypeCloudHSM:
		e.CloudHsmClusterId = wire.Ptr(r.CloudHsmClusterID)
		e.TrustAnchorCertificate = wire.Ptr(r.TrustAnchorCertificate)
	case store.TypeExternal:
		x := &wire.XksProxyConfigurationType{
			Connectivity: wire.Ptr(r.XksProxyConnectivity),
			AccessKeyId:  wire.Ptr(r.XksProxyAccessKeyID),
			UriEndpoint:  wire.Ptr(r.XksProxyURIEndpoint),
			UriPath:      wire.Ptr(r.XksProxyURIPath),
		}
		if r.XksProxyVpcEndpointServiceName != "" {
			x.VpcEndpointServiceName = wire.Ptr(r.XksProxyVpcEndpointServiceName)
		}
		if r.XksProxyVpcEndpointServiceOwner != "" {
			x.VpcEndpointServiceOwner = wire.Ptr(r.XksProxyVpcEndpointServiceOwner)
		}
		e.XksProxyConfiguration = x
	}
	return e
}

// ConnectCustomKeyStore starts connecting a custom key store: it moves to
// CONNECTING and returns; the connection is made in the background and
// ends CONNECTED or FAILED with a ConnectionErrorCode ("This operation
// starts the connection process, but it does not wait for it to
// complete", the model). Connecting a CONNECTED or CONNECTING store
// succeeds and changes nothing; a FAILED or DISCONNECTING one is
// CustomKeyStoreInvalidStateException (the model, on that exception).
func (s *Service) ConnectCustomKeyStore(ctx context.Context, c *Caller, in *wire.ConnectCustomKeyStoreRequest) (*wire.ConnectCustomKeyStoreResponse, error) {
	id := wire.Value(in.CustomKeyStoreId)
	rec, unlock, err := s.lockCKS(ctx, c, actConnectCustomKeyStore, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	b, err := s.backend(rec.Type)
	if err != nil {
		return nil, err
	}
	switch rec.ConnectionState {
	case store.Connected, store.Connecting:
		return &wire.ConnectCustomKeyStoreResponse{}, nil
	case store.Failed, store.Disconnecting:
		return nil, errCKSInvalidState(id, rec.ConnectionState)
	}
	rec, err = s.setConnState(ctx, rec.Region, id, store.Connecting, "")
	if err != nil {
		return nil, err
	}
	ref := cksRef{rec.Region, id}
	s.cks.gen[ref]++
	gen := s.cks.gen[ref]
	s.cks.wg.Add(1)
	go func() {
		defer s.cks.wg.Done()
		s.connectInBackground(b, rec, gen)
	}()
	return &wire.ConnectCustomKeyStoreResponse{}, nil
}

// connectTimeout bounds one connection attempt.
const connectTimeout = 30 * time.Second

// connectInBackground connects rec and records the outcome, unless a
// disconnect came first (gen changed).
func (s *Service) connectInBackground(b KeyStoreBackend, rec store.CustomKeyStore, gen uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn, code := s.dial(ctx, b, rec)
	ref := cksRef{rec.Region, rec.ID}
	s.cks.mu.Lock()
	defer s.cks.mu.Unlock()
	if s.cks.gen[ref] != gen {
		if conn != nil {
			conn.Close()
		}
		return
	}
	state := store.Connected
	if conn == nil {
		state = store.Failed
	}
	if _, err := s.setConnState(ctx, rec.Region, rec.ID, state, code); err != nil {
		s.log.Error("record custom key store connection state", "custom_key_store_id", rec.ID, "err", err)
		if conn != nil {
			conn.Close()
		}
		return
	}
	if conn != nil {
		s.putConn(ref, conn)
	}
}

// dial connects rec with its unsealed secret. It returns the connection,
// or nil and the ConnectionErrorCode of the failure, which it logs.
func (s *Service) dial(ctx context.Context, b KeyStoreBackend, rec store.CustomKeyStore) (KeyStoreConn, string) {
	secret, err := s.openCKSSecret(&rec)
	if err != nil {
		s.log.Error("connect custom key store", "custom_key_store_id", rec.ID, "err", err)
		return nil, "INTERNAL_ERROR"
	}
	conn, err := b.Connect(ctx, rec, secret)
	clear(secret)
	if err == nil {
		s.log.Info("connected custom key store", "custom_key_store_id", rec.ID)
		return conn, ""
	}
	code := "INTERNAL_ERROR"
	var ce *ConnectError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	s.log.Warn("connect custom key store failed", "custom_key_store_id", rec.ID, "connection_error_code", code, "err", err)
	return nil, code
}

// putConn installs a connection (the caller holds s.cks.mu) and drops the
// cached keys of the store, whose engines were built without it.
func (s *Service) putConn(ref cksRef, conn KeyStoreConn) {
	if old := s.cks.conns[ref]; old != nil {
		old.conn.Close()
	}
	s.cks.conns[ref] = &cksConn{conn: conn, checked: s.now()}
	s.forgetStoreKeys(ref.id)
}

// dropConn closes this node's connection to a store (the caller holds
// s.cks.mu) and drops its cached keys.
func (s *Service) dropConn(ref cksRef) {
	if c := s.cks.conns[ref]; c != nil {
		if err := c.conn.Close(); err != nil {
			s.log.Warn("close custom key store connection", "custom_key_store_id", ref.id, "err", err)
		}
		delete(s.cks.conns, ref)
	}
	s.forgetStoreKeys(ref.id)
}

// forgetStoreKeys drops the cached keys that live in the custom key store.
func (s *Service) forgetStoreKeys(id string) {
	s.mu.Lock()
	s.gen++
	for ref, e := range s.keys.m {
		if e.v.meta.CustomKeyStoreID == id {
			s.keys.del(ref)
		}
	}
	s.mu.Unlock()
}

func (s *Service) setConnState(ctx context.Context, region, id, state, code string) (store.CustomKeyStore, error) {
	return s.store.UpdateCustomKeyStore(ctx, region, id, func(r *store.CustomKeyStore) error {
		r.ConnectionState, r.ConnectionErrorCode = state, code
		return nil
	})
}

// DisconnectCustomKeyStore disconnects a custom key store: this node logs
// out and the store is DISCONNECTED. A store already DISCONNECTED (or
// DISCONNECTING) is CustomKeyStoreInvalidStateException (the model).
func (s *Service) DisconnectCustomKeyStore(ctx context.Context, c *Caller, in *wire.DisconnectCustomKeyStoreRequest) (*wire.DisconnectCustomKeyStoreResponse, error) {
	id := wire.Value(in.CustomKeyStoreId)
	rec, unlock, err := s.lockCKS(ctx, c, actDisconnectCustomKeyStore, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if rec.ConnectionState == store.Disconnected || rec.ConnectionState == store.Disconnecting {
		return nil, errCKSInvalidState(id, rec.ConnectionState)
	}
	ref := cksRef{rec.Region, id}
	s.cks.gen[ref]++
	if _, err := s.setConnState(ctx, rec.Region, id, store.Disconnected, ""); err != nil {
		return nil, err
	}
	s.dropConn(ref)
	s.log.Info("disconnected custom key store", "custom_key_store_id", id)
	return &wire.DisconnectCustomKeyStoreResponse{}, nil
}

// UpdateCustomKeyStore changes a custom key store's name (in any state)
// and, through its backend, its other properties (most only while
// DISCONNECTED).
func (s *Service) UpdateCustomKeyStore(ctx context.Context, c *Caller, in *wire.UpdateCustomKeyStoreRequest) (*wire.UpdateCustomKeyStoreResponse, error) {
	id := wire.Value(in.CustomKeyStoreId)
	rec, unlock, err := s.lockCKS(ctx, c, actUpdateCustomKeyStore, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	b, err := s.backend(rec.Type)
	if err != nil {
		return nil, err
	}
	others, err := s.store.ListCustomKeyStores(ctx, c.Region, c.AccountID, "", 0)
	if err != nil {
		return nil, err
	}
	others = removeCKS(others, id)
	if n := in.NewCustomKeyStoreName; n != nil {
		for _, o := range others {
			if o.Name == *n {
				return nil, errCKSNameInUse(*n)
			}
		}
	}
	_, err = s.store.UpdateCustomKeyStore(ctx, c.Region, id, func(r *store.CustomKeyStore) error {
		secret, err := b.Update(ctx, r, in, others)
		defer clear(secret)
		if errors.Is(err, ErrKeyStoreInvalidState) {
			return errCKSInvalidState(id, r.ConnectionState)
		}
		if err != nil {
			return err
		}
		if err := s.checkClusterAccount(ctx, c, r.CloudHsmClusterID); err != nil {
			return err
		}
		if err := s.setSecret(r, secret); err != nil {
			return err
		}
		if in.NewCustomKeyStoreName != nil {
			r.Name = *in.NewCustomKeyStoreName
		}
		return nil
	})
	if errors.Is(err, store.ErrExists) {
		return nil, errCKSNameInUse(wire.Value(in.NewCustomKeyStoreName))
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, errCKSNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return &wire.UpdateCustomKeyStoreResponse{}, nil
}

func removeCKS(rs []store.CustomKeyStore, id string) []store.CustomKeyStore {
	out := rs[:0]
	for _, r := range rs {
		if r.ID != id {
			out = append(out, r)
		}
	}
	return out
}

// DeleteCustomKeyStore deletes a DISCONNECTED custom key store that holds
// no keys, in any key state (CustomKeyStoreHasCMKsException otherwise).
// The backing store is not touched.
func (s *Service) DeleteCustomKeyStore(ctx context.Context, c *Caller, in *wire.DeleteCustomKeyStoreRequest) (*wire.DeleteCustomKeyStoreResponse, error) {
	id := wire.Value(in.CustomKeyStoreId)
	rec, unlock, err := s.lockCKS(ctx, c, actDeleteCustomKeyStore, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if rec.ConnectionState != store.Disconnected {
		return nil, errCKSInvalidState(id, rec.ConnectionState)
	}
	switch err := s.store.DeleteCustomKeyStore(ctx, c.Region, id); {
	case errors.Is(err, store.ErrInUse):
		return nil, wire.Errorf("CustomKeyStoreHasCMKsException", "Custom key store %s contains KMS keys. Delete them before deleting the custom key store.", id)
	case errors.Is(err, store.ErrNotFound):
		return nil, errCKSNotFound(id)
	case err != nil:
		return nil, err
	}
	delete(s.cks.gen, cksRef{c.Region, id})
	s.log.Info("deleted custom key store", "custom_key_store_id", id)
	return &wire.DeleteCustomKeyStoreResponse{}, nil
}

// storeConn returns this node's connection to a custom key store, making
// it if the store is CONNECTED in the store but not on this node (after
// a restart, or on another node of a cluster). It returns nil, nil when
// the store is not CONNECTED or this node cannot connect.
func (s *Service) storeConn(ctx context.Context, region, id string) (KeyStoreConn, error) {
	ref := cksRef{region, id}
	s.cks.mu.Lock()
	defer s.cks.mu.Unlock()
	if c := s.cks.conns[ref]; c != nil {
		if s.fresh(c.checked) {
			return c.conn, nil
		}
		rec, err := s.store.GetCustomKeyStore(ctx, region, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err == nil && rec.ConnectionState == store.Connected {
			c.checked = s.now()
			return c.conn, nil
		}
		// Disconnected or deleted by another node: log out here too.
		// Close waits for operations under way, so it runs outside the
		// registry lock.
		delete(s.cks.conns, ref)
		go c.conn.Close()
		return nil, nil
	}
	rec, err := s.store.GetCustomKeyStore(ctx, region, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if rec.ConnectionState != store.Connected {
		return nil, nil
	}
	b := s.cks.backends[rec.Type]
	if b == nil {
		return nil, nil
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, _ := s.dial(cctx, b, rec)
	if conn == nil {
		return nil, nil
	}
	s.cks.conns[ref] = &cksConn{conn: conn, checked: s.now()}
	return conn, nil
}

// ReconnectKeyStores connects, on this node, every custom key store the
// store records as CONNECTED: a connected store stays connected across a
// restart. A store that cannot be reached is left CONNECTED and retried
// on the next use of one of its keys, as AWS does not change the state of
// a connected store whose backing store becomes unreachable
// (DescribeCustomKeyStores: "If your custom key store connection state is
// CONNECTED but you are having trouble using it, verify that the backing
// store is active and available").
func (s *Service) ReconnectKeyStores(ctx context.Context) error {
	inv, ok := s.store.(store.Inventory)
	if !ok {
		return nil
	}
	regions, err := inv.KeyRegions(ctx)
	if err != nil {
		return err
	}
	accts, err := s.store.ListAccounts(ctx)
	if err != nil {
		return err
	}
	for _, region := range regions {
		for _, a := range accts {
			recs, err := s.store.ListCustomKeyStores(ctx, region, a.ID, "", 0)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if r.ConnectionState != store.Connected {
					continue
				}
				if _, err := s.storeConn(ctx, r.Region, r.ID); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// CloseKeyStores closes this node's custom key store connections (the
// stores stay CONNECTED in the store) after waiting for background
// connects. The server calls it on shutdown.
func (s *Service) CloseKeyStores() {
	s.cks.wg.Wait()
	s.cks.mu.Lock()
	defer s.cks.mu.Unlock()
	for ref, c := range s.cks.conns {
		c.conn.Close()
		delete(s.cks.conns, ref)
	}
}

// keyStoreForCreate checks a CreateKey request that names a custom key
// store or an Origin of one, and returns the connection to make the key
// in; nil, nil for a key outside custom key stores. The rules are
// CreateKey's in the model: CustomKeyStoreId goes with Origin
// AWS_CLOUDHSM or EXTERNAL_KEY_STORE and the store's type, and is "valid
// only for symmetric encryption KMS keys in a single Region" (refused with
// UnsupportedOperationException, the model's shape for "a specified
// parameter is not supported"); the store must be CONNECTED
// (CustomKeyStoreInvalidStateException).
func (s *Service) keyStoreForCreate(ctx context.Context, c *Caller, in *wire.CreateKeyRequest, spec, usage, origin string) (KeyStoreConn, error) {
	inStore := origin == store.TypeCloudHSM || origin == store.TypeExternal
	if !inStore && in.CustomKeyStoreId == nil {
		if in.XksKeyId != nil {
			return nil, validationError("XksKeyId is valid only with Origin EXTERNAL_KEY_STORE.")
		}
		return nil, nil
	}
	if in.CustomKeyStoreId == nil {
		return nil, validationError(fmt.Sprintf("CustomKeyStoreId is required when Origin is %s.", origin))
	}
	if !inStore {
		return nil, validationError(fmt.Sprintf("CustomKeyStoreId is not valid with Origin %s.", origin))
	}
	if spec != specSymmetric || usage != usageEncrypt {
		return nil, wire.Errorf("UnsupportedOperationException", "KeySpec %s is not supported in custom key stores. Only SYMMETRIC_DEFAULT keys are supported.", spec)
	}
	if wire.Value(in.MultiRegion) {
		return nil, wire.Errorf("UnsupportedOperationException", "Multi-Region keys are not supported in custom key stores.")
	}
	id := *in.CustomKeyStoreId
	rec, err := s.getCKS(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if rec.Type != origin {
		return nil, wire.Errorf("UnsupportedOperationException", "Origin %s does not match the type %s of custom key store %s.", origin, rec.Type, id)
	}
	if rec.Type != store.TypeExternal && in.XksKeyId != nil {
		return nil, validationError("XksKeyId is valid only with Origin EXTERNAL_KEY_STORE.")
	}
	if rec.ConnectionState != store.Connected {
		return nil, errCKSInvalidState(id, rec.ConnectionState)
	}
	conn, err := s.storeConn(ctx, rec.Region, id)
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errCKSInvalidState(id, rec.ConnectionState)
	}
	return conn, nil
}

// storeEngine builds the engine of a key in a custom key store: the
// backend's, or one that answers KMSInvalidStateException while the
// store is not connected.
func (s *Service) storeEngine(ctx context.Context, arn string, k *store.Key) (Engine, error) {
	conn, err := s.storeConn(ctx, k.Region, k.CustomKeyStoreID)
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return unavailableEngine{errStoreUnavailable(arn, k.CustomKeyStoreID)}, nil
	}
	e, err := conn.Engine(k)
	if err != nil {
		return nil, err
	}
	return storeEngine{Engine: e, arn: arn, id: k.CustomKeyStoreID}, nil
}

// storeEngine turns a backend engine's ErrKeyStoreUnavailable into
// KMSInvalidStateException.
type storeEngine struct {
	Engine
	arn, id string
}

func (e storeEngine) fix(err error) error {
	if errors.Is(err, ErrKeyStoreUnavailable) {
		return &wire.Error{Code: "KMSInvalidStateException", Message: errStoreUnavailable(e.arn, e.id).(*wire.Error).Message, Err: err}
	}
	return err
}

func (e storeEngine) SealBlob(rand io.Reader, keyID string, pt []byte, encCtx map[string]string) ([]byte, string, error) {
	b, m, err := e.Engine.SealBlob(rand, keyID, pt, encCtx)
	return b, m, e.fix(err)
}

func (e storeEngine) OpenBlob(c *keystore.Ciphertext, encCtx map[string]string) ([]byte, error) {
	pt, err := e.Engine.OpenBlob(c, encCtx)
	return pt, e.fix(err)
}

// SealBlobFor and OpenBlobFor pass the request on to a backend engine
// that takes it (an external key store's, engine_request.go).
func (e storeEngine) SealBlobFor(r *EngineRequest, rand io.Reader, keyID string, pt []byte, encCtx map[string]string) ([]byte, string, error) {
	if re, ok := e.Engine.(RequestEngine); ok {
		b, m, err := re.SealBlobFor(r, rand, keyID, pt, encCtx)
		return b, m, e.fix(err)
	}
	return e.SealBlob(rand, keyID, pt, encCtx)
}

func (e storeEngine) OpenBlobFor(r *EngineRequest, c *keystore.Ciphertext, encCtx map[string]string) ([]byte, error) {
	if re, ok := e.Engine.(RequestEngine); ok {
		pt, err := re.OpenBlobFor(r, c, encCtx)
		return pt, e.fix(err)
	}
	return e.OpenBlob(c, encCtx)
}

// unavailableEngine is the engine of a key whose store is not connected.
type unavailableEngine struct{ err error }

func (e unavailableEngine) SealBlob(io.Reader, string, []byte, map[string]string) ([]byte, string, error) {
	return nil, "", e.err
}
func (e unavailableEngine) OpenBlob(*keystore.Ciphertext, map[string]string) ([]byte, error) {
	return nil, e.err
}
func (e unavailableEngine) Encrypt(io.Reader, string, []byte) ([]byte, error) { return nil, e.err }
func (e unavailableEngine) Decrypt(string, []byte) ([]byte, error)            { return nil, e.err }
func (e unavailableEngine) Sign(io.Reader, string, string, []byte) ([]byte, error) {
	return nil, e.err
}
func (e unavailableEngine) Verify(string, string, []byte, []byte) error { return e.err }
func (e unavailableEngine) MAC(string, []byte) ([]byte, error)          { return nil, e.err }
func (e unavailableEngine) VerifyMAC(string, []byte, []byte) error      { return e.err }
func (e unavailableEngine) DeriveSharedSecret(string, []byte) ([]byte, error) {
	return nil, e.err
}
func (e unavailableEngine) Encapsulate(io.Reader, string) ([]byte, []byte, error) {
	return nil, nil, e.err
}
func (e unavailableEngine) Decapsulate(string, []byte) ([]byte, error) { return nil, e.err }
func (e unavailableEngine) PublicKey() ([]byte, error)                 { return nil, e.err }

// storeUnavailable returns the KMSInvalidStateException an engine
// returned, for the decrypt path, which otherwise answers every failure
// as InvalidCiphertextException.
func storeUnavailable(err error) error {
	var we *wire.Error
	if errors.As(err, &we) && we.Code == "KMSInvalidStateException" {
		return we
	}
	return nil
}

// destroyStoreKey destroys the material of a deleted key in its custom
// key store, best effort: AWS "makes a best effort to delete the key
// material from the associated cluster. However, you might need to
// manually delete the orphaned key material" (DeleteCustomKeyStore in the
// model). A failure is logged with the key id, never retried.
func (s *Service) destroyStoreKey(ctx context.Context, k *store.Key) {
	conn, err := s.storeConn(ctx, k.Region, k.CustomKeyStoreID)
	if err == nil && conn == nil {
		err = ErrKeyStoreUnavailable
	}
	if err == nil {
		err = conn.DestroyKey(ctx, k)
	}
	if err != nil {
		s.log.Warn("could not destroy the material of a deleted key in its custom key store; delete it there by hand",
			"region", k.Region, "key_id", k.KeyID, "custom_key_store_id", k.CustomKeyStoreID, "err", err)
	}
}

// storeMetadata adds a custom key store key's members to KeyMetadata.
func storeMetadata(k *store.Key, md *wire.KeyMetadata) {
	if k.CustomKeyStoreID == "" {
		return
	}
	md.CustomKeyStoreId = wire.Ptr(k.CustomKeyStoreID)
	if k.CloudHsmClusterID != "" {
		md.CloudHsmClusterId = wire.Ptr(k.CloudHsmClusterID)
	}
	if k.XksKeyID != "" {
		md.XksKeyConfiguration = &wire.XksKeyConfigurationType{Id: wire.Ptr(k.XksKeyID)}
	}
}

// storeErr passes a backend's *wire.Error to the caller and turns a lost
// connection into CustomKeyStoreInvalidStateException (CreateKey in a
// store that is not connected).
func storeErr(err error, arn, id string) error {
	var we *wire.Error
	if errors.As(err, &we) {
		return we
	}
	if errors.Is(err, ErrKeyStoreUnavailable) {
		return &wire.Error{Code: "CustomKeyStoreInvalidStateException", Message: fmt.Sprintf("Custom key store %s is not connected.", id), Err: err}
	}
	return fmt.Errorf("create key %s in custom key store %s: %w", arn, id, err)
}

// checkClusterAccount refuses an HSM cluster that a custom key store of
// another account uses in the caller's region: a cluster serves one
// account, as an AWS CloudHSM cluster belongs to one account, and a token
// allows one login per process, so a second account's store could lock the
// first out. The caller is told the cluster was not found, as AWS answers
// for a cluster outside the account (inferred), so it learns nothing of the
// other account. Nodes that create stores at the same moment are not
// serialized with each other; each node's own creates are (s.cks.mu).
func (s *Service) checkClusterAccount(ctx context.Context, c *Caller, cluster string) error {
	if cluster == "" {
		return nil
	}
	accounts, err := s.store.ListAccounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		if a.ID == c.AccountID {
			continue
		}
		stores, err := s.store.ListCustomKeyStores(ctx, c.Region, a.ID, "", 0)
		if err != nil {
			return err
		}
		for _, o := range stores {
			if o.Type == store.TypeCloudHSM && o.CloudHsmClusterID == cluster {
				return wire.Errorf("CloudHsmClusterNotFoundException", "Cluster %s was not found.", cluster)
			}
		}
	}
	return nil
}
