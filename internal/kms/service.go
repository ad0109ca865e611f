package kms

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Config holds a Service's dependencies.
type Config struct {
	Store   store.Store
	Root    keystore.Root
	Rand    io.Reader        // crypto/rand.Reader in production
	Now     func() time.Time // time.Now in production
	Logger  *slog.Logger     // nil discards
	Regions []string         // regions served; nil means DefaultRegions
	// CacheTTL bounds how long a cached key or alias is trusted before it
	// is reloaded from the store. Zero means until this Service changes it,
	// which is right when one node owns the store.
	CacheTTL time.Duration
	// KeyCacheSize bounds the number of keys with unsealed material kept
	// in memory; when the cache is full the least recently used key (an
	// approximation, see lru) is dropped and reloaded from the store on
	// its next use. The alias and access key caches are bounded by the
	// same number. Zero means DefaultKeyCacheSize.
	KeyCacheSize int
	// Quotas are the resource quotas enforced; nil means DefaultQuotas.
	Quotas *Quotas
	// Policies supplies the identity policies of IAM users and role
	// sessions; nil means callers have none (the account root user needs
	// none). See docs/authorization.md.
	Policies PolicySource
	// PrincipalExists reports whether an IAM principal ARN named in a key
	// policy (a user, role, assumed-role session or federated user) exists.
	// KMS refuses key policies naming principals that do not exist. Nil
	// means only the account of such an ARN is checked against the
	// store's accounts. Account ids and account root ARNs are always
	// checked against the store's accounts.
	PrincipalExists func(ctx context.Context, arn string) (bool, error)
	// Throttle, when set, applies request quotas that depend on the key
	// (see [ThrottleFunc]).
	Throttle ThrottleFunc
	// Peers, when set, reaches the deployments that serve other regions,
	// for multi-Region keys replicated there (mrkchange.go).
	Peers Peers
	// KeyStoreBackends are the custom key store types served, by
	// CustomKeyStoreType (cks.go); a type without a backend is refused.
	KeyStoreBackends map[string]KeyStoreBackend
}

// DefaultRegions are the AWS commercial and China region names that a
// server serves unless configured otherwise.
var DefaultRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
	"ap-southeast-4", "ap-southeast-5", "ap-southeast-7", "ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
	"eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
	"sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"cn-north-1", "cn-northwest-1",
}

// Caller is the authenticated principal of a request, the region its
// signature was scoped to, and what the authorization engine needs to know
// about the request's origin. The api layer builds it once per request.
type Caller struct {
	AccountID   string
	Principal   string // principal ARN as AWS reports it in errors (Identity.ARN)
	AccessKeyID string
	Region      string

	// Identity is the principal as policies see it: its type (root,
	// user, assumed role), ARN, account, role ARN, user id, user name and
	// tags (principal tags, overridden by session tags for a role
	// session).
	Identity policy.Principal
	// SessionName is the role session name of an assumed-role caller.
	SessionName string
	// SourceIP is the address the request came from (aws:SourceIp); the
	// zero value means unknown.
	SourceIP netip.Addr
	// SecureTransport reports whether the request came over TLS
	// (aws:SecureTransport).
	SecureTransport bool
	// RequestID is the request's x-amzn-RequestId, kept as the KmsRequestId
	// of a key's last usage (GetKeyLastUsage).
	RequestID string
	// Authz, when set, receives the authorization checks of the request
	// (its decisions and their reasons), for DryRun, logs and audit. It
	// belongs to one request: a Caller with Authz must not be used by
	// concurrent calls.
	Authz *Authorization
}

// Service implements the KMS operations. It is safe for concurrent use.
type Service struct {
	store   store.Store
	root    keystore.Root
	rand    io.Reader
	now     func() time.Time
	log     *slog.Logger
	regions map[string]bool
	ttl     time.Duration
	// synced is when this node last sent a probe to its change listener
	// that has come back (store.ChangeSynced); nil when none has since
	// the listener (re)connected. See cacheFresh.
	synced atomic.Pointer[time.Time]
	quotas Quotas
	// policies and principalExists: see Config.
	policies        PolicySource
	principalExists func(ctx context.Context, arn string) (bool, error)
	throttle        ThrottleFunc
	peers           Peers
	stats           cacheStats
	// cks holds this node's custom key store connections (cks.go).
	cks *keyStores
	// quotaMu serializes a counted create (count, then create) so that
	// this node never exceeds a quota; see Quotas.
	quotaMu sync.Mutex

	// mu guards the caches' maps and gen. Lookups take the read lock only.
	mu      sync.RWMutex
	keys    *lru[store.KeyRef, *cachedKey]
	aliases *lru[aliasRef, cachedAlias]
	idents  *lru[string, *Identity]
	// usage holds the last use of each key on this node (store.KeyRef to
	// *usageCell), see lastuse.go; trackingStart is when the store began
	// tracking key usage, once RunUsageFlusher has read it.
	usage         sync.Map
	trackingStart atomic.Pointer[time.Time]

	// gen counts cache invalidations. A load from the store records gen
	// before it reads and caches its result only if gen is unchanged, so a
	// read that raced with a write and a forget never puts the old state
	// back.
	gen uint64

	// xks caches the XKS proxy's derived subkeys (xksproxy.go).
	xks xksBlocks
}

