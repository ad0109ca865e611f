// Package store defines how Trent persists accounts, access keys, KMS keys
// and aliases, and the errors every backend reports.
//
// # Invariants
//
// A Store holds key material only in sealed form: [Material.Sealed] is the
// output of the root key provider, never raw key bytes. Every method that
// changes more than one row does so in one transaction, so a failed call
// leaves nothing half-written. A method that returns nil has made its change
// durable.
//
// Keys are addressed by [KeyRef] (region and key id); key ids are unique in
// a region across accounts. Aliases are unique per region and account, and
// an alias can only point to a key of its own region and account.
//
// Times are returned in UTC and keep at least millisecond precision; the
// zero time is returned as the zero time. Lists order strings bytewise (as
// Go's < does), never by a locale's collation.
//
// # Errors
//
// Methods return [ErrNotFound] when the addressed record does not exist and
// [ErrExists] when a create would duplicate one; check with errors.Is. Any
// other error is a backend failure.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by every Store implementation.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	// ErrQuota is returned by a create that a count limit refuses
	// (CreateGrant's max).
	ErrQuota = errors.New("store: quota reached")
)

// Store is the persistence interface that every backend implements. The
// conformance suite in package storetest defines its behaviour precisely.
type Store interface {
	// GetMeta returns the value saved under name, or ErrNotFound.
	GetMeta(ctx context.Context, name string) ([]byte, error)
	// PutMeta saves value under name, replacing any previous value.
	PutMeta(ctx context.Context, name string, value []byte) error
	// CreateMeta saves value under name only if nothing is saved there
	// yet; ErrExists otherwise. Of several callers racing on one name,
	// exactly one succeeds.
	CreateMeta(ctx context.Context, name string, value []byte) error

	// CreateAccount adds an account; ErrExists if its id is taken.
	CreateAccount(ctx context.Context, a Account) error
	// GetAccount returns the account with the id, or ErrNotFound.
	GetAccount(ctx context.Context, id string) (Account, error)
	// ListAccounts returns every account ordered by id.
	ListAccounts(ctx context.Context) ([]Account, error)

	// CreateAccessKey adds an access key; ErrExists if its id is taken,
	// ErrNotFound if its account does not exist or, when UserName is set,
	// if the account has no such user.
	CreateAccessKey(ctx context.Context, k AccessKey) error
	// GetAccessKey returns the access key with the id, or ErrNotFound.
	GetAccessKey(ctx context.Context, id string) (AccessKey, error)
	// ListAccessKeys returns the account's access keys ordered by id.
	ListAccessKeys(ctx context.Context, accountID string) ([]AccessKey, error)
	// DeleteAccessKey removes an access key, or returns ErrNotFound.
	DeleteAccessKey(ctx context.Context, id string) error
	// UpdateAccessKey loads the access key, calls fn with it and saves what
	// fn left in it, all in one transaction. If fn returns an error nothing
	// is saved and that error is returned unchanged. AccountID, Principal,
	// UserName, Status and SealedSecret can be changed; if fn changes ID or CreatedAt nothing
	// is saved and an error is returned. It returns the saved key, or
	// ErrNotFound if the key does not exist (without calling fn) or if fn
	// moved it to an account that does not exist (nothing saved).
	UpdateAccessKey(ctx context.Context, id string, fn func(*AccessKey) error) (AccessKey, error)

	// CreateKey adds a key with its materials; ErrExists if the KeyRef is taken.
	CreateKey(ctx context.Context, k Key) error
	// GetKey returns the key, materials included, or ErrNotFound.
	GetKey(ctx context.Context, ref KeyRef) (Key, error)
	// ListKeys returns the refs of up to limit keys of the account in the
	// region whose KeyID sorts after the given one ("" starts at the
	// beginning), ordered by KeyID. limit <= 0 means no limit. It reads
	// only the key's address, never its document: no policy, tags or
	// sealed material is loaded to list keys.
	ListKeys(ctx context.Context, region, accountID, after string, limit int) ([]KeyRef, error)
	// CountKeys returns how many customer keys the account has in the
	// region, in any state; AWS managed keys (KeyManager AWS) are not
	// counted. It reads a count the store keeps, not the keys.
	CountKeys(ctx context.Context, region, accountID string) (int, error)
	// KeyCounts returns how many keys there are of each key state and key
	// spec, over every region and account, ordered by state then spec.
	// It is meant for metrics: it reads counts the store keeps, not the
	// keys.
	KeyCounts(ctx context.Context) ([]KeyCount, error)
	// UpdateKey loads the key, calls fn with it and saves what fn left in it,
	// all in one transaction; Revision is incremented on save. If fn returns
	// an error nothing is saved and that error is returned unchanged. The
	// key's Region, KeyID and AccountID cannot be changed: if fn changes
	// them nothing is saved and an error is returned. A change fn makes to
	// Revision is ignored. UpdateKey returns the saved key, or ErrNotFound
	// (without calling fn).
	UpdateKey(ctx context.Context, ref KeyRef, fn func(*Key) error) (Key, error)
	// DeleteKey removes the key, its materials and every alias that points
	// to it in one transaction, or returns ErrNotFound.
	DeleteKey(ctx context.Context, ref KeyRef) error
	// DeleteKeyIfDue is DeleteKey for the deletion sweeper: in one
	// transaction it checks that the key is still due for deletion (see
	// [Key.DueForDeletion]) and only then removes it, its materials and its
	// aliases. It reports whether it deleted the key; a key that is no
	// longer due (its deletion was cancelled since it was listed) is left
	// untouched and reported as false with a nil error. A missing key is
	// ErrNotFound.
	DeleteKeyIfDue(ctx context.Context, ref KeyRef, now time.Time) (bool, error)
	// KeysDueForDeletion returns the refs of all keys, in every region and
	// account, whose DeletionDate is set and not after now.
	KeysDueForDeletion(ctx context.Context, now time.Time) ([]KeyRef, error)
	// KeysDueForMaterialExpiry returns the refs of all keys, in every
	// region and account, whose MaterialExpiry is set and not after now,
	// ordered by region and key id. It reads an index, not the key
	// documents; the caller deletes the expired material in an UpdateKey
	// that checks again that it is due ([Key.DueForMaterialExpiry]).
	KeysDueForMaterialExpiry(ctx context.Context, now time.Time) ([]KeyRef, error)
	// KeysDueForRotation returns the refs of all keys, in every region and
	// account, whose NextRotationDate is set and not after now, ordered by
	// region and key id. It reads an index, not the key documents; the
	// caller rotates each key in an UpdateKey that checks again that it is
	// due ([Key.DueForRotation]), so a key is never rotated twice.
	KeysDueForRotation(ctx context.Context, now time.Time) ([]KeyRef, error)

	// CreateAlias adds an alias; ErrExists if (Region, AccountID, Name) is
	// taken, ErrNotFound if the target key does not exist in the alias's
	// region and account.
	CreateAlias(ctx context.Context, a Alias) error
	// GetAlias returns the alias or ErrNotFound.
	GetAlias(ctx context.Context, region, accountID, name string) (Alias, error)
	// UpdateAlias points an existing alias at another key and sets its
	// LastUpdatedDate; ErrNotFound if the alias or the key does not exist.
	UpdateAlias(ctx context.Context, region, accountID, name, targetKeyID string, now time.Time) error
	// DeleteAlias removes the alias or returns ErrNotFound.
	DeleteAlias(ctx context.Context, region, accountID, name string) error
	// ListAliases returns up to limit aliases of the account in the region
	// whose Name sorts after the given one, ordered by Name. A non-empty
	// targetKeyID keeps only aliases pointing to that key. limit <= 0 means
	// no limit.
	// It reads only the aliases table, never a key.
	ListAliases(ctx context.Context, region, accountID, targetKeyID, after string, limit int) ([]Alias, error)
	// CountAliases returns how many aliases of the account in the region
	// point to targetKeyID.
	CountAliases(ctx context.Context, region, accountID, targetKeyID string) (int, error)

	// CreateGrant adds a grant to its key in one transaction: ErrNotFound
	// if the key (Region, KeyID) does not exist, ErrQuota if the key
	// already has max grants (max <= 0 means no limit), ErrExists if the
	// key already has a grant with the GrantID. Concurrent creates on one
	// key are serialized, so max is never exceeded.
	CreateGrant(ctx context.Context, g Grant, max int) error
	// GetGrant returns the grant of the key with the id, or ErrNotFound.
	GetGrant(ctx context.Context, ref KeyRef, grantID string) (Grant, error)
	// ListGrants returns up to f.Limit grants of the key (all if Limit <=
	// 0) whose GrantID sorts after f.After, ordered by GrantID, keeping
	// only those that match f's non-empty fields. It reads only the grants
	// table.
	ListGrants(ctx context.Context, ref KeyRef, f GrantFilter) ([]Grant, error)
	// ListRetirableGrants returns up to limit grants (all if limit <= 0),
	// on keys of any account in the region, whose retiring principal (or
	// retiring service principal) is retiring, ordered by (GrantID,
	// KeyID) and starting after the position (afterGrantID, afterKeyID).
	ListRetirableGrants(ctx context.Context, region, retiring, afterGrantID, afterKeyID string, limit int) ([]Grant, error)
	// DeleteGrant removes the grant, or returns ErrNotFound. DeleteKey and
	// DeleteKeyIfDue remove a key's grants with it.
	DeleteGrant(ctx context.Context, ref KeyRef, grantID string) error

	// IAM users, roles and policies.
	IAMStore

	// Custom key stores (cks.go).
	CustomKeyStores

	// Close releases the backend's resources.
	Close() error
}

