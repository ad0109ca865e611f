package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// UTC returns t in UTC without a monotonic reading; the zero time stays zero.
// Backends store and return every time this way.
func UTC(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// Normalize returns a copy of k with every time in UTC and fresh Tags and
// Materials slices, so a backend never shares the caller's slices.
func Normalize(k Key) Key {
	k.CreationDate = UTC(k.CreationDate)
	k.DeletionDate = UTC(k.DeletionDate)
	k.Tags = slices.Clone(k.Tags)
	k.Materials = slices.Clone(k.Materials)
	for i := range k.Materials {
		k.Materials[i].CreatedAt = UTC(k.Materials[i].CreatedAt)
	}
	return k
}

// MarshalKey returns the JSON document in which every backend persists a
// key: the whole Key, materials (sealed) included, so that a field added to
// Key later needs no schema migration. Backends keep the columns they query
// on (region, key id, account, revision, deletion date) beside it.
func MarshalKey(k Key) ([]byte, error) {
	return json.Marshal(Normalize(k))
}

// UnmarshalKey decodes a document written by MarshalKey; the address,
// account and revision come from the backend's columns, which are
// authoritative.
func UnmarshalKey(doc []byte, region, keyID, accountID string, revision int64) (Key, error) {
	var k Key
	if err := json.Unmarshal(doc, &k); err != nil {
		return Key{}, fmt.Errorf("decode key %s/%s: %w", region, keyID, err)
	}
	k = Normalize(k)
	k.Region, k.KeyID, k.AccountID, k.Revision = region, keyID, accountID, revision
	return k, nil
}