type aliasRef struct{ region, accountID, name string }

type cachedAlias struct {
	keyID  string
	loaded time.Time
}

// cachedKey is an immutable snapshot of a key with its material behind an
// [Engine] (unsealed into ready-to-use AEADs and private keys by the
// software engine). When it is evicted or forgotten the cache drops its
// reference and the garbage collector frees the material once no request
// still using it holds it; it is not wiped in place, because a request
// that resolved the key a moment earlier may still be sealing with it (and
// crypto/cipher offers no way to wipe an AES key schedule).
type cachedKey struct {
	meta   store.Key
	arn    string
	engine Engine
	// hasMaterial is false for a key whose engine can do nothing (an
	// asymmetric key stored without material).
	hasMaterial bool
	loaded      time.Time
	// materialChecked is set once a ciphertext naming material this
	// snapshot lacks made the key be reloaded (see reloadForMaterial).
	materialChecked atomic.Bool
	// usage is the key's last use on this node, shared by every snapshot
	// of the key; nil until the snapshot's first use (see lastuse.go).
	usage atomic.Pointer[usageCell]
	// policy is the key policy, compiled once when the key is loaded;
	// usesAliases says whether it has a kms:ResourceAliases condition.
	policy      *policy.Policy
	usesAliases bool
	// aliases is the key's alias names, loaded when a policy needs them.
	aliases aliasesCache
	// grants is the key's grants, loaded when the policies would deny a
	// request (see grantFor).
	grants atomic.Pointer[[]store.Grant]
}

// New returns a Service. Config.Store, Root and Rand are required.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Root == nil || cfg.Rand == nil {
		return nil, errors.New("kms: Config needs Store, Root and Rand")
	}
	s := &Service{
		store:   cfg.Store,
		root:    cfg.Root,
		rand:    cfg.Rand,
		now:     cfg.Now,
		log:     cfg.Logger,
		ttl:     cfg.CacheTTL,
		regions: map[string]bool{},

		policies:        cfg.Policies,
		principalExists: cfg.PrincipalExists,
		throttle:        cfg.Throttle,
		peers:           cfg.Peers,
		cks:             newKeyStores(cfg.KeyStoreBackends),
	}
	size := cfg.KeyCacheSize
	if size <= 0 {
		size = DefaultKeyCacheSize
	}
	s.keys = newLRU[store.KeyRef, *cachedKey](size)
	s.aliases = newLRU[aliasRef, cachedAlias](size)
	s.idents = newLRU[string, *Identity](size)
	s.quotas = DefaultQuotas
	if cfg.Quotas != nil {
		s.quotas = *cfg.Quotas
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = slog.New(LogHandler(s.log.Handler()))
	regions := cfg.Regions
	if regions == nil {
		regions = DefaultRegions
	}
	for _, r := range regions {
		s.regions[r] = true
	}
	return s, nil
}

