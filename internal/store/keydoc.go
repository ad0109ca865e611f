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
	k.NextRotationDate = UTC(k.NextRotationDate)
	k.MaterialExpiry = UTC(k.MaterialExpiry)
	if k.LastUsage != nil {
		u := *k.LastUsage
		u.Time = UTC(u.Time)
		k.LastUsage = &u
	}
	k.Tags = slices.Clone(k.Tags)
	k.Materials = slices.Clone(k.Materials)
	k.MultiRegionReplicas = slices.Clone(k.MultiRegionReplicas)
	for i := range k.Materials {
		k.Materials[i].CreatedAt = UTC(k.Materials[i].CreatedAt)
		k.Materials[i].ValidTo = UTC(k.Materials[i].ValidTo)
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

// grantDoc is the part of a Grant that backends keep in a JSON document
// beside the columns they query on.
type grantDoc struct {
	GranteeServicePrincipal  string            `json:",omitempty"`
	RetiringServicePrincipal string            `json:",omitempty"`
	IssuingAccount           string            `json:",omitempty"`
	Operations               []string          `json:",omitempty"`
	EncryptionContextEquals  map[string]string `json:",omitempty"`
	EncryptionContextSubset  map[string]string `json:",omitempty"`
	SourceArn                string            `json:",omitempty"`
}

// MarshalGrantDoc returns the JSON document in which backends persist the
// fields of g that are not columns (Region, KeyID, AccountID, GrantID,
// Name, CreationDate, GranteePrincipal and RetiringPrincipal are). An
// empty constraint map (EncryptionContextEquals {} means "no context") is
// kept apart from an absent one.
func MarshalGrantDoc(g Grant) ([]byte, error) {
	d := grantDoc{
		GranteeServicePrincipal: g.GranteeServicePrincipal, RetiringServicePrincipal: g.RetiringServicePrincipal,
		IssuingAccount: g.IssuingAccount, Operations: g.Operations, SourceArn: g.SourceArn,
		EncryptionContextEquals: g.EncryptionContextEquals, EncryptionContextSubset: g.EncryptionContextSubset,
	}
	type withEmpty struct {
		grantDoc
		EqualsEmpty bool `json:",omitempty"`
		SubsetEmpty bool `json:",omitempty"`
	}
	return json.Marshal(withEmpty{d, g.EncryptionContextEquals != nil && len(g.EncryptionContextEquals) == 0,
		g.EncryptionContextSubset != nil && len(g.EncryptionContextSubset) == 0})
}

// UnmarshalGrantDoc fills the document fields of g from doc.
func UnmarshalGrantDoc(doc []byte, g *Grant) error {
	var d struct {
		grantDoc
		EqualsEmpty bool
		SubsetEmpty bool
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return fmt.Errorf("decode grant %s/%s/%s: %w", g.Region, g.KeyID, g.GrantID, err)
	}
	g.GranteeServicePrincipal, g.RetiringServicePrincipal = d.GranteeServicePrincipal, d.RetiringServicePrincipal
	g.IssuingAccount, g.Operations, g.SourceArn = d.IssuingAccount, d.Operations, d.SourceArn
	g.EncryptionContextEquals, g.EncryptionContextSubset = d.EncryptionContextEquals, d.EncryptionContextSubset
	if d.EqualsEmpty {
		g.EncryptionContextEquals = map[string]string{}
	}
	if d.SubsetEmpty {
		g.EncryptionContextSubset = map[string]string{}
	}
	g.CreationDate = UTC(g.CreationDate)
	return nil
}