// Account is a tenant: a 12-digit AWS-style account id.
type Account struct {
	ID        string
	CreatedAt time.Time
}

// AccessKey is a SigV4 credential. SealedSecret is the secret access key
// sealed by the root key provider.
type AccessKey struct {
	ID           string // e.g. "AKIA..."
	AccountID    string
	Principal    string // IAM principal ARN, e.g. "arn:aws:iam::111122223333:root"
	UserName     string // the IAM user's name; "" for the account's root
	Status       string // "Active" or "Inactive"; "" reads as "Active"
	SealedSecret []byte
	CreatedAt    time.Time
}

// Access key statuses.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
)

// KeyRef addresses a key: key ids are unique within a region.
type KeyRef struct {
	Region string
	KeyID  string
}

// Key is a KMS key's metadata and sealed material. Fields that later
// features need are added here; backends persist the whole struct.
type Key struct {
	Region    string
	KeyID     string
	AccountID string
	Revision  int64 // set by the store: 1 on create, +1 on each UpdateKey

	Description  string
	KeyUsage     string // ENCRYPT_DECRYPT, SIGN_VERIFY, ...
	KeySpec      string // SYMMETRIC_DEFAULT, RSA_2048, ...
	Origin       string // AWS_KMS, EXTERNAL, ...
	KeyManager   string // CUSTOMER or AWS
	KeyState     string // Enabled, Disabled, PendingDeletion, ...
	MultiRegion  bool
	CreationDate time.Time

	// DeletionDate is set (non-zero) while KeyState is PendingDeletion.
	DeletionDate        time.Time
	PendingWindowInDays int

	Policy     string // the key policy document, exactly as put
	PolicyName string // always "default" today
	Tags       []Tag  // ordered as the user last set them

	CurrentMaterialID string
	Materials         []Material

	// Automatic rotation of the material (SYMMETRIC_DEFAULT keys):
	// whether it is enabled, its period and the next date it is due.
	// NextRotationDate is set exactly while RotationEnabled is true;
	// backends index it ([Store.KeysDueForRotation]).
	RotationEnabled      bool      `json:",omitzero"`
	RotationPeriodInDays int       `json:",omitzero"`
	NextRotationDate     time.Time `json:",omitzero"`
	// OnDemandRotations counts the RotateKeyOnDemand calls the key has had.
	OnDemandRotations int `json:",omitzero"`

	// MaterialExpiry is the earliest ValidTo of the key's imported
	// materials that still hold material (Origin EXTERNAL), zero if none
	// expires; backends index it ([Store.KeysDueForMaterialExpiry]).
	// Whoever changes Materials of an EXTERNAL key sets it again.
	MaterialExpiry time.Time `json:",omitzero"`

	// LastUsage is the key's last successful cryptographic operation
	// recorded so far (GetKeyLastUsage); nil if none.
	LastUsage *KeyUsage `json:",omitzero"`

	// Multi-Region keys (MultiRegion true): the region of the set's
	// primary key and the regions of its replicas, in the order they were
	// made. Every key of the set holds the whole configuration.
	MultiRegionPrimary  string   `json:",omitzero"`
	MultiRegionReplicas []string `json:",omitzero"`
	// CustomKeyStoreID names the custom key store whose backend holds the
	// key's material (Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE); its
	// materials then carry no sealed bytes. CloudHsmClusterID and XksKeyID
	// are what the backend recorded for KeyMetadata.
	CustomKeyStoreID  string `json:",omitzero"`
	CloudHsmClusterID string `json:",omitzero"`
	XksKeyID          string `json:",omitzero"`
}

