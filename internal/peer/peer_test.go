package peer

import (
	"crypto/hpke"
	"fmt"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/kms"
)

// TestWrappedMaterialIsBoundToItsKey: material wrapped for one key, region
// or material id does not open for another, so a peer (or anyone replaying
// a captured change) cannot move material between keys.
func TestWrappedMaterialIsBoundToItsKey(t *testing.T) {
	priv, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ch := &kms.MemberChange{Region: "eu-west-1", AccountID: "111122223333", KeyID: "mrk-0123456789abcdef0123456789abcdef"}
	const mid = "aa"
	w, err := hpke.Seal(priv.PublicKey(), kdf, aead, info(ch, mid), []byte("material"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := hpke.Open(priv, kdf, aead, info(ch, mid), w); err != nil || string(pt) != "material" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	for name, other := range map[string]*kms.MemberChange{
		"region":  {Region: "eu-west-2", AccountID: ch.AccountID, KeyID: ch.KeyID},
		"account": {Region: ch.Region, AccountID: "444455556666", KeyID: ch.KeyID},
		"key":     {Region: ch.Region, AccountID: ch.AccountID, KeyID: "mrk-ffffffffffffffffffffffffffffffff"},
	} {
		if _, err := hpke.Open(priv, kdf, aead, info(other, mid), w); err == nil {
			t.Errorf("material wrapped for %s opens for another %s", ch.KeyID, name)
		}
	}
	if _, err := hpke.Open(priv, kdf, aead, info(ch, "bb"), w); err == nil {
		t.Error("material wrapped under one material id opens under another")
	}
	// A different receiver (a restarted peer) cannot open it either.
	other, _ := kem.GenerateKey()
	if _, err := hpke.Open(other, kdf, aead, info(ch, mid), w); err == nil {
		t.Error("material opens with another deployment's wrapping key")
	}
}

// TestMaterialNeverPrinted: formatting a change prints material ids, never
// the material.
func TestMaterialNeverPrinted(t *testing.T) {
	m := kms.MemberMaterial{ID: "aa", Raw: []byte("SECRETMATERIAL")}
	for _, s := range []string{fmt.Sprintf("%v", m), fmt.Sprintf("%+v", m), fmt.Sprintf("%#v", m), fmt.Sprintf("%v", []kms.MemberMaterial{m}),
		fmt.Sprintf("%+v", kms.MemberChange{Materials: []kms.MemberMaterial{m}})} {
		if strings.Contains(s, "SECRETMATERIAL") || strings.Contains(s, "83 69 67") {
			t.Errorf("formatted as %q", s)
		}
	}
}
