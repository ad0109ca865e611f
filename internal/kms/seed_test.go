package kms_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

const (
	seedKeyID = "0b1c2d3e-4f50-4a1b-8c2d-3e4f5a6b7c8d"
	matA      = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	matB      = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func fill(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// twoMaterials is a symmetric key whose current material is B.
func twoMaterials() kms.SeedKey {
	return kms.SeedKey{
		Region: "us-east-1", AccountID: kms.DefaultAccountID, KeyID: seedKeyID,
		Description:       "fixture",
		Materials:         []kms.SeedMaterial{{ID: matA, Raw: fill(1, 32)}, {ID: matB, Raw: fill(2, 32)}},
		CurrentMaterialID: matB,
		Tags:              []store.Tag{{Key: "team", Value: "a"}, {Key: "env", Value: "test"}},
		Aliases:           []string{"alias/fixture"},
	}
}

func wantSeedError(t *testing.T, err error, field, reason string) {
	t.Helper()
	var se *kms.SeedError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *kms.SeedError on %s", err, field)
	}
	if se.Field != field || (reason != "*" && se.Reason != reason) {
		t.Fatalf("SeedError = %s: %q; want %s: %q", se.Field, se.Reason, field, reason)
	}
}

func TestImportSeedKeySymmetric(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{})
	created, err := svc.ImportSeedKey(ctx, twoMaterials())
	if err != nil || !created {
		t.Fatalf("ImportSeedKey = %v, %v", created, err)
	}
	d, err := svc.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: wire.Ptr("alias/fixture")})
	if err != nil {
		t.Fatal(err)
	}
	if *d.KeyMetadata.KeyId != seedKeyID || *d.KeyMetadata.CurrentKeyMaterialId != matB || *d.KeyMetadata.KeyState != "Enabled" ||
		*d.KeyMetadata.Description != "fixture" || *d.KeyMetadata.KeySpec != "SYMMETRIC_DEFAULT" || *d.KeyMetadata.Origin != "AWS_KMS" {
		t.Fatalf("DescribeKey = %+v", d.KeyMetadata)
	}

	// Encrypt uses the current material.
	enc, err := svc.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: wire.Ptr(seedKeyID), Plaintext: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := keystore.ParseCiphertext(enc.CiphertextBlob)
	if err != nil || c.MaterialID != matB {
		t.Fatalf("ciphertext names material %v (%v), want %s", c, err, matB)
	}
	// A ciphertext made outside Trent with the older material, as a test
	// fixture would be, decrypts: the seeded bytes are the key.
	for _, m := range []struct {
		id  string
		raw []byte
	}{{matA, fill(1, 32)}, {matB, fill(2, 32)}} {
		sk, err := keystore.NewSymmetricKey(m.raw)
		if err != nil {
			t.Fatal(err)
		}
		blob, err := sk.Seal(rand.Reader, seedKeyID, m.id, []byte("fixture "+m.id[:1]), map[string]string{"k": "v"})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := svc.Decrypt(ctx, testCaller, &wire.DecryptRequest{CiphertextBlob: blob, EncryptionContext: map[string]string{"k": "v"}})
		if err != nil || string(dec.Plaintext) != "fixture "+m.id[:1] {
			t.Fatalf("Decrypt with material %s = %v, %v", m.id[:1], dec, err)
		}
	}

	// Applying the same declaration again changes nothing; tag order does
	// not matter.
	again := twoMaterials()
	again.Tags[0], again.Tags[1] = again.Tags[1], again.Tags[0]
	if created, err := svc.ImportSeedKey(ctx, again); err != nil || created {
		t.Fatalf("second ImportSeedKey = %v, %v; want false, nil", created, err)
	}
}

