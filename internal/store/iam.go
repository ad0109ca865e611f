package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrInUse is returned, wrapped in an [*InUseError], by a delete that would
// leave other records pointing at nothing; check with errors.Is, and with
// errors.As for what still uses the record.
var ErrInUse = errors.New("store: in use")

// What an [InUseError] reports, in the order DeleteEntity checks them.
const (
	UsedByAccessKeys       = "access-keys"
	UsedByInlinePolicies   = "inline-policies"
	UsedByAttachedPolicies = "attached-policies"
	UsedByAttachments      = "attachments" // DeletePolicy: the policy is attached
)

// InUseError says what keeps a record from being deleted.
type InUseError struct{ By string }

func (e *InUseError) Error() string        { return "store: in use by " + e.By }
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// EntityKind is the kind of an IAM principal entity.
type EntityKind string

// The IAM entity kinds.
const (
	KindUser EntityKind = "user"
	KindRole EntityKind = "role"
)

// Entity is an IAM user or role of an account. Its Name is unique within
// its account and kind without regard to case, as IAM names are; lookups
// by name ignore case too (IAM names are ASCII: [\w+=,.@-]).
type Entity struct {
	AccountID string
	Kind      EntityKind
	Name      string // as created
	Path      string // "/" or "/a/b/"
	ID        string // "AIDA..." for users, "AROA..." for roles
	CreatedAt time.Time
	Tags      []Tag // in the order they were set

	// Roles only.
	TrustPolicy        string // the assume role policy document, as put
	MaxSessionDuration int    // seconds
	Description        string
}

// ManagedPolicy is a customer managed IAM policy with its default version.
// Its Name is unique within its account without regard to case.
// AttachmentCount is computed by the store on reads and ignored on writes.
type ManagedPolicy struct {
	AccountID        string
	Name             string
	Path             string
	ID               string // "ANPA..."
	Description      string
	Document         string // the default version's document, as put
	DefaultVersionID string // "v1"
	CreatedAt        time.Time
	UpdatedAt        time.Time
	Tags             []Tag
	AttachmentCount  int `json:"-"`
}

// InlinePolicy is a policy document embedded in a user or role. Its Name
// is unique per entity without regard to case.
type InlinePolicy struct {
	AccountID  string
	Kind       EntityKind
	EntityName string
	Name       string
	Document   string
}

// IAMStore is the part of [Store] that keeps IAM users, roles and
// policies. Every name argument is matched without regard to case.
type IAMStore interface {
	// CreateEntity adds a user or role; ErrExists if the name is taken in
	// its account and kind, ErrNotFound if the account does not exist.
	CreateEntity(ctx context.Context, e Entity) error
	// GetEntity returns the entity, or ErrNotFound.
	GetEntity(ctx context.Context, accountID string, kind EntityKind, name string) (Entity, error)
	// ListEntities returns the account's entities of the kind ordered by
	// lower-cased name.
	ListEntities(ctx context.Context, accountID string, kind EntityKind) ([]Entity, error)
	// UpdateEntity loads the entity, calls fn with it and saves what fn
	// left in it, in one transaction. If fn returns an error nothing is
	// saved and that error is returned unchanged. If fn changes AccountID,
	// Kind, Name, ID or CreatedAt nothing is saved and an error is
	// returned. ErrNotFound if the entity does not exist (fn not called).
	UpdateEntity(ctx context.Context, accountID string, kind EntityKind, name string, fn func(*Entity) error) (Entity, error)
	// DeleteEntity removes the entity in one transaction, or returns
	// ErrNotFound, or an *InUseError (matching ErrInUse) when it still has
	// access keys (users), inline policies or attached policies, checked
	// in that order.
	DeleteEntity(ctx context.Context, accountID string, kind EntityKind, name string) error

	// PutInlinePolicy adds or replaces an entity's inline policy;
	// ErrNotFound if the entity does not exist. A replaced policy keeps
	// the name it was first put with.
	PutInlinePolicy(ctx context.Context, p InlinePolicy) error
	// GetInlinePolicy returns the inline policy, or ErrNotFound.
	GetInlinePolicy(ctx context.Context, accountID string, kind EntityKind, entity, name string) (InlinePolicy, error)
	// ListInlinePolicies returns the entity's inline policies ordered by
	// lower-cased name; none for an unknown entity.
	ListInlinePolicies(ctx context.Context, accountID string, kind EntityKind, entity string) ([]InlinePolicy, error)
	// DeleteInlinePolicy removes the inline policy, or returns ErrNotFound.
	DeleteInlinePolicy(ctx context.Context, accountID string, kind EntityKind, entity, name string) error

	// CreatePolicy adds a managed policy; ErrExists if the name is taken
	// in the account, ErrNotFound if the account does not exist.
	CreatePolicy(ctx context.Context, p ManagedPolicy) error
	// GetPolicy returns the managed policy, or ErrNotFound.
	GetPolicy(ctx context.Context, accountID, name string) (ManagedPolicy, error)
	// ListPolicies returns the account's managed policies ordered by
	// lower-cased name.
	ListPolicies(ctx context.Context, accountID string) ([]ManagedPolicy, error)
	// DeletePolicy removes the managed policy, or returns ErrNotFound, or
	// an *InUseError when it is attached to an entity.
	DeletePolicy(ctx context.Context, accountID, name string) error
	// AttachPolicy attaches the account's managed policy to the entity;
	// attaching it again changes nothing. ErrNotFound if the entity or the
	// policy does not exist.
	AttachPolicy(ctx context.Context, accountID string, kind EntityKind, entity, policy string) error
	// DetachPolicy detaches the policy, or returns ErrNotFound if it is
	// not attached to the entity.
	DetachPolicy(ctx context.Context, accountID string, kind EntityKind, entity, policy string) error
	// ListAttachedPolicies returns the managed policies attached to the
	// entity ordered by lower-cased name; none for an unknown entity.
	ListAttachedPolicies(ctx context.Context, accountID string, kind EntityKind, entity string) ([]ManagedPolicy, error)
}

