package store

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable is wrapped by a backend's error when the database could
// not be reached in time: the connection was refused, reset or lost, or a
// query passed its deadline. The write it belonged to, if any, did not
// commit or its outcome is unknown; trying again later may succeed. The
// API layer answers it with DependencyTimeoutException (503) where the
// operation's model lists that error. Check with errors.Is.
var ErrUnavailable = errors.New("store: database unavailable")

// ChangeKind says what a [Change] is about.
type ChangeKind string

// The kinds of change a shared store announces.
const (
	// ChangeKey: the key (Region, KeyID) was updated (state, policy,
	// tags, rotation, material, deletion schedule) or deleted with its
	// aliases and grants.
	ChangeKey ChangeKind = "key"
	// ChangeAlias: the alias (Region, AccountID, Name) was created,
	// pointed elsewhere or deleted. KeyIDs are the keys it pointed to
	// before and after (a key's alias list is part of its cached state).
	ChangeAlias ChangeKind = "alias"
	// ChangeGrant: a grant of the key (Region, KeyID) was created or
	// deleted.
	ChangeGrant ChangeKind = "grant"
	// ChangeAccessKey: the access key AccessKeyID was updated or deleted.
	ChangeAccessKey ChangeKind = "access-key"
	// ChangeIAM: an IAM user, role or policy of AccountID changed (Entity
	// and Name name the user or role when there is one): identity
	// policies, user tags and user existence may differ.
	ChangeIAM ChangeKind = "iam"
	// ChangeReset: changes may have been missed (the listening connection
	// was lost and re-established). Everything cached must be dropped.
	ChangeReset ChangeKind = "reset"
	// ChangeSynced is never announced by a write: Listen delivers it when
	// a probe this node sent to itself comes back, to say that every
	// change committed before Synced (this node's clock, when the probe
	// was sent) has been delivered. A node that has heard one recently
	// knows its caches are no older than that.
	ChangeSynced ChangeKind = "synced"
)

// SyncInterval is how often a [Notifier] probes its own listening
// connection for a [ChangeSynced].
const SyncInterval = 250 * time.Millisecond

// Change announces a committed write to the other nodes that share a
// store, so they drop what they cached. It carries kinds and ids only,
// never a secret, key material or a policy document.
type Change struct {
	Kind        ChangeKind `json:"k"`
	Region      string     `json:"r,omitempty"`
	AccountID   string     `json:"a,omitempty"`
	KeyID       string     `json:"key,omitempty"`
	KeyIDs      []string   `json:"keys,omitempty"` // ChangeAlias: old and new targets
	Name        string     `json:"n,omitempty"`
	Deleted     bool       `json:"d,omitempty"` // ChangeKey: the key is gone, with its aliases
	Entity      EntityKind `json:"e,omitempty"` // ChangeIAM: user or role
	AccessKeyID string     `json:"ak,omitempty"`
	// Synced is when the probe of a ChangeSynced was sent; it is local to
	// the node and never part of an announcement.
	Synced time.Time `json:"-"`
}

// Notifier is implemented by a store that several nodes share. A node
// calls Listen once; a backend that is not shared does not implement it.
type Notifier interface {
	// Listen calls fn, from one goroutine, for every change committed by
	// any node sharing the store (this one included), in commit order,
	// until ctx ends; then it returns ctx's error. A change is announced
	// in the transaction of its write, so a rolled-back write announces
	// nothing. When announcements may have been lost (the listening
	// connection broke and was re-established), fn is called with a
	// ChangeReset once listening resumes. connected is called with false
	// when the connection is lost and with true when it is (re)made.
	// While connected, fn is also called every [SyncInterval] or so with
	// a ChangeSynced, after every change committed before its Synced time.
	Listen(ctx context.Context, fn func(Change), connected func(bool)) error
}

// Pinger is implemented by a store whose database can be unreachable.
type Pinger interface {
	// Ping returns nil when the database answers, or an error wrapping
	// ErrUnavailable.
	Ping(ctx context.Context) error
}

// Locker is implemented by a store that several nodes share, to run
// background jobs on one node at a time.
type Locker interface {
	// RunLocked runs job while holding the lock called name, shared by
	// every node of the store, if no other node holds it; it reports
	// whether job ran. The lock is released when job returns, and by the
	// database when the node dies or loses its connection, so a job must
	// be idempotent: after a crash or a lost connection, another node may
	// run it again, even while the first still finishes.
	RunLocked(ctx context.Context, name string, job func(ctx context.Context) error) (ran bool, err error)
}

// RunOnce runs job on one node at a time: under st's named lock when st
// is shared ([Locker]), directly otherwise (one node owns the store). It
// reports whether job ran; it did not when another node held the lock.
func RunOnce(ctx context.Context, st Store, name string, job func(ctx context.Context) error) (ran bool, err error) {
	if l, ok := st.(Locker); ok {
		return l.RunLocked(ctx, name, job)
	}
	return true, job(ctx)
}