func TestImportSeedKeyConflicts(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{})
	if _, err := svc.ImportSeedKey(ctx, twoMaterials()); err != nil {
		t.Fatal(err)
	}
	arn := kms.KeyARN("us-east-1", kms.DefaultAccountID, seedKeyID)
	tail := "; a seed file never changes a stored key: change the declaration, or start from an empty store"
	for _, c := range []struct {
		name   string
		change func(*kms.SeedKey)
		field  string
		reason string
	}{
		{"other-material-same-id", func(d *kms.SeedKey) { d.Materials[0].Raw = fill(9, 32) },
			"materials", "material " + matA + " differs from the stored material of that id" + tail},
		{"other-material-ids", func(d *kms.SeedKey) { d.Materials = d.Materials[1:] },
			"materials", "the stored key has the material ids " + matA + ", " + matB + ", the seed file " + matB + tail},
		{"other-current", func(d *kms.SeedKey) { d.CurrentMaterialID = matA },
			"materials", "the stored key's current material is " + matB + ", the seed file's " + matA + tail},
		{"state", func(d *kms.SeedKey) { d.KeyState = "Disabled" },
			"state", `the stored key has "Enabled", the seed file "Disabled"` + tail},
		{"description", func(d *kms.SeedKey) { d.Description = "other" },
			"description", `the stored key has "fixture", the seed file "other"` + tail},
		{"tags", func(d *kms.SeedKey) { d.Tags = nil }, "tags", "the stored key's tags differ" + tail},
		{"policy", func(d *kms.SeedKey) {
			d.Policy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*"}]}`
		}, "policy", "the stored key policy differs" + tail},
		{"other-account", func(d *kms.SeedKey) { d.AccountID = "444455556666" },
			"id", "the key id is taken in us-east-1 by account 111122223333" + tail},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := twoMaterials()
			c.change(&d)
			_, err := svc.ImportSeedKey(ctx, d)
			wantSeedError(t, err, c.field, c.reason)
			if _, err2 := svc.CheckSeedKey(ctx, d); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("CheckSeedKey = %v, want the same error", err2)
			}
			if c.field != "id" && !strings.HasPrefix(err.Error(), "key "+arn+": "+c.field+": ") {
				t.Fatalf("error %q does not name the key and the field", err)
			}
		})
	}
	// Nothing was changed by the refused declarations.
	if exists, err := svc.CheckSeedKey(ctx, twoMaterials()); err != nil || !exists {
		t.Fatalf("CheckSeedKey after refusals = %v, %v", exists, err)
	}

	// An alias that points to another key is never moved.
	other := kms.SeedKey{Region: "us-east-1", AccountID: kms.DefaultAccountID, KeyID: "11111111-2222-4333-8444-555555555555",
		Materials: []kms.SeedMaterial{{ID: matA, Raw: fill(3, 32)}}, Aliases: []string{"alias/fixture"}}
	_, err := svc.ImportSeedKey(ctx, other)
	wantSeedError(t, err, "aliases", "arn:aws:kms:us-east-1:111122223333:alias/fixture already points to key "+seedKeyID+"; a seed file never moves an alias")
	if _, err := svc.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: wire.Ptr(other.KeyID)}); wireCode(err) != "NotFoundException" {
		t.Fatalf("the refused key was created: %v", err)
	}
}

