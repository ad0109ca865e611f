package store

import (
	"context"
	"errors"
	"time"
)

// KeyUsageRecord is the last use of one key, to be recorded as its
// [Key.LastUsage].
type KeyUsageRecord struct {
	Ref   KeyRef
	Usage KeyUsage
}

// KeyUsageRecorder is implemented by stores that record the last use of
// many keys in one transaction: a node flushing the usage of a hundred
// thousand keys then commits (and fsyncs) once per batch instead of once
// per key. Recording a use is not a change other nodes must hear of (no
// cache holds it), so it announces nothing ([Notifier]).
type KeyUsageRecorder interface {
	// RecordKeyUsage sets each key's LastUsage to the record's Usage
	// where that is later than the stored one (or none is stored), all in
	// one transaction. The key document is not rewritten and Revision
	// does not change: the use is kept beside the key, and every read of
	// the key (GetKey, UpdateKey) returns the later of it and the
	// document's own LastUsage. It returns how many keys it changed and
	// the refs of the keys that do not exist (which it skips).
	RecordKeyUsage(ctx context.Context, uses []KeyUsageRecord) (written int, missing []KeyRef, err error)
}

// RecordKeyUsage records uses in st: in one transaction if st is a
// [KeyUsageRecorder], else with one [Store.UpdateKey] per key. Its
// results are those of [KeyUsageRecorder.RecordKeyUsage]; on an error,
// some uses may have been recorded.
func RecordKeyUsage(ctx context.Context, st Store, uses []KeyUsageRecord) (written int, missing []KeyRef, err error) {
	if r, ok := st.(KeyUsageRecorder); ok {
		return r.RecordKeyUsage(ctx, uses)
	}
	var errs []error
	for _, u := range uses {
		_, err := st.UpdateKey(ctx, u.Ref, func(k *Key) error {
			if !u.Usage.Later(k.LastUsage) {
				return errNotLater
			}
			use := u.Usage
			k.LastUsage = &use
			return nil
		})
		switch {
		case errors.Is(err, ErrNotFound):
			missing = append(missing, u.Ref)
		case errors.Is(err, errNotLater):
		case err != nil:
			errs = append(errs, err)
			if ctx.Err() != nil {
				return written, missing, errors.Join(errs...)
			}
		default:
			written++
		}
	}
	return written, missing, errors.Join(errs...)
}

var errNotLater = errors.New("store: stored key usage is later")

// Later reports whether u is later than the stored use (nil: none).
func (u KeyUsage) Later(stored *KeyUsage) bool {
	return stored == nil || u.Time.After(stored.Time)
}

// MergeUsage sets k.LastUsage to the use recorded beside the key (atNs
// unix nanoseconds, valid when ok) when that is later: the backends'
// reads of a key call it with the use a [KeyUsageRecorder] kept.
func MergeUsage(k *Key, atNs int64, op, reqID string, ok bool) {
	if !ok {
		return
	}
	u := KeyUsage{Time: time.Unix(0, atNs).UTC(), Operation: op, RequestID: reqID}
	if u.Later(k.LastUsage) {
		k.LastUsage = &u
	}
}