// KeyUsage is one use of a key: when, in which operation (an AWS
// operation name, e.g. "Encrypt") and by which request.
type KeyUsage struct {
	Time      time.Time
	Operation string
	RequestID string
}

// DueForRotation reports whether the key's automatic rotation is due at
// now: rotation is enabled and NextRotationDate is set and not after now.
// It says nothing about the key's state.
func (k *Key) DueForRotation(now time.Time) bool {
	return k.RotationEnabled && !k.NextRotationDate.IsZero() && !k.NextRotationDate.After(now)
}

// DueForMaterialExpiry reports whether imported material of the key
// expires at or before now.
func (k *Key) DueForMaterialExpiry(now time.Time) bool {
	return !k.MaterialExpiry.IsZero() && !k.MaterialExpiry.After(now)
}

// DueForDeletion reports whether the key's deletion window has ended at
// now: KeyState is PendingDeletion and DeletionDate is set and not after now.
func (k *Key) DueForDeletion(now time.Time) bool {
	return k.KeyState == "PendingDeletion" && !k.DeletionDate.IsZero() && !k.DeletionDate.After(now)
}

// Ref returns the key's address.
func (k *Key) Ref() KeyRef { return KeyRef{Region: k.Region, KeyID: k.KeyID} }

// KeyCount is the number of keys with one key state and key spec.
type KeyCount struct {
	KeyState string
	KeySpec  string
	N        int
}