func TestImportSeedKeyInvalid(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{Regions: []string{"us-east-1", "cn-north-1"}})
	for _, c := range []struct {
		name   string
		change func(*kms.SeedKey)
		field  string
		reason string
	}{
		{"mrk", func(d *kms.SeedKey) { d.KeyID = "mrk-1234abcd12ab34cd56ef1234567890ab" }, "id", "multi-Region keys (mrk- ids) cannot be declared in a seed file yet; create them with CreateKey and ReplicateKey"},
		{"upper-case-id", func(d *kms.SeedKey) { d.KeyID = strings.ToUpper(seedKeyID) }, "id", "*"},
		{"region-not-served", func(d *kms.SeedKey) { d.Region = "eu-west-1" }, "region", `region "eu-west-1" is not served by this server`},
		{"unknown-spec", func(d *kms.SeedKey) { d.KeySpec = "AES_128" }, "spec", "*"},
		{"usage", func(d *kms.SeedKey) { d.KeyUsage = "SIGN_VERIFY" }, "usage", "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT"},
		{"hmac-needs-usage", func(d *kms.SeedKey) { d.KeySpec = "HMAC_256" }, "usage", "a HMAC_256 key needs a usage"},
		{"hmac-one-material", func(d *kms.SeedKey) { d.KeySpec, d.KeyUsage = "HMAC_256", "GENERATE_VERIFY_MAC" },
			"materials", "a HMAC_256 key has exactly one material; only SYMMETRIC_DEFAULT keys have several"},
		{"origin", func(d *kms.SeedKey) { d.Origin = "EXTERNAL" }, "origin", "origin EXTERNAL is not supported yet; only AWS_KMS"},
		{"short-material", func(d *kms.SeedKey) { d.Materials[0].Raw = fill(1, 16) }, "materials", "material " + matA + " is 16 bytes; SYMMETRIC_DEFAULT material is 32"},
		{"bad-material-id", func(d *kms.SeedKey) { d.Materials[0].ID = "v1" }, "materials", `material id "v1" is not 64 lowercase hex characters`},
		{"no-current", func(d *kms.SeedKey) { d.CurrentMaterialID = "" }, "materials", "several materials and none is current"},
		{"no-material", func(d *kms.SeedKey) { d.Materials = nil }, "materials", "a seeded key needs its material"},
		{"state", func(d *kms.SeedKey) { d.KeyState = "PendingImport" }, "state", `"PendingImport" is not one of Enabled, Disabled, PendingDeletion`},
		{"pending-without-date", func(d *kms.SeedKey) { d.KeyState, d.Aliases = "PendingDeletion", nil }, "deletion_date", "a key in state PendingDeletion needs a deletion date"},
		{"pending-in-the-past", func(d *kms.SeedKey) {
			d.KeyState, d.Aliases, d.DeletionDate = "PendingDeletion", nil, time.Now().Add(-time.Hour)
		}, "deletion_date", "is not in the future: the key would be deleted at once"},
		{"pending-with-alias", func(d *kms.SeedKey) { d.KeyState, d.DeletionDate = "PendingDeletion", time.Now().Add(time.Hour) },
			"aliases", "a key pending deletion cannot be given an alias"},
		{"date-when-enabled", func(d *kms.SeedKey) { d.DeletionDate = time.Now() }, "deletion_date", "is for a key in state PendingDeletion only"},
		{"policy-not-json", func(d *kms.SeedKey) { d.Policy = "[1]" }, "policy", "is not a valid key policy: policy: malformed key policy: document is not a JSON object"},
		{"policy-bad-effect", func(d *kms.SeedKey) {
			d.Policy = `{"Version":"2012-10-17","Statement":[{"Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`
		}, "policy", "*"},
		{"duplicate-tags", func(d *kms.SeedKey) { d.Tags = append(d.Tags, store.Tag{Key: "team"}) }, "tags", "Duplicate tag keys"},
		{"alias-prefix", func(d *kms.SeedKey) { d.Aliases = []string{"fixture"} }, "aliases", "*"},
		{"alias-reserved", func(d *kms.SeedKey) { d.Aliases = []string{"alias/aws/s3"} }, "aliases", `"alias/aws/s3": the alias/aws/ prefix is reserved for AWS managed keys`},
		{"alias-twice", func(d *kms.SeedKey) { d.Aliases = []string{"alias/a", "alias/a"} }, "aliases", `"alias/a" is given twice`},
		{"sm2-outside-china", func(d *kms.SeedKey) { d.KeySpec, d.KeyUsage = "SM2", "SIGN_VERIFY" }, "usage", "KeySpec SM2 is not supported in this Region"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := twoMaterials()
			c.change(&d)
			_, err := svc.ImportSeedKey(ctx, d)
			wantSeedError(t, err, c.field, c.reason)
		})
	}
	if out, err := svc.ListKeys(ctx, testCaller, &wire.ListKeysRequest{}); err != nil || len(out.Keys) != 0 {
		t.Fatalf("refused declarations left keys: %v, %v", out, err)
	}
}