// Regions returns the regions the service serves, sorted.
func (s *Service) Regions() []string {
	out := make([]string, 0, len(s.regions))
	for r := range s.regions {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// ServesRegion reports whether region is one the service serves.
func (s *Service) ServesRegion(region string) bool { return s.regions[region] }

// fresh reports whether an entry loaded at t may still be trusted.
func (s *Service) fresh(t time.Time) bool {
	return s.ttl == 0 || s.now().Sub(t) < s.ttl
}

// cacheFresh reports whether a cached alias target, or a key that is not
// in a custom key store, loaded at t may still be trusted: within
// CacheTTL of its load, or, whatever its age, while this node's change
// listener has confirmed within CacheTTL that every change committed
// before then has reached it ([Service.Synced]). Every write to a key,
// its aliases or its grants announces itself (store.Notifier), and each
// announcement drops the entry, so an entry still cached then reflects
// every change up to that confirmation: a change another node makes
// still takes effect here within CacheTTL, as with the TTL alone, but a
// hot key is no longer reloaded every CacheTTL. A custom key store's
// state (connected or not) is not announced and is read again only when
// one of its keys is loaded, so those keys, like access keys, keep the
// TTL alone (fresh).
func (s *Service) cacheFresh(t time.Time) bool {
	if s.fresh(t) {
		return true
	}
	p := s.synced.Load()
	return p != nil && time.Since(*p) < s.ttl
}

// keyFresh is cacheFresh for a cached key.
func (s *Service) keyFresh(ck *cachedKey) bool {
	if ck.meta.CustomKeyStoreID != "" {
		return s.fresh(ck.loaded)
	}
	return s.cacheFresh(ck.loaded)
}

// Synced records that every change committed to the shared store before
// t (this node's clock) has been passed to Invalidate: the change
// listener's probe sent at t came back (store.ChangeSynced).
func (s *Service) Synced(t time.Time) {
	if old := s.synced.Load(); old == nil || t.After(*old) {
		s.synced.Store(&t)
	}
}

// loadCachedKey returns the cached key for ref, loading and unsealing it
// on a miss. It returns store.ErrNotFound unchanged. Use loadKey
// (import.go), which also deletes imported material that has expired.
func (s *Service) loadCachedKey(ctx context.Context, ref store.KeyRef) (*cachedKey, error) {
	s.mu.RLock()
	ck, _ := s.keys.get(ref)
	gen := s.gen
	s.mu.RUnlock()
	if ck != nil && s.keyFresh(ck) {
		s.stats.keyHits.Add(1)
		return ck, nil
	}
	s.stats.keyMisses.Add(1)
	k, err := s.store.GetKey(ctx, ref)
	if err != nil {
		return nil, err
	}
	if k.KeyState == stateCreating {
		// A multi-Region replica that ReplicateKey made (multiregion.go).
		// What completing it returns is not cached (gen stays as read
		// before the load, and the completion's own write moves it on):
		// a change another node committed meanwhile could already have
		// been applied, and its entry could then outlive CacheTTL while
		// the listener confirms. The next use loads it as any key.
		if k, err = s.completeReplica(ctx, k); err != nil {
			return nil, err
		}
	}
	ck, err = s.unseal(ctx, k)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	// Keep the newer of two racing loads, and nothing read before the
	// latest invalidation: that read may predate a write this node made.
	if old, _ := s.keys.peek(ref); s.gen == gen && (old == nil || old.meta.Revision <= ck.meta.Revision) {
		s.keys.put(ref, ck)
	}
	s.mu.Unlock()
	return ck, nil
}

// unseal builds a cachedKey from a stored key, opening its material.
func (s *Service) unseal(ctx context.Context, k store.Key) (*cachedKey, error) {
	ck := &cachedKey{
		meta:   k,
		arn:    KeyARN(k.Region, k.AccountID, k.KeyID),
		loaded: s.now(),
	}
	s.compileKeyPolicy(ctx, ck)
	if k.CustomKeyStoreID != "" {
		e, err := s.storeEngine(ctx, ck.arn, &ck.meta)
		if err != nil {
			return nil, err
		}
		ck.engine, ck.hasMaterial = e, true
		return ck, nil
	}
	e, err := newSoftwareEngine(s.root, ck.arn, &ck.meta)
	if err != nil {
		return nil, err
	}
	ck.engine, ck.hasMaterial = e, e.hasMaterial()
	return ck, nil
}

// reloadForMaterial reloads a key whose cached snapshot lacks the
// material a ciphertext names: with several nodes on one store
// (CacheTTL > 0) another node may have rotated the key after this node
// cached it, and a ciphertext made with the new material must decrypt
// here too. It returns nil, nil when there is nothing to reload: one node
// owns the store (its cache is never stale), or this snapshot was checked
// already. A reload that finds the same revision marks the new snapshot
// checked as well, so ciphertexts naming material that does not exist
// cost one store read per key revision, not one per request.
func (s *Service) reloadForMaterial(ctx context.Context, ck *cachedKey) (*cachedKey, error) {
	if s.ttl == 0 || !ck.materialChecked.CompareAndSwap(false, true) {
		return nil, nil
	}
	ref := ck.meta.Ref()
	s.forgetKey(ref)
	fresh, err := s.loadKey(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if fresh.meta.Revision == ck.meta.Revision {
		fresh.materialChecked.Store(true)
	}
	if fresh.meta.AccountID != ck.meta.AccountID {
		return nil, nil
	}
	return fresh, nil
}

// forgetKey drops a cached key after a write to it, and keeps loads that
// started before the write from caching what they read.
func (s *Service) forgetKey(ref store.KeyRef) {
	s.mu.Lock()
	s.gen++
	s.keys.del(ref)
	s.mu.Unlock()
}

// forgetAlias drops a cached alias target after a write to the alias.
func (s *Service) forgetAlias(a aliasRef) {
	s.mu.Lock()
	s.gen++
	s.aliases.del(a)
	s.mu.Unlock()
}

// forgetAliasesOf drops the cached aliases that point to keyID.
func (s *Service) forgetAliasesOf(keyID string) {
	s.mu.Lock()
	s.gen++
	for a, e := range s.aliases.m {
		if e.v.keyID == keyID {
			s.aliases.del(a)
		}
	}
	s.mu.Unlock()
}

// find returns the key a KeyId member names, without authorizing. It
// reports the alias name when KeyId named an alias (kms:RequestAlias). It
// returns the caller-facing errors AWS gives: NotFoundException for
// unknown keys and aliases, InvalidArnException for malformed ARNs.
func (s *Service) find(ctx context.Context, c *Caller, id string, allowAlias bool) (*cachedKey, string, error) {
	r, err := parseKeyRef(c, id, allowAlias)
	if err != nil {
		return nil, "", err
	}
	keyID := r.keyID
	if r.kind == refAliasName || r.kind == refAliasARN {
		keyID, err = s.aliasTarget(ctx, r.region, r.accountID, r.alias)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", errAliasNotFound(AliasARN(r.region, r.accountID, r.alias))
		}
		if err != nil {
			return nil, "", err
		}
	}
	if r.region != c.Region {
		return nil, "", wire.Errorf("NotFoundException", "Invalid arn %s", r.region)
	}
	ck, err := s.loadKey(ctx, store.KeyRef{Region: r.region, KeyID: keyID})
	if errors.Is(err, store.ErrNotFound) || err == nil && ck.meta.AccountID != r.accountID {
		return nil, "", errKeyNotFound(KeyARN(r.region, r.accountID, keyID))
	}
	if err != nil {
		return nil, "", err
	}
	return ck, r.alias, nil
}

// resolve finds the key a KeyId member names and authorizes the
// operation on it: see find and authorize. A key of another account is
// refused for operations without cross-account use.
func (s *Service) resolve(ctx context.Context, c *Caller, id string, o keyOp, req *condReq) (*cachedKey, error) {
	ck, alias, err := s.find(ctx, c, id, o.alias)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeFound(ctx, c, o, ck, alias, req); err != nil {
		return nil, err
	}
	return ck, nil
}

// authorizeFound authorizes o on a key found by find (alias is the
// alias KeyId named, if any).
func (s *Service) authorizeFound(ctx context.Context, c *Caller, o keyOp, ck *cachedKey, alias string, req *condReq) error {
	if !o.cross && ck.meta.AccountID != c.AccountID {
		return denyOtherAccount(c, o.action, ck)
	}
	if alias != "" {
		// kms:RequestAlias: "the value of the KeyId parameter in the
		// request must be a matching alias name or alias ARN"; the
		// condition value is the alias name (conditions-kms.md).
		var r condReq
		if req != nil {
			r = *req
		}
		r.requestAlias = alias
		req = &r
	}
	if err := s.authorizeKey(ctx, c, o.action, ck, req); err != nil {
		return err
	}
	return refuseAWSManaged(c, ck, o.action)
}

func (s *Service) aliasTarget(ctx context.Context, region, accountID, name string) (string, error) {
	ar := aliasRef{region, accountID, name}
	s.mu.RLock()
	ca, ok := s.aliases.get(ar)
	gen := s.gen
	s.mu.RUnlock()
	if ok && s.cacheFresh(ca.loaded) {
		return ca.keyID, nil
	}
	a, err := s.store.GetAlias(ctx, region, accountID, name)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.gen == gen {
		s.aliases.put(ar, cachedAlias{keyID: a.TargetKeyID, loaded: s.now()})
	}
	s.mu.Unlock()
	return a.TargetKeyID, nil
}

// updateLive is update for changes that a key pending deletion refuses.
func (s *Service) updateLive(ctx context.Context, ck *cachedKey, fn func(*store.Key) error) error {
	_, err := s.update(ctx, ck, func(k *store.Key) error {
		if pendingDeletion(k.KeyState) {
			return errPendingDeletion(ck.arn)
		}
		return fn(k)
	})
	return err
}

// update applies fn to the key in a store transaction and drops the cached
// copy. fn sees the current stored state.
func (s *Service) update(ctx context.Context, ck *cachedKey, fn func(*store.Key) error) (store.Key, error) {
	ref := ck.meta.Ref()
	k, err := s.store.UpdateKey(ctx, ref, fn)
	s.forgetKey(ref)
	if errors.Is(err, store.ErrNotFound) {
		return k, errKeyNotFound(ck.arn)
	}
	return k, err
}
