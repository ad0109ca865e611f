package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// CustomKeyStores persists custom key stores (CreateCustomKeyStore and the
// operations around it). A custom key store is addressed by region and id;
// ids are unique in a region across accounts, names are unique per region
// and account.
type CustomKeyStores interface {
	// CreateCustomKeyStore adds a custom key store: ErrExists if its
	// (Region, ID) or its (Region, AccountID, Name) is taken, ErrQuota if
	// the account already has max custom key stores in the region (max <=
	// 0 means no limit). Concurrent creates are serialized, so max is
	// never exceeded.
	CreateCustomKeyStore(ctx context.Context, c CustomKeyStore, max int) error
	// GetCustomKeyStore returns the custom key store, or ErrNotFound.
	GetCustomKeyStore(ctx context.Context, region, id string) (CustomKeyStore, error)
	// ListCustomKeyStores returns up to limit custom key stores of the
	// account in the region whose ID sorts after the given one, ordered by
	// ID. limit <= 0 means no limit.
	ListCustomKeyStores(ctx context.Context, region, accountID, after string, limit int) ([]CustomKeyStore, error)
	// UpdateCustomKeyStore loads the custom key store, calls fn with it
	// and saves what fn left in it, in one transaction. If fn returns an
	// error nothing is saved and that error is returned unchanged. If fn
	// changes Region, ID, AccountID or CreationDate nothing is saved and
	// an error is returned; a new Name that another store of the account
	// has is ErrExists. It returns the saved record, or ErrNotFound
	// (without calling fn).
	UpdateCustomKeyStore(ctx context.Context, region, id string, fn func(*CustomKeyStore) error) (CustomKeyStore, error)
	// DeleteCustomKeyStore removes the custom key store: ErrNotFound if it
	// does not exist, ErrInUse (nothing removed) if a key of the region
	// names it in its CustomKeyStoreID, in any key state.
	DeleteCustomKeyStore(ctx context.Context, region, id string) error
}

// Custom key store types and connection states (the model's
// CustomKeyStoreType and ConnectionStateType).
const (
	TypeCloudHSM = "AWS_CLOUDHSM"
	TypeExternal = "EXTERNAL_KEY_STORE"

	Connected     = "CONNECTED"
	Connecting    = "CONNECTING"
	Disconnected  = "DISCONNECTED"
	Disconnecting = "DISCONNECTING"
	Failed        = "FAILED"
)

// CustomKeyStore is a custom key store: every member of the model's
// CustomKeyStoresListEntry for both types, and the secrets of each type
// sealed by the root key provider, bound to the store's region and id
// (package kms does the sealing). Secrets are never kept unsealed.
type CustomKeyStore struct {
	Region    string
	ID        string // "cks-" and 17 hex digits
	AccountID string

	Name         string
	Type         string // TypeCloudHSM or TypeExternal
	CreationDate time.Time
	// ConnectionState is one of the states above; ConnectionErrorCode is
	// set while it is FAILED.
	ConnectionState     string
	ConnectionErrorCode string `json:",omitzero"`

	// AWS_CLOUDHSM: the cluster, its trust anchor (PEM), and the
	// KeyStorePassword sealed.
	CloudHsmClusterID      string `json:",omitzero"`
	TrustAnchorCertificate string `json:",omitzero"`
	SealedPassword         []byte `json:",omitzero"`

	// EXTERNAL_KEY_STORE: XksProxyConfiguration, and the raw secret
	// access key of XksProxyAuthenticationCredential sealed.
	XksProxyConnectivity            string `json:",omitzero"`
	XksProxyURIEndpoint             string `json:",omitzero"`
	XksProxyURIPath                 string `json:",omitzero"`
	XksProxyVpcEndpointServiceName  string `json:",omitzero"`
	XksProxyVpcEndpointServiceOwner string `json:",omitzero"`
	XksProxyAccessKeyID             string `json:",omitzero"`
	SealedXksSecret                 []byte `json:",omitzero"`
}

// NormalizeCustomKeyStore returns a copy of c with its time in UTC and
// fresh byte slices.
func NormalizeCustomKeyStore(c CustomKeyStore) CustomKeyStore {
	c.CreationDate = UTC(c.CreationDate)
	c.SealedPassword = append([]byte(nil), c.SealedPassword...)
	c.SealedXksSecret = append([]byte(nil), c.SealedXksSecret...)
	if len(c.SealedPassword) == 0 {
		c.SealedPassword = nil
	}
	if len(c.SealedXksSecret) == 0 {
		c.SealedXksSecret = nil
	}
	return c
}

// MarshalCustomKeyStore returns the JSON document in which backends
// persist a custom key store (the whole record; the backends' columns
// repeat what they query on).
func MarshalCustomKeyStore(c CustomKeyStore) ([]byte, error) {
	return json.Marshal(NormalizeCustomKeyStore(c))
}

// UnmarshalCustomKeyStore decodes a document written by
// MarshalCustomKeyStore; the address and account come from the backend's
// columns.
func UnmarshalCustomKeyStore(doc []byte, region, id, accountID string) (CustomKeyStore, error) {
	var c CustomKeyStore
	if err := json.Unmarshal(doc, &c); err != nil {
		return CustomKeyStore{}, fmt.Errorf("decode custom key store %s/%s: %w", region, id, err)
	}
	c = NormalizeCustomKeyStore(c)
	c.Region, c.ID, c.AccountID = region, id, accountID
	return c, nil
}

// CheckCustomKeyStoreUpdate returns an error if an update changed what
// UpdateCustomKeyStore keeps fixed.
func CheckCustomKeyStoreUpdate(old, new CustomKeyStore) error {
	if old.Region != new.Region || old.ID != new.ID || old.AccountID != new.AccountID || !old.CreationDate.Equal(new.CreationDate) {
		return fmt.Errorf("store: update of custom key store %s may not change its region, id, account or creation date", old.ID)
	}
	return nil
}
