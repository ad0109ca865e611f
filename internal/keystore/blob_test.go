package keystore_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"testing"

	"github.com/trent-kms/trent/internal/keystore"
)

// countingAEAD is an AES-256-GCM primitive outside SymmetricKey, as an HSM
// would provide one, counting its calls.
type countingAEAD struct {
	cipher.AEAD
	seals, opens int
}

func (c *countingAEAD) Seal(dst, nonce, pt, aad []byte) []byte {
	c.seals++
	return c.AEAD.Seal(dst, nonce, pt, aad)
}

func (c *countingAEAD) Open(dst, nonce, ct, aad []byte) ([]byte, error) {
	c.opens++
	return c.AEAD.Open(dst, nonce, ct, aad)
}

// TestBlobFormatIsIndependentOfThePrimitive checks the seam between the
// blob format and the primitive: a blob sealed by SealBlob around any
// AES-256-GCM with the same key is byte for byte the blob SymmetricKey
// seals, and each opens the other's.
func TestBlobFormatIsIndependentOfThePrimitive(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, keystore.SymmetricKeySize)
	sk, err := keystore.NewSymmetricKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := aes.NewCipher(raw)
	g, _ := cipher.NewGCM(b)
	prim := &countingAEAD{AEAD: g}
	const keyID = "1234abcd-12ab-34cd-56ef-1234567890ab"
	mid := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	nonce := bytes.Repeat([]byte{1}, 12)
	ctx := map[string]string{"a": "1", "b": "2"}

	viaPrim, err := keystore.SealBlob(prim, bytes.NewReader(nonce), keyID, mid, []byte("data"), ctx)
	if err != nil {
		t.Fatal(err)
	}
	viaKey, err := sk.Seal(bytes.NewReader(nonce), keyID, mid, []byte("data"), ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(viaPrim, viaKey) || prim.seals != 1 {
		t.Fatalf("SealBlob around another primitive wrote %x, SymmetricKey %x (%d seals)", viaPrim, viaKey, prim.seals)
	}
	c, err := keystore.ParseCiphertext(viaKey)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := keystore.OpenBlob(prim, c, ctx); err != nil || string(pt) != "data" || prim.opens != 1 {
		t.Fatalf("OpenBlob = %q, %v (%d opens)", pt, err, prim.opens)
	}
	if _, err := keystore.OpenBlob(prim, c, nil); !errors.Is(err, keystore.ErrInvalidCiphertext) {
		t.Fatalf("OpenBlob with the wrong context = %v", err)
	}
	if pt, err := keystore.OpenBlob(sk.AEAD(), c, ctx); err != nil || string(pt) != "data" {
		t.Fatalf("OpenBlob with SymmetricKey.AEAD = %q, %v", pt, err)
	}
}

// shortAEAD is a broken primitive that returns too few bytes.
type shortAEAD struct{ cipher.AEAD }

func (s shortAEAD) Seal(dst, nonce, pt, aad []byte) []byte { return dst }

// TestSealBlobRefusesABrokenPrimitive checks that SealBlob returns no
// blob when the primitive does not write ciphertext and tag.
func TestSealBlobRefusesABrokenPrimitive(t *testing.T) {
	b, _ := aes.NewCipher(make([]byte, 32))
	g, _ := cipher.NewGCM(b)
	blob, err := keystore.SealBlob(shortAEAD{g}, bytes.NewReader(make([]byte, 12)), "1234abcd-12ab-34cd-56ef-1234567890ab",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", []byte("data"), nil)
	if err == nil || blob != nil {
		t.Fatalf("SealBlob with a broken primitive = %x, %v", blob, err)
	}
}