// Tag is a resource tag.
type Tag struct {
	Key   string
	Value string
}

// Material is one version of a key's material, sealed by the root key
// provider with the key ARN and material id as authenticated data.
type Material struct {
	ID        string // 64 lowercase hex characters
	Sealed    []byte
	CreatedAt time.Time
	// RotationType says how the material came: "AUTOMATIC" or "ON_DEMAND"
	// for material made by a rotation (CreatedAt is then the rotation
	// date), "" for the key's first material.
	RotationType string `json:",omitzero"`

	// Imported material (keys with Origin EXTERNAL, docs/import.md).
	// Sealed is nil while the material is deleted or expired (its
	// ImportState is PENDING_IMPORT): the id stays, so that only the same
	// material can be imported again. ExpirationModel and ValidTo are
	// those of the last import; Description is KeyMaterialDescription.
	// PendingRotation marks material imported for a RotateKeyOnDemand
	// that has not happened yet (KeyMaterialState PENDING_ROTATION).
	ExpirationModel string    `json:",omitzero"`
	ValidTo         time.Time `json:",omitzero"`
	Description     string    `json:",omitzero"`
	PendingRotation bool      `json:",omitzero"`
}

// Alias is a friendly name for a key, e.g. "alias/my-app".
type Alias struct {
	Region          string
	AccountID       string
	Name            string
	TargetKeyID     string
	CreationDate    time.Time
	LastUpdatedDate time.Time
}

// Grant is a KMS grant: permission for a grantee to use one key in the
// listed operations, under optional constraints. Exactly one of
// GranteePrincipal and GranteeServicePrincipal is set; at most one of
// RetiringPrincipal and RetiringServicePrincipal.
type Grant struct {
	Region    string
	KeyID     string
	AccountID string // the key's account
	GrantID   string // 64 lowercase hex characters

	Name                     string
	CreationDate             time.Time
	GranteePrincipal         string
	GranteeServicePrincipal  string
	RetiringPrincipal        string
	RetiringServicePrincipal string
	IssuingAccount           string // "arn:aws:iam::<account>:root" of the account that created it
	Operations               []string

	// Constraints; nil maps and "" are absent constraints.
	EncryptionContextEquals map[string]string
	EncryptionContextSubset map[string]string
	SourceArn               string
}

// Ref returns the address of the grant's key.
func (g *Grant) Ref() KeyRef { return KeyRef{Region: g.Region, KeyID: g.KeyID} }

// Grantee returns the grantee principal or, for a grant to a service,
// the grantee service principal.
func (g *Grant) Grantee() string {
	if g.GranteePrincipal != "" {
		return g.GranteePrincipal
	}
	return g.GranteeServicePrincipal
}

// Retiring returns the retiring principal or retiring service principal,
// "" if the grant has neither.
func (g *Grant) Retiring() string {
	if g.RetiringPrincipal != "" {
		return g.RetiringPrincipal
	}
	return g.RetiringServicePrincipal
}

// GrantFilter selects grants of one key for ListGrants. Empty fields do
// not filter.
type GrantFilter struct {
	GrantID string
	Name    string
	Grantee string // GranteePrincipal or GranteeServicePrincipal
	After   string // GrantID to start after
	Limit   int
}