func TestImportSeedKeyHMACAndStates(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{})
	secret := []byte("a 32-byte HMAC key for fixtures!")
	id := "22222222-3333-4444-8555-666666666666"
	matID := strings.Repeat("c", 64)
	_, err := svc.ImportSeedKey(ctx, kms.SeedKey{Region: "us-east-1", AccountID: kms.DefaultAccountID, KeyID: id,
		KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC", Materials: []kms.SeedMaterial{{ID: matID, Raw: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.GenerateMac(ctx, testCaller, &wire.GenerateMacRequest{KeyId: &id, Message: []byte("msg"), MacAlgorithm: wire.Ptr("HMAC_SHA_256")})
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("msg"))
	if !hmac.Equal(out.Mac, m.Sum(nil)) {
		t.Fatal("GenerateMac does not match HMAC-SHA-256 under the seeded key")
	}

	// A disabled key and a key pending deletion keep their state.
	del := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	for _, c := range []struct {
		id, state string
		date      time.Time
	}{
		{"33333333-3333-4444-8555-666666666666", "Disabled", time.Time{}},
		{"44444444-3333-4444-8555-666666666666", "PendingDeletion", del},
	} {
		d := kms.SeedKey{Region: "us-east-1", AccountID: kms.DefaultAccountID, KeyID: c.id, KeyState: c.state, DeletionDate: c.date,
			Materials: []kms.SeedMaterial{{ID: matA, Raw: fill(4, 32)}}}
		if _, err := svc.ImportSeedKey(ctx, d); err != nil {
			t.Fatal(err)
		}
		md, err := svc.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: &c.id})
		if err != nil {
			t.Fatal(err)
		}
		if *md.KeyMetadata.KeyState != c.state || (c.state == "PendingDeletion") != (md.KeyMetadata.DeletionDate != nil) {
			t.Fatalf("%s: metadata %+v", c.state, md.KeyMetadata)
		}
		if created, err := svc.ImportSeedKey(ctx, d); err != nil || created {
			t.Fatalf("%s again: %v, %v", c.state, created, err)
		}
	}
}

func TestSeedMaterialRedacted(t *testing.T) {
	m := kms.SeedMaterial{ID: matA, Raw: []byte("SECRET-MATERIAL-BYTES")}
	d := kms.SeedKey{Materials: []kms.SeedMaterial{m}}
	for _, s := range []string{fmt.Sprint(m), fmt.Sprintf("%v %+v %#v %x %s", m, d, d, m, m)} {
		if strings.Contains(s, "SECRET") || strings.Contains(s, "5345435245") {
			t.Fatalf("material printed: %s", s)
		}
	}
}

// TestImportSeedKeyAfterRotation checks that rotating a seeded key does
// not make its declaration conflict at the next start, while a declared
// material that differs still does.
func TestImportSeedKeyAfterRotation(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{})
	if _, err := svc.ImportSeedKey(ctx, twoMaterials()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := svc.RotateKeyOnDemand(ctx, testCaller, &wire.RotateKeyOnDemandRequest{KeyId: wire.Ptr(seedKeyID)}); err != nil {
			t.Fatal(err)
		}
	}
	if created, err := svc.ImportSeedKey(ctx, twoMaterials()); err != nil || created {
		t.Fatalf("ImportSeedKey after rotations = %v, %v; want false, nil", created, err)
	}
	// The seeded extra material is listed only with ALL_KEY_MATERIAL.
	rs, err := svc.ListKeyRotations(ctx, testCaller, &wire.ListKeyRotationsRequest{KeyId: wire.Ptr(seedKeyID)})
	if err != nil || len(rs.Rotations) != 2 {
		t.Fatalf("ListKeyRotations = %+v, %v; want the 2 rotations", rs, err)
	}
	all, err := svc.ListKeyRotations(ctx, testCaller, &wire.ListKeyRotationsRequest{KeyId: wire.Ptr(seedKeyID), IncludeKeyMaterial: wire.Ptr("ALL_KEY_MATERIAL")})
	if err != nil || len(all.Rotations) != 4 || *all.Rotations[1].KeyMaterialId != matB || all.Rotations[1].RotationDate != nil {
		t.Fatalf("ListKeyRotations ALL_KEY_MATERIAL = %+v, %v", all, err)
	}
	other := twoMaterials()
	other.Materials[0].Raw = fill(9, 32)
	_, err = svc.ImportSeedKey(ctx, other)
	wantSeedError(t, err, "materials", "*")
}