// NameKey is the form in which backends index IAM names: IAM names are
// unique without regard to case.
func NameKey(name string) string { return strings.ToLower(name) }

// MarshalEntity returns the JSON document in which backends persist an
// entity; the columns they index (account, kind, name key) sit beside it.
func MarshalEntity(e Entity) ([]byte, error) {
	e.CreatedAt = UTC(e.CreatedAt)
	e.Tags = slices.Clone(e.Tags)
	return json.Marshal(e)
}

// UnmarshalEntity decodes a document written by MarshalEntity.
func UnmarshalEntity(doc []byte) (Entity, error) {
	var e Entity
	if err := json.Unmarshal(doc, &e); err != nil {
		return Entity{}, fmt.Errorf("decode IAM entity: %w", err)
	}
	e.CreatedAt = UTC(e.CreatedAt)
	return e, nil
}

// MarshalPolicy returns the JSON document in which backends persist a
// managed policy.
func MarshalPolicy(p ManagedPolicy) ([]byte, error) {
	p.CreatedAt, p.UpdatedAt = UTC(p.CreatedAt), UTC(p.UpdatedAt)
	p.Tags = slices.Clone(p.Tags)
	return json.Marshal(p)
}

// UnmarshalPolicy decodes a document written by MarshalPolicy.
func UnmarshalPolicy(doc []byte) (ManagedPolicy, error) {
	var p ManagedPolicy
	if err := json.Unmarshal(doc, &p); err != nil {
		return ManagedPolicy{}, fmt.Errorf("decode IAM policy: %w", err)
	}
	p.CreatedAt, p.UpdatedAt = UTC(p.CreatedAt), UTC(p.UpdatedAt)
	return p, nil
}

// ErrEntityIdentity is returned by UpdateEntity when fn changed a field
// that cannot change.
var ErrEntityIdentity = errors.New("store: UpdateEntity cannot change an entity's account, kind, name, id or creation date")

// CheckEntityUpdate returns ErrEntityIdentity if after differs from before
// in a field UpdateEntity keeps.
func CheckEntityUpdate(before, after Entity) error {
	if before.AccountID != after.AccountID || before.Kind != after.Kind || before.Name != after.Name ||
		before.ID != after.ID || !before.CreatedAt.Equal(after.CreatedAt) {
		return ErrEntityIdentity
	}
	return nil
}
