package kms

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keyspec"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
)

// engineKey builds a stored key of spec with n materials sealed under
// root, the last one current.
func engineKey(t *testing.T, s *Service, spec string, n int) store.Key {
	t.Helper()
	k := store.Key{Region: "us-east-1", KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab", AccountID: DefaultAccountID, KeySpec: spec}
	arn := KeyARN(k.Region, k.AccountID, k.KeyID)
	for range n {
		m, err := s.generateMaterial(spec, arn, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		addMaterial(&k, m)
	}
	return k
}

func newEngineService(t *testing.T) *Service {
	t.Helper()
	root, err := keystore.OpenFileRoot(filepath.Join(t.TempDir(), "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &Service{root: root, rand: rand.Reader}
}

// TestSoftwareEngineSymmetric checks the seam for a rotated symmetric key:
// SealBlob uses the current material and names it, OpenBlob opens a blob
// of every material with the material the blob names, a blob naming
// material the key lacks is ErrUnknownMaterial, and the asymmetric
// operations are ErrNoMaterial.
func TestSoftwareEngineSymmetric(t *testing.T) {
	s := newEngineService(t)
	k := engineKey(t, s, specSymmetric, 3)
	arn := KeyARN(k.Region, k.AccountID, k.KeyID)
	e, err := newSoftwareEngine(s.root, arn, &k)
	if err != nil {
		t.Fatal(err)
	}
	ctx := map[string]string{"purpose": "test"}
	blob, mid, err := e.SealBlob(rand.Reader, k.KeyID, []byte("hello"), ctx)
	if err != nil || mid != k.CurrentMaterialID {
		t.Fatalf("SealBlob = material %s, %v; want the current material %s", mid, err, k.CurrentMaterialID)
	}
	c, err := keystore.ParseCiphertext(blob)
	if err != nil || c.MaterialID != mid || c.KeyID != k.KeyID {
		t.Fatalf("blob names %s/%s (%v)", c.KeyID, c.MaterialID, err)
	}
	if pt, err := e.OpenBlob(c, ctx); err != nil || string(pt) != "hello" {
		t.Fatalf("OpenBlob = %q, %v", pt, err)
	}

	// A blob made when an older material was current still opens.
	old := k
	old.CurrentMaterialID = k.Materials[0].ID
	oe, err := newSoftwareEngine(s.root, arn, &old)
	if err != nil {
		t.Fatal(err)
	}
	oldBlob, oldMid, err := oe.SealBlob(rand.Reader, k.KeyID, []byte("before"), nil)
	if err != nil || oldMid != k.Materials[0].ID {
		t.Fatal(oldMid, err)
	}
	oc, _ := keystore.ParseCiphertext(oldBlob)
	if pt, err := e.OpenBlob(oc, nil); err != nil || string(pt) != "before" {
		t.Fatalf("OpenBlob of a blob of an older material = %q, %v", pt, err)
	}

	// A key that lost that material (or never had it) refuses the blob.
	short := k
	short.Materials = k.Materials[1:]
	se, err := newSoftwareEngine(s.root, arn, &short)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := se.OpenBlob(oc, nil); !errors.Is(err, ErrUnknownMaterial) {
		t.Fatalf("OpenBlob of unknown material = %v, want ErrUnknownMaterial", err)
	}
	// A wrong context is an invalid ciphertext, not another error.
	if _, err := e.OpenBlob(c, nil); !errors.Is(err, keystore.ErrInvalidCiphertext) {
		t.Fatalf("OpenBlob with the wrong context = %v", err)
	}
	if _, err := e.Sign(rand.Reader, "ECDSA_SHA_256", "RAW", []byte("m")); !errors.Is(err, ErrNoMaterial) {
		t.Fatalf("Sign with a symmetric key = %v, want ErrNoMaterial", err)
	}
	if _, err := e.PublicKey(); !errors.Is(err, ErrNoMaterial) {
		t.Fatalf("PublicKey of a symmetric key = %v, want ErrNoMaterial", err)
	}

	// Material sealed for another key does not open: it is bound to the ARN.
	if _, err := newSoftwareEngine(s.root, KeyARN(k.Region, k.AccountID, "00000000-0000-4000-8000-000000000000"), &k); err == nil {
		t.Fatal("material opened under another key's ARN")
	}
	// A current material that is missing is an error, not a nil AEAD.
	bad := k
	bad.CurrentMaterialID = strings.Repeat("0", 64)
	if _, err := newSoftwareEngine(s.root, arn, &bad); err == nil {
		t.Fatal("engine built without its current material")
	}
}

// TestSoftwareEngineAsymmetric checks that an asymmetric engine signs and
// verifies through the seam, refuses blobs, and that one without material
// is ErrNoMaterial.
func TestSoftwareEngineAsymmetric(t *testing.T) {
	s := newEngineService(t)
	k := engineKey(t, s, "ECC_NIST_P256", 1)
	e, err := newSoftwareEngine(s.root, KeyARN(k.Region, k.AccountID, k.KeyID), &k)
	if err != nil {
		t.Fatal(err)
	}
	if !e.hasMaterial() {
		t.Fatal("asymmetric engine has no material")
	}
	sig, err := e.Sign(rand.Reader, "ECDSA_SHA_256", "RAW", []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify("ECDSA_SHA_256", "RAW", []byte("m"), sig); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	var ke *keyspec.Error
	if err := e.Verify("ECDSA_SHA_256", "RAW", []byte("other"), sig); !errors.As(err, &ke) || ke.Code != "KMSInvalidSignatureException" {
		t.Fatalf("Verify of another message = %v", err)
	}
	if _, _, err := e.SealBlob(rand.Reader, k.KeyID, []byte("x"), nil); !errors.Is(err, ErrNoMaterial) {
		t.Fatalf("SealBlob with an asymmetric key = %v, want ErrNoMaterial", err)
	}
	none := k
	none.Materials = nil
	ne, err := newSoftwareEngine(s.root, KeyARN(k.Region, k.AccountID, k.KeyID), &none)
	if err != nil || ne.hasMaterial() {
		t.Fatalf("engine without material: %v, hasMaterial %v", err, ne.hasMaterial())
	}
	if _, err := ne.Sign(rand.Reader, "ECDSA_SHA_256", "RAW", []byte("m")); !errors.Is(err, ErrNoMaterial) {
		t.Fatalf("Sign without material = %v", err)
	}
}

// TestSoftwareEngineRedacted checks that an engine never prints its
// material, whatever the verb or logger.
func TestSoftwareEngineRedacted(t *testing.T) {
	s := newEngineService(t)
	k := engineKey(t, s, specSymmetric, 1)
	e, err := newSoftwareEngine(s.root, KeyARN(k.Region, k.AccountID, k.KeyID), &k)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "engine", e, "aead", e.current)
	for _, got := range []string{fmt.Sprintf("%v|%+v|%#v|%x|%s", e, e, e, e, e), fmt.Sprintf("%+v %#v", e.current, e.current), buf.String()} {
		if strings.Count(got, "[redacted]") == 0 || strings.Contains(got, "gcm") || strings.Contains(got, "0x") {
			t.Errorf("engine printed as %q", got)
		}
	}
}
