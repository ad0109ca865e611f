package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"hash"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/tink-crypto/tink-go/v2/kwp/subtle"

	"github.com/trent-kms/trent/internal/audit"
)

// These tests import key material exactly as a user does (the AWS
// developer guide, importing-keys-encrypt-key-material): wrap it with the
// public key from GetParametersForImport, in Go or with the openssl CLI,
// and send it with the import token.

// externalKey creates a key with Origin EXTERNAL.
func externalKey(t *testing.T, c *kms.Client, spec types.KeySpec, usage types.KeyUsageType) *types.KeyMetadata {
	t.Helper()
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{Origin: types.OriginTypeExternal, KeySpec: spec, KeyUsage: usage})
	mustOK(t, "CreateKey EXTERNAL "+string(spec), err)
	return out.KeyMetadata
}

func importParams(t *testing.T, c *kms.Client, keyID string, alg types.AlgorithmSpec, spec types.WrappingKeySpec) *kms.GetParametersForImportOutput {
	t.Helper()
	out, err := c.GetParametersForImport(context.Background(), &kms.GetParametersForImportInput{KeyId: &keyID, WrappingAlgorithm: alg, WrappingKeySpec: spec})
	mustOK(t, "GetParametersForImport", err)
	return out
}

// wrapGo wraps material for alg with the DER public key, in Go:
// RSAES-OAEP (the hash for both OAEP and MGF1), or for RSA_AES_KEY_WRAP an
// ephemeral AES-256 key under RSAES-OAEP followed by the material under
// AES key wrap with padding (RFC 5649).
func wrapGo(t *testing.T, pubDER []byte, alg types.AlgorithmSpec, material []byte) []byte {
	t.Helper()
	pk, err := x509.ParsePKIXPublicKey(pubDER)
	mustOK(t, "ParsePKIXPublicKey", err)
	pub := pk.(*rsa.PublicKey)
	var h hash.Hash = sha256.New()
	if strings.HasSuffix(string(alg), "SHA_1") {
		h = sha1.New()
	}
	if !strings.HasPrefix(string(alg), "RSA_AES_KEY_WRAP") {
		ct, err := rsa.EncryptOAEP(h, rand.Reader, pub, material, nil)
		mustOK(t, "EncryptOAEP", err)
		return ct
	}
	aesKey := make([]byte, 32)
	rand.Read(aesKey)
	wrappedKey, err := rsa.EncryptOAEP(h, rand.Reader, pub, aesKey, nil)
	mustOK(t, "EncryptOAEP", err)
	kwp, err := subtle.NewKWP(aesKey)
	mustOK(t, "NewKWP", err)
	wrapped, err := kwp.Wrap(material)
	mustOK(t, "KWP Wrap", err)
	return append(wrappedKey, wrapped...)
}

// opensslPath returns the openssl CLI, or skips the test without it.
func opensslPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl not found in PATH; .ci/run installs it, and CI never skips the OpenSSL wrapping check")
		}
		t.Skip("openssl not found in PATH; skipping the OpenSSL wrapping check")
	}
	return p
}

// wrapOpenSSL wraps material for alg with the openssl CLI, with the
// commands of the AWS developer guide (importing-keys-encrypt-key-material).
func wrapOpenSSL(t *testing.T, pubDER []byte, alg types.AlgorithmSpec, material []byte) []byte {
	t.Helper()
	openssl := opensslPath(t)
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	mustOK(t, "write", os.WriteFile(file("WrappingPublicKey.bin"), pubDER, 0o600))
	mustOK(t, "write", os.WriteFile(file("PlaintextKeyMaterial.bin"), material, 0o600))
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	md := "sha256"
	if strings.HasSuffix(string(alg), "SHA_1") {
		md = "sha1"
	}
	oaep := func(in, out string) {
		run("pkeyutl", "-encrypt", "-in", in, "-out", out, "-inkey", file("WrappingPublicKey.bin"), "-keyform", "DER", "-pubin",
			"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:"+md, "-pkeyopt", "rsa_mgf1_md:"+md)
	}
	if !strings.HasPrefix(string(alg), "RSA_AES_KEY_WRAP") {
		oaep(file("PlaintextKeyMaterial.bin"), file("EncryptedKeyMaterial.bin"))
	} else {
		run("rand", "-out", file("aes-key.bin"), "32")
		aesKey, err := os.ReadFile(file("aes-key.bin"))
		mustOK(t, "read", err)
		run("enc", "-id-aes256-wrap-pad", "-K", strings.ToUpper(hexOf(aesKey)), "-iv", "A65959A6",
			"-in", file("PlaintextKeyMaterial.bin"), "-out", file("key_material_wrapped.bin"))
		oaep(file("aes-key.bin"), file("EncryptedAesKey.bin"))
		a, err := os.ReadFile(file("EncryptedAesKey.bin"))
		mustOK(t, "read", err)
		b, err := os.ReadFile(file("key_material_wrapped.bin"))
		mustOK(t, "read", err)
		return append(a, b...)
	}
	out, err := os.ReadFile(file("EncryptedKeyMaterial.bin"))
	mustOK(t, "read", err)
	return out
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return string(out)
}

// importWith gets parameters for alg and spec, wraps material with wrap
// and imports it with in's other fields.
func importWith(t *testing.T, c *kms.Client, keyID string, alg types.AlgorithmSpec, spec types.WrappingKeySpec,
	wrap func(*testing.T, []byte, types.AlgorithmSpec, []byte) []byte, material []byte, in kms.ImportKeyMaterialInput) (*kms.ImportKeyMaterialOutput, error) {
	t.Helper()
	p := importParams(t, c, keyID, alg, spec)
	in.KeyId, in.ImportToken, in.EncryptedKeyMaterial = &keyID, p.ImportToken, wrap(t, p.PublicKey, alg, material)
	if in.ExpirationModel == "" && in.ValidTo == nil {
		in.ExpirationModel = types.ExpirationModelTypeKeyMaterialDoesNotExpire
	}
	return c.ImportKeyMaterial(context.Background(), &in)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestImportSymmetricKeyMaterial imports 256-bit material into a
// symmetric key with every wrapping algorithm, in Go and with OpenSSL:
// the key is PendingImport until then, a ciphertext made with the
// material decrypts after the material is deleted and imported again, and
// only the same material can come back.
func TestImportSymmetricKeyMaterial(t *testing.T) {
	n, clk := startNodeWithClock(t)
	c := n.client("us-east-1")
	ctx := context.Background()
	md := externalKey(t, c, "", "")
	id, arn := *md.KeyId, *md.Arn
	if md.KeyState != types.KeyStatePendingImport || md.Origin != types.OriginTypeExternal || md.Enabled ||
		md.ExpirationModel != "" || md.ValidTo != nil || md.CurrentKeyMaterialId != nil {
		t.Fatalf("new EXTERNAL key = %+v", md)
	}
	_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	wantAPIError(t, err, "KMSInvalidStateException", arn+" is pending import.")
	_, err = c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id})
	wantAPIError(t, err, "KMSInvalidStateException", arn+" is pending import.")
	_, err = c.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: &id})
	wantAPIError(t, err, "KMSInvalidStateException", arn+" is pending import.")

	p := importParams(t, c, id, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048)
	if *p.KeyId != arn || !p.ParametersValidTo.Equal(clk.Now().Add(24*time.Hour)) || len(p.ImportToken) == 0 {
		t.Fatalf("GetParametersForImport = %s %v %d-byte token", *p.KeyId, p.ParametersValidTo, len(p.ImportToken))
	}
	pk, err := x509.ParsePKIXPublicKey(p.PublicKey)
	if err != nil || pk.(*rsa.PublicKey).N.BitLen() != 2048 {
		t.Fatalf("wrapping public key: %v", err)
	}
	material := randomBytes(32)
	imp, err := c.ImportKeyMaterial(ctx, &kms.ImportKeyMaterialInput{KeyId: &id, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: wrapGo(t, p.PublicKey, types.AlgorithmSpecRsaesOaepSha256, material),
		ExpirationModel:      types.ExpirationModelTypeKeyMaterialDoesNotExpire, KeyMaterialDescription: aws.String("first")})
	mustOK(t, "ImportKeyMaterial", err)
	mid := aws.ToString(imp.KeyMaterialId)
	if *imp.KeyId != arn || len(mid) != 64 {
		t.Fatalf("ImportKeyMaterial = %s %q", *imp.KeyId, mid)
	}
	md = describe(t, c, id)
	if md.KeyState != types.KeyStateEnabled || !md.Enabled || md.ExpirationModel != types.ExpirationModelTypeKeyMaterialDoesNotExpire ||
		md.ValidTo != nil || aws.ToString(md.CurrentKeyMaterialId) != mid {
		t.Fatalf("after import: %s %v %s %v %s", md.KeyState, md.Enabled, md.ExpirationModel, md.ValidTo, aws.ToString(md.CurrentKeyMaterialId))
	}
	ct := encryptAs(t, c, id, "made with imported material")
	if got := decryptMaterial(t, c, ct, "made with imported material"); got != mid {
		t.Fatalf("Decrypt reports material %s, want %s", got, mid)
	}

	// The same material again (EXISTING_KEY_MATERIAL is the default now),
	// wrapped by every algorithm and by both tools; each import changes
	// the expiration.
	for _, tc := range []struct {
		alg  types.AlgorithmSpec
		spec types.WrappingKeySpec
		tool string
	}{
		{types.AlgorithmSpecRsaesOaepSha1, types.WrappingKeySpecRsa2048, "go"},
		{types.AlgorithmSpecRsaAesKeyWrapSha1, types.WrappingKeySpecRsa3072, "go"},
		{types.AlgorithmSpecRsaAesKeyWrapSha256, types.WrappingKeySpecRsa4096, "go"},
		{types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa3072, "openssl"},
		{types.AlgorithmSpecRsaesOaepSha1, types.WrappingKeySpecRsa2048, "openssl"},
		{types.AlgorithmSpecRsaAesKeyWrapSha256, types.WrappingKeySpecRsa2048, "openssl"},
		{types.AlgorithmSpecRsaAesKeyWrapSha1, types.WrappingKeySpecRsa2048, "openssl"},
	} {
		t.Run(string(tc.alg)+"/"+string(tc.spec)+"/"+tc.tool, func(t *testing.T) {
			wrap := wrapGo
			if tc.tool == "openssl" {
				wrap = wrapOpenSSL
			}
			mustOK(t, "DeleteImportedKeyMaterial", second(c.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: &id})))
			if st := describe(t, c, id); st.KeyState != types.KeyStatePendingImport || st.ExpirationModel != "" {
				t.Fatalf("after delete: %s %s", st.KeyState, st.ExpirationModel)
			}
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct, EncryptionContext: map[string]string{"purpose": "rotation"}})
			wantAPIError(t, err, "KMSInvalidStateException", arn+" is pending import.")
			validTo := clk.Now().Add(30 * 24 * time.Hour)
			out, err := importWith(t, c, id, tc.alg, tc.spec, wrap, material, kms.ImportKeyMaterialInput{
				ExpirationModel: types.ExpirationModelTypeKeyMaterialExpires, ValidTo: &validTo})
			mustOK(t, "ImportKeyMaterial", err)
			if aws.ToString(out.KeyMaterialId) != mid {
				t.Fatalf("re-import gives material %s, want %s", aws.ToString(out.KeyMaterialId), mid)
			}
			st := describe(t, c, id)
			if st.KeyState != types.KeyStateEnabled || st.ExpirationModel != types.ExpirationModelTypeKeyMaterialExpires || !st.ValidTo.Equal(validTo) {
				t.Fatalf("after re-import: %s %s %v", st.KeyState, st.ExpirationModel, st.ValidTo)
			}
			if got := decryptMaterial(t, c, ct, "made with imported material"); got != mid {
				t.Fatalf("Decrypt reports material %s, want %s", got, mid)
			}
		})
	}

	// Other material is refused, whatever the ImportType, and the key is
	// unchanged; the same material as NEW_KEY_MATERIAL is refused too.
	_, err = importWith(t, c, id, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, wrapGo, randomBytes(32), kms.ImportKeyMaterialInput{})
	wantAPIError(t, err, "IncorrectKeyMaterialException", "*")
	_, err = importWith(t, c, id, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, wrapGo, material,
		kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial})
	wantAPIError(t, err, "IncorrectKeyMaterialException", "*")
	_, err = importWith(t, c, id, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, wrapGo, material,
		kms.ImportKeyMaterialInput{KeyMaterialId: aws.String(strings.Repeat("0", 64))})
	wantAPIError(t, err, "IncorrectKeyMaterialException", "*")
	mustOK(t, "ImportKeyMaterial with its KeyMaterialId", second(importWith(t, c, id, types.AlgorithmSpecRsaesOaepSha256,
		types.WrappingKeySpecRsa2048, wrapGo, material, kms.ImportKeyMaterialInput{KeyMaterialId: &mid, ImportType: types.ImportTypeExistingKeyMaterial})))
	all := listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: &id, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	if len(all) != 1 || *all[0].KeyMaterialId != mid || all[0].KeyMaterialState != types.KeyMaterialStateCurrent ||
		all[0].ImportState != types.ImportStateImported || aws.ToString(all[0].KeyMaterialDescription) != "first" ||
		all[0].ExpirationModel != types.ExpirationModelTypeKeyMaterialDoesNotExpire || all[0].RotationDate != nil {
		t.Fatalf("ListKeyRotations ALL_KEY_MATERIAL = %+v", all)
	}
}

// TestImportErrors checks the errors of the three import operations.
func TestImportErrors(t *testing.T) {
	n, clk := startNodeWithClock(t)
	c := n.client("us-east-1")
	ctx := context.Background()
	md := externalKey(t, c, "", "")
	id, arn := *md.KeyId, *md.Arn
	material := randomBytes(32)

	// Keys that are not EXTERNAL.
	own := newKey(t, c)
	msg := *own.Arn + " origin is AWS_KMS which is not valid for this operation."
	_, err := c.GetParametersForImport(ctx, &kms.GetParametersForImportInput{KeyId: own.KeyId,
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	wantAPIError(t, err, "UnsupportedOperationException", msg)
	p := importParams(t, c, id, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048)
	_, err = c.ImportKeyMaterial(ctx, &kms.ImportKeyMaterialInput{KeyId: own.KeyId, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: []byte("x"), ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
	wantAPIError(t, err, "UnsupportedOperationException", msg)
	_, err = c.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: own.KeyId})
	wantAPIError(t, err, "UnsupportedOperationException", msg)

	// Wrapping algorithms and specs.
	for _, tc := range []struct {
		region string
		alg    types.AlgorithmSpec
		spec   types.WrappingKeySpec
		code   string
	}{
		{"us-east-1", types.AlgorithmSpecRsaesPkcs1V15, types.WrappingKeySpecRsa2048, "UnsupportedOperationException"},
		{"us-east-1", types.AlgorithmSpecSm2pke, types.WrappingKeySpecSm2, "UnsupportedOperationException"},
		{"us-east-1", types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecSm2, "UnsupportedOperationException"},
		{"us-east-1", "RSAES_OAEP_SHA_512", types.WrappingKeySpecRsa2048, "ValidationException"},
		{"cn-north-1", types.AlgorithmSpecSm2pke, types.WrappingKeySpecRsa2048, "ValidationException"},
		{"cn-north-1", types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecSm2, "ValidationException"},
	} {
		rc := n.client(tc.region)
		k := externalKey(t, rc, "", "")
		_, err := rc.GetParametersForImport(ctx, &kms.GetParametersForImportInput{KeyId: k.KeyId, WrappingAlgorithm: tc.alg, WrappingKeySpec: tc.spec})
		wantAPIError(t, err, tc.code, "*")
	}

	imp := func(in kms.ImportKeyMaterialInput) error {
		if in.KeyId == nil {
			in.KeyId = &id
		}
		if in.ImportToken == nil {
			in.ImportToken = p.ImportToken
		}
		if in.EncryptedKeyMaterial == nil {
			in.EncryptedKeyMaterial = wrapGo(t, p.PublicKey, types.AlgorithmSpecRsaesOaepSha256, material)
		}
		_, err := c.ImportKeyMaterial(ctx, &in)
		return err
	}
	// Expiration.
	past, far, soon := clk.Now().Add(-time.Second), clk.Now().Add(366*24*time.Hour), clk.Now().Add(time.Hour)
	wantAPIError(t, imp(kms.ImportKeyMaterialInput{}), "ValidationException", "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
	wantAPIError(t, imp(kms.ImportKeyMaterialInput{ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire, ValidTo: &soon}),
		"ValidationException", "The parameter ValidTo cannot be specified for a key with an expiration model of KEY_MATERIAL_DOES_NOT_EXPIRE")
	wantAPIError(t, imp(kms.ImportKeyMaterialInput{ValidTo: &past}), "ValidationException", "ValidTo must be a future date and time.")
	wantAPIError(t, imp(kms.ImportKeyMaterialInput{ValidTo: &far}), "ValidationException", "ValidTo must be no more than 365 days from the request date.")

	// Tokens: not Trent's, another key's, expired.
	other := externalKey(t, c, "", "")
	po := importParams(t, c, *other.KeyId, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048)
	bad := bytes.Clone(p.ImportToken)
	bad[len(bad)/2] ^= 1
	for _, tok := range [][]byte{bad, []byte("not a token"), po.ImportToken} {
		err := imp(kms.ImportKeyMaterialInput{ImportToken: tok, ValidTo: &soon})
		wantAPIError(t, err, "InvalidImportTokenException", "The import token is not valid for "+arn+".")
	}
	// Wrapped for another key's wrapping key, with another algorithm, or
	// not wrapped at all: the material does not decrypt.
	for _, ekm := range [][]byte{
		wrapGo(t, po.PublicKey, types.AlgorithmSpecRsaesOaepSha256, material),
		wrapGo(t, p.PublicKey, types.AlgorithmSpecRsaesOaepSha1, material),
		material,
	} {
		wantAPIError(t, imp(kms.ImportKeyMaterialInput{EncryptedKeyMaterial: ekm, ValidTo: &soon}), "InvalidCiphertextException", "*")
	}
	// RSA_AES_KEY_WRAP material wrapped under a token for RSAES_OAEP, and
	// a changed KWP part.
	pk := importParams(t, c, id, types.AlgorithmSpecRsaAesKeyWrapSha256, types.WrappingKeySpecRsa2048)
	kw := wrapGo(t, pk.PublicKey, types.AlgorithmSpecRsaAesKeyWrapSha256, material)
	wantAPIError(t, imp(kms.ImportKeyMaterialInput{EncryptedKeyMaterial: kw, ValidTo: &soon}), "InvalidCiphertextException", "*")
	kw[len(kw)-1] ^= 1
	wantAPIError(t, imp(kms.ImportKeyMaterialInput{ImportToken: pk.ImportToken, EncryptedKeyMaterial: kw, ValidTo: &soon}), "InvalidCiphertextException", "*")
	// Material of the wrong size.
	wantAPIError(t, imp(kms.ImportKeyMaterialInput{EncryptedKeyMaterial: wrapGo(t, p.PublicKey, types.AlgorithmSpecRsaesOaepSha256, randomBytes(16)),
		ValidTo: &soon}), "IncorrectKeyMaterialException", "*")
	// KeyMaterialId with NEW_KEY_MATERIAL.
	wantAPIError(t, imp(kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial, KeyMaterialId: aws.String(strings.Repeat("a", 64)),
		ValidTo: &soon}), "ValidationException", "*")
	// Still PendingImport after all that.
	if st := describe(t, c, id); st.KeyState != types.KeyStatePendingImport {
		t.Fatalf("key state after failed imports = %s", st.KeyState)
	}
	// A token is valid for 24 hours.
	clk.Advance(24 * time.Hour)
	soon = clk.Now().Add(time.Hour)
	wantAPIError(t, imp(kms.ImportKeyMaterialInput{ValidTo: &soon}), "ExpiredImportTokenException", "*")
	p = importParams(t, c, id, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048)
	mustOK(t, "ImportKeyMaterial", imp(kms.ImportKeyMaterialInput{ValidTo: &soon}))

	// A Disabled key is DisabledException; a key pending deletion is
	// KMSInvalidStateException for GetParametersForImport and
	// ImportKeyMaterial, and DeleteImportedKeyMaterial leaves it
	// PendingDeletion; cancelling leaves it PendingImport.
	mustOK(t, "DisableKey", second(c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &id})))
	wantAPIError(t, imp(kms.ImportKeyMaterialInput{ValidTo: &soon}), "DisabledException", arn+" is disabled.")
	mustOK(t, "ScheduleKeyDeletion", second(c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id})))
	_, err = c.GetParametersForImport(ctx, &kms.GetParametersForImportInput{KeyId: &id,
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	wantAPIError(t, err, "KMSInvalidStateException", arn+" is pending deletion.")
	wantAPIError(t, imp(kms.ImportKeyMaterialInput{ValidTo: &soon}), "KMSInvalidStateException", arn+" is pending deletion.")
	mustOK(t, "DeleteImportedKeyMaterial", second(c.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: &id})))
	if st := describe(t, c, id); st.KeyState != types.KeyStatePendingDeletion {
		t.Fatalf("key state after deleting material while pending deletion = %s", st.KeyState)
	}
	mustOK(t, "CancelKeyDeletion", second(c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: &id})))
	if st := describe(t, c, id); st.KeyState != types.KeyStatePendingImport {
		t.Fatalf("key state after cancelling the deletion = %s", st.KeyState)
	}

	// Key specs AWS does not import, and automatic rotation.
	_, err = c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternal, KeySpec: "ML_DSA_44", KeyUsage: types.KeyUsageTypeSignVerify})
	wantAPIError(t, err, "UnsupportedOperationException", "KeySpec ML_DSA_44 does not support Origin EXTERNAL.")
	_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: other.KeyId})
	wantAPIError(t, err, "KMSInvalidStateException", *other.Arn+" is pending import.")
}

// TestImportKeyMaterialExpiry lets imported material expire: from ValidTo
// on the key is unusable (PendingImport) whether or not the sweep has run,
// the sweep deletes it across a restart, and importing the same material
// again brings every ciphertext back.
func TestImportKeyMaterialExpiry(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	dir := privateDir(t)
	n := startClockNodeIn(t, dir, clk)
	c := n.client("us-east-1")
	ctx := context.Background()
	md := externalKey(t, c, "", "")
	id, arn := *md.KeyId, *md.Arn
	material := randomBytes(32)
	validTo := clk.Now().Add(2 * time.Hour)
	mustOK(t, "ImportKeyMaterial", second(importWith(t, c, id, types.AlgorithmSpecRsaAesKeyWrapSha256, types.WrappingKeySpecRsa2048, wrapGo, material,
		kms.ImportKeyMaterialInput{ValidTo: &validTo})))
	if st := describe(t, c, id); !st.ValidTo.Equal(validTo) || st.ExpirationModel != types.ExpirationModelTypeKeyMaterialExpires {
		t.Fatalf("ValidTo = %v %s, want %v", st.ValidTo, st.ExpirationModel, validTo)
	}
	ct := encryptAs(t, c, id, "expiring")
	svc := n.srv.Service()
	if got, err := svc.DeleteExpiredMaterial(ctx); err != nil || got != 0 {
		t.Fatalf("DeleteExpiredMaterial before ValidTo = %d, %v", got, err)
	}

	// An HMAC key whose material expires with the same ValidTo, left to
	// the sweep alone (nothing uses it before the restart).
	hm := externalKey(t, c, types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac)
	mustOK(t, "ImportKeyMaterial HMAC", second(importWith(t, c, *hm.KeyId, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, wrapGo,
		randomBytes(32), kms.ImportKeyMaterialInput{ValidTo: &validTo})))

	// Past ValidTo, before any sweep: the request deletes it first.
	clk.Advance(2 * time.Hour)
	_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct, EncryptionContext: map[string]string{"purpose": "rotation"}})
	wantAPIError(t, err, "KMSInvalidStateException", arn+" is pending import.")
	if st := describe(t, c, id); st.KeyState != types.KeyStatePendingImport || st.ValidTo != nil || st.ExpirationModel != "" {
		t.Fatalf("expired key = %s %v %s", st.KeyState, st.ValidTo, st.ExpirationModel)
	}

	// Restart: the sweep that runs when the node starts deletes the HMAC
	// key's material.
	n.stop()
	clk.Advance(time.Minute)
	n = startClockNodeIn(t, dir, clk)
	c = n.client("us-east-1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := describeRaw(t, n, *hm.KeyId)
		if st == "PendingImport" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HMAC key state after restart = %s, want PendingImport", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := n.srv.Service().DeleteExpiredMaterial(ctx); err != nil || got != 0 {
		t.Fatalf("DeleteExpiredMaterial again = %d, %v; want 0", got, err)
	}
	_, err = c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: hm.KeyId, Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	wantAPIError(t, err, "KMSInvalidStateException", *hm.Arn+" is pending import.")

	// The same material again: the old ciphertext decrypts.
	mustOK(t, "ImportKeyMaterial again", second(importWith(t, c, id, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, wrapGo, material,
		kms.ImportKeyMaterialInput{})))
	decryptMaterial(t, c, ct, "expiring")
}

// describeRaw reads a key's state from the node's store, without going
// through a request (which would delete expired material itself).
func describeRaw(t *testing.T, n *node, keyID string) string {
	t.Helper()
	st, err := n.srv.StoredKeyState(context.Background(), "us-east-1", keyID)
	mustOK(t, "KeyState", err)
	return st
}

// TestImportedMaterialRotation imports several materials into one
// symmetric key and rotates between them on demand.
func TestImportedMaterialRotation(t *testing.T) {
	n := startNode(t)
	c := n.client("us-east-1")
	ctx := context.Background()
	md := externalKey(t, c, "", "")
	id, arn := *md.KeyId, *md.Arn
	m1, m2 := randomBytes(32), randomBytes(32)
	imp := func(material []byte, in kms.ImportKeyMaterialInput) (string, error) {
		out, err := importWith(t, c, id, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, wrapGo, material, in)
		if err != nil {
			return "", err
		}
		return *out.KeyMaterialId, nil
	}
	id1, err := imp(m1, kms.ImportKeyMaterialInput{KeyMaterialDescription: aws.String("one")})
	mustOK(t, "ImportKeyMaterial", err)
	ct1 := encryptAs(t, c, id, "one")
	_, err = c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})
	wantAPIError(t, err, "KMSInvalidStateException", "*")
	_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id})
	wantAPIError(t, err, "UnsupportedOperationException", "")

	id2, err := imp(m2, kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial, KeyMaterialDescription: aws.String("two")})
	mustOK(t, "ImportKeyMaterial NEW_KEY_MATERIAL", err)
	if id2 == id1 {
		t.Fatal("two materials have one id")
	}
	if got := decryptMaterial(t, c, encryptAs(t, c, id, "still one"), "still one"); got != id1 {
		t.Fatalf("encryption before the rotation uses %s, want %s", got, id1)
	}
	if rs := listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: &id}); len(rs) != 0 {
		t.Fatalf("ListKeyRotations before any rotation = %+v", rs)
	}
	all := listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: &id, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	if len(all) != 2 || *all[1].KeyMaterialId != id2 || all[1].KeyMaterialState != types.KeyMaterialStatePendingRotation ||
		all[1].ImportState != types.ImportStateImported || aws.ToString(all[1].KeyMaterialDescription) != "two" || all[1].RotationDate != nil ||
		all[0].KeyMaterialState != types.KeyMaterialStateCurrent {
		t.Fatalf("ListKeyRotations ALL_KEY_MATERIAL = %+v", all)
	}
	// A third NEW material while one waits is refused.
	_, err = imp(randomBytes(32), kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial})
	wantAPIError(t, err, "KMSInvalidStateException", "*")

	mustOK(t, "RotateKeyOnDemand", second(c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})))
	if got := *describe(t, c, id).CurrentKeyMaterialId; got != id2 {
		t.Fatalf("CurrentKeyMaterialId after rotation = %s, want %s", got, id2)
	}
	ct2 := encryptAs(t, c, id, "two")
	if decryptMaterial(t, c, ct1, "one") != id1 || decryptMaterial(t, c, ct2, "two") != id2 {
		t.Fatal("ciphertexts do not report the material that made them")
	}
	rs := listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: &id})
	if len(rs) != 1 || *rs[0].KeyMaterialId != id2 || rs[0].RotationType != types.RotationTypeOnDemand || rs[0].RotationDate == nil ||
		rs[0].KeyMaterialState != types.KeyMaterialStateCurrent {
		t.Fatalf("ListKeyRotations after the rotation = %+v", rs)
	}

	// Deleting the older material makes the key PendingImport; importing
	// it again by its id restores it.
	out, err := c.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: &id, KeyMaterialId: &id1})
	mustOK(t, "DeleteImportedKeyMaterial", err)
	if *out.KeyId != arn || aws.ToString(out.KeyMaterialId) != id1 {
		t.Fatalf("DeleteImportedKeyMaterial = %s %s", *out.KeyId, aws.ToString(out.KeyMaterialId))
	}
	if st := describe(t, c, id); st.KeyState != types.KeyStatePendingImport {
		t.Fatalf("state with one material deleted = %s", st.KeyState)
	}
	all = listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: &id, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	if len(all) != 2 || all[0].ImportState != types.ImportStatePendingImport || all[0].KeyMaterialState != types.KeyMaterialStateNonCurrent ||
		all[0].ExpirationModel != "" || all[1].ImportState != types.ImportStateImported {
		t.Fatalf("ListKeyRotations with one material deleted = %+v", all)
	}
	_, err = c.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: &id, KeyMaterialId: aws.String(strings.Repeat("b", 64))})
	wantAPIError(t, err, "NotFoundException", "*")
	_, err = imp(m2, kms.ImportKeyMaterialInput{KeyMaterialId: &id1})
	wantAPIError(t, err, "IncorrectKeyMaterialException", "*")
	if _, err := imp(m1, kms.ImportKeyMaterialInput{KeyMaterialId: &id1}); err != nil {
		t.Fatalf("ImportKeyMaterial of the deleted material: %v", err)
	}
	if describe(t, c, id).KeyState != types.KeyStateEnabled || decryptMaterial(t, c, ct1, "one") != id1 {
		t.Fatal("the key is not usable again after the re-import")
	}

	// Material pending rotation can be deleted outright; the key stays
	// Enabled, and other material can take its place.
	m3 := randomBytes(32)
	id3, err := imp(m3, kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial})
	mustOK(t, "ImportKeyMaterial NEW_KEY_MATERIAL", err)
	mustOK(t, "DeleteImportedKeyMaterial", second(c.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: &id, KeyMaterialId: &id3})))
	if st := describe(t, c, id); st.KeyState != types.KeyStateEnabled {
		t.Fatalf("state after deleting material pending rotation = %s", st.KeyState)
	}
	if all := listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: &id, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial}); len(all) != 2 {
		t.Fatalf("materials after deleting the pending one = %d, want 2", len(all))
	}
	mustOK(t, "ImportKeyMaterial NEW_KEY_MATERIAL", second(imp(randomBytes(32), kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial})))
}

// TestImportAsymmetricAndHMAC imports an RSA and an ECC private key as
// PKCS #8 (one made by Go, one by OpenSSL) and an HMAC key as raw bytes:
// Sign, Verify, GetPublicKey and GenerateMac use exactly the imported keys.
func TestImportAsymmetricAndHMAC(t *testing.T) {
	n := startNode(t)
	c := n.client("us-east-1")
	ctx := context.Background()
	msg := []byte("signed with imported material")

	// RSA: too long for RSAES-OAEP, so RSA_AES_KEY_WRAP.
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	mustOK(t, "GenerateKey", err)
	der, err := x509.MarshalPKCS8PrivateKey(rk)
	mustOK(t, "MarshalPKCS8PrivateKey", err)
	rmd := externalKey(t, c, types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)
	_, err = importWith(t, c, *rmd.KeyId, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa4096, wrapGo, der[:300], kms.ImportKeyMaterialInput{})
	wantAPIError(t, err, "IncorrectKeyMaterialException", "*")
	out, err := importWith(t, c, *rmd.KeyId, types.AlgorithmSpecRsaAesKeyWrapSha256, types.WrappingKeySpecRsa2048, wrapGo, der, kms.ImportKeyMaterialInput{})
	mustOK(t, "ImportKeyMaterial RSA", err)
	if out.KeyMaterialId != nil {
		t.Errorf("ImportKeyMaterial of an RSA key returned KeyMaterialId %s", *out.KeyMaterialId)
	}
	sig, err := c.Sign(ctx, &kms.SignInput{KeyId: rmd.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPssSha256})
	mustOK(t, "Sign", err)
	digest := sha256.Sum256(msg)
	if err := rsa.VerifyPSS(&rk.PublicKey, crypto.SHA256, digest[:], sig.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
		t.Fatalf("the signature does not verify with the imported key's public key: %v", err)
	}
	pub, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: rmd.KeyId})
	mustOK(t, "GetPublicKey", err)
	want, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if !bytes.Equal(pub.PublicKey, want) {
		t.Fatal("GetPublicKey is not the imported key's public key")
	}
	// Another RSA key is refused; the same key, encoded again, is fine.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	oder, _ := x509.MarshalPKCS8PrivateKey(other)
	_, err = importWith(t, c, *rmd.KeyId, types.AlgorithmSpecRsaAesKeyWrapSha1, types.WrappingKeySpecRsa2048, wrapGo, oder, kms.ImportKeyMaterialInput{})
	wantAPIError(t, err, "IncorrectKeyMaterialException", "*")
	_, err = importWith(t, c, *rmd.KeyId, types.AlgorithmSpecRsaAesKeyWrapSha1, types.WrappingKeySpecRsa2048, wrapGo, der,
		kms.ImportKeyMaterialInput{KeyMaterialDescription: aws.String("x")})
	wantAPIError(t, err, "ValidationException", "*")

	// ECC P-256 made and wrapped by OpenSSL (RSAES-OAEP: the PKCS #8 key
	// fits), verified with the public key OpenSSL derived. OpenSSL writes
	// an EC key in the SEC 1 form, which is refused; the developer guide
	// converts it to PKCS #8 with "openssl pkcs8 -topk8 -outform der
	// -nocrypt".
	openssl := opensslPath(t)
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		if o, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, o)
		}
	}
	run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", filepath.Join(dir, "ec.pem"))
	run("ec", "-in", filepath.Join(dir, "ec.pem"), "-outform", "DER", "-out", filepath.Join(dir, "sec1.der"))
	run("pkcs8", "-topk8", "-nocrypt", "-in", filepath.Join(dir, "ec.pem"), "-outform", "DER", "-out", filepath.Join(dir, "ec.der"))
	sec1, err := os.ReadFile(filepath.Join(dir, "sec1.der"))
	mustOK(t, "read", err)
	ecDER, err := os.ReadFile(filepath.Join(dir, "ec.der"))
	mustOK(t, "read", err)
	emd := externalKey(t, c, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	_, err = importWith(t, c, *emd.KeyId, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa3072, wrapOpenSSL, sec1, kms.ImportKeyMaterialInput{})
	wantAPIError(t, err, "IncorrectKeyMaterialException", "The key material is not a PKCS #8 private key for ECC_NIST_P256.")
	mustOK(t, "ImportKeyMaterial ECC", second(importWith(t, c, *emd.KeyId, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa3072, wrapOpenSSL, ecDER,
		kms.ImportKeyMaterialInput{})))
	esig, err := c.Sign(ctx, &kms.SignInput{KeyId: emd.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	mustOK(t, "Sign ECC", err)
	ek, err := x509.ParsePKCS8PrivateKey(ecDER)
	mustOK(t, "ParsePKCS8PrivateKey", err)
	ecPub := &ek.(*ecdsa.PrivateKey).PublicKey
	if ecPub.Curve != elliptic.P256() || !ecdsa.VerifyASN1(ecPub, digest[:], esig.Signature) {
		t.Fatal("the ECDSA signature does not verify with the OpenSSL key")
	}
	mustOK(t, "Verify", second(c.Verify(ctx, &kms.VerifyInput{KeyId: emd.KeyId, Message: msg, Signature: esig.Signature,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})))

	// HMAC: raw bytes of the spec's length.
	hmd := externalKey(t, c, types.KeySpecHmac384, types.KeyUsageTypeGenerateVerifyMac)
	_, err = importWith(t, c, *hmd.KeyId, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, wrapGo, randomBytes(32), kms.ImportKeyMaterialInput{})
	wantAPIError(t, err, "IncorrectKeyMaterialException", "*")
	hkey := randomBytes(48)
	mustOK(t, "ImportKeyMaterial HMAC", second(importWith(t, c, *hmd.KeyId, types.AlgorithmSpecRsaAesKeyWrapSha256, types.WrappingKeySpecRsa2048, wrapOpenSSL, hkey,
		kms.ImportKeyMaterialInput{})))
	mac, err := c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: hmd.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha384})
	mustOK(t, "GenerateMac", err)
	h := hmac.New(sha512.New384, hkey)
	h.Write(msg)
	if !hmac.Equal(mac.Mac, h.Sum(nil)) {
		t.Fatal("GenerateMac is not the HMAC of the imported key")
	}
	// Asymmetric and HMAC keys have one material: NEW_KEY_MATERIAL again
	// is refused.
	_, err = importWith(t, c, *hmd.KeyId, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, wrapGo, randomBytes(48),
		kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial})
	wantAPIError(t, err, "IncorrectKeyMaterialException", "*")
}

// TestImportSM2InChina wraps material with an SM2 wrapping key and SM2PKE,
// which only the China regions offer.
func TestImportSM2InChina(t *testing.T) {
	n := startNode(t)
	c := n.client("cn-north-1")
	md := externalKey(t, c, "", "")
	material := randomBytes(32)
	wrapSM2 := func(t *testing.T, pubDER []byte, _ types.AlgorithmSpec, m []byte) []byte {
		// The standard library does not know SM2 public keys.
		pk, err := smx509.ParsePKIXPublicKey(pubDER)
		mustOK(t, "parse SM2 public key", err)
		ct, err := sm2.Encrypt(rand.Reader, pk.(*ecdsa.PublicKey), m, sm2.ASN1EncrypterOpts)
		mustOK(t, "sm2.Encrypt", err)
		return ct
	}
	mustOK(t, "ImportKeyMaterial", second(importWith(t, c, *md.KeyId, types.AlgorithmSpecSm2pke, types.WrappingKeySpecSm2, wrapSM2, material, kms.ImportKeyMaterialInput{})))
	decryptMaterial(t, c, encryptAs(t, c, *md.KeyId, "sm2-wrapped"), "sm2-wrapped")
}

// TestImportAuthorizationAndAudit: each operation needs its kms: action,
// and the audit trail records the calls without the token or the material.
func TestImportAuthorizationAndAudit(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	c := n.client("us-east-1")
	md := externalKey(t, c, "", "")
	arn := *md.Arn
	bob := newUserKey(t, n, "bob")
	bobARN := "arn:aws:iam::111122223333:user/bob"
	p := importParams(t, c, *md.KeyId, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048)
	material := randomBytes(32)
	ekm := wrapGo(t, p.PublicKey, types.AlgorithmSpecRsaesOaepSha256, material)
	in := &kms.ImportKeyMaterialInput{KeyId: md.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: ekm,
		ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}
	denied := func(action string, err error) {
		t.Helper()
		wantAPIError(t, err, "AccessDeniedException", "User: "+bobARN+" is not authorized to perform: kms:"+action+" on resource: "+arn+
			" because no identity-based policy allows the kms:"+action+" action")
	}
	_, err := bob.GetParametersForImport(ctx, &kms.GetParametersForImportInput{KeyId: md.KeyId,
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	denied("GetParametersForImport", err)
	_, err = bob.ImportKeyMaterial(ctx, in)
	denied("ImportKeyMaterial", err)
	_, err = bob.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: md.KeyId})
	denied("DeleteImportedKeyMaterial", err)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:ImportKeyMaterial","Resource":"` + arn + `"}]}`
	_, err = n.iamRoot().PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("import"), PolicyDocument: aws.String(doc)})
	mustNil(t, "PutUserPolicy", err)
	mustOK(t, "ImportKeyMaterial as bob", second(bob.ImportKeyMaterial(ctx, in)))
	_, err = bob.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: md.KeyId})
	denied("DeleteImportedKeyMaterial", err)

	n.stop()
	var names []string
	secrets := [][]byte{material, p.ImportToken, ekm}
	err = audit.Search(filepath.Join(n.dataDir, "audit"), &audit.Filter{}, func(line []byte) error {
		for _, s := range secrets {
			for _, form := range []string{base64.StdEncoding.EncodeToString(s), hexOf(s)} {
				if bytes.Contains(line, []byte(form)) {
					t.Errorf("the audit trail holds the material or the token: %s", line)
				}
			}
		}
		var r struct {
			EventName         string         `json:"eventName"`
			ErrorCode         string         `json:"errorCode"`
			ReadOnly          bool           `json:"readOnly"`
			RequestParameters map[string]any `json:"requestParameters"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		if strings.Contains(r.EventName, "Import") {
			names = append(names, r.EventName+"/"+r.ErrorCode)
			if r.EventName == "ImportKeyMaterial" && (r.ReadOnly || r.RequestParameters["keyId"] != *md.KeyId ||
				r.RequestParameters["expirationModel"] != "KEY_MATERIAL_DOES_NOT_EXPIRE" ||
				r.RequestParameters["importToken"] != nil || r.RequestParameters["encryptedKeyMaterial"] != nil) {
				t.Errorf("ImportKeyMaterial record: readOnly %v, requestParameters %v", r.ReadOnly, r.RequestParameters)
			}
		}
		return nil
	})
	mustNil(t, "audit.Search", err)
	want := []string{"GetParametersForImport/", "GetParametersForImport/AccessDeniedException", "ImportKeyMaterial/AccessDeniedException",
		"DeleteImportedKeyMaterial/AccessDeniedException", "ImportKeyMaterial/", "DeleteImportedKeyMaterial/AccessDeniedException"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("audit records = %v, want %v", names, want)
	}
}

// importedMultiRegionKey starts a node and makes a multi-Region key with
// imported material (origin EXTERNAL) in us-east-1 and its replica in
// eu-west-1, both PendingImport; it returns the clients of both regions
// and the key id.
func importedMultiRegionKey(t *testing.T) (east, west *kms.Client, id string) {
	t.Helper()
	n := startNode(t)
	east, west = n.client("us-east-1"), n.client("eu-west-1")
	ctx := context.Background()
	k, err := east.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternal, MultiRegion: aws.Bool(true)})
	mustOK(t, "CreateKey", err)
	id = *k.KeyMetadata.KeyId
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("eu-west-1")})
	mustOK(t, "ReplicateKey", err)
	return east, west, id
}

// TestImportMultiRegion imports material into a multi-Region key with
// imported material: AWS copies nothing to replicas ("You must import the
// same key material into related primary and replica keys", AWS KMS
// Developer Guide, "Importing key material into multi-Region keys"), so the
// replica stays PendingImport until it gets the primary's material, refuses
// other material, and then decrypts what the primary encrypted.
func TestImportMultiRegion(t *testing.T) {
	east, west, id := importedMultiRegionKey(t)
	ctx := context.Background()

	material := randomBytes(32)
	_, err := importWith(t, east, id, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, wrapGo, material, kms.ImportKeyMaterialInput{})
	mustOK(t, "ImportKeyMaterial into the primary", err)
	if md := describe(t, west, id); md.KeyState != types.KeyStatePendingImport {
		t.Fatalf("replica after importing into the primary only: %s, want PendingImport (nothing is copied)", md.KeyState)
	}
	_, err = importWith(t, west, id, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, wrapGo, randomBytes(32), kms.ImportKeyMaterialInput{})
	wantAPIError(t, err, "IncorrectKeyMaterialException", "*")
	if md := describe(t, west, id); md.KeyState != types.KeyStatePendingImport {
		t.Fatalf("replica after refused material: %s, want PendingImport", md.KeyState)
	}
	_, err = importWith(t, west, id, types.AlgorithmSpecRsaAesKeyWrapSha256, types.WrappingKeySpecRsa3072, wrapGo, material, kms.ImportKeyMaterialInput{})
	mustOK(t, "ImportKeyMaterial of the primary's material into the replica", err)
	ct := encryptAs(t, east, id, "made in us-east-1")
	dec, err := west.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct, KeyId: &id, EncryptionContext: map[string]string{"purpose": "rotation"}})
	mustOK(t, "Decrypt in eu-west-1", err)
	if string(dec.Plaintext) != "made in us-east-1" {
		t.Fatalf("Decrypt in the replica's region = %q", dec.Plaintext)
	}
}

// TestImportMultiRegionRotation: new key material imported into a
// multi-Region primary is PENDING_MULTI_REGION_IMPORT_AND_ROTATION until
// the replica has it too, then PENDING_ROTATION; the primary cannot rotate
// to it before, a replica never rotates itself, and the primary's rotation
// makes it current in the replica as well. Deleting material that waits
// for rotation from the primary deletes it from the replica.
func TestImportMultiRegionRotation(t *testing.T) {
	east, west, id := importedMultiRegionKey(t)
	ctx := context.Background()
	imp := func(c *kms.Client, material []byte, in kms.ImportKeyMaterialInput) string {
		t.Helper()
		out, err := importWith(t, c, id, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, wrapGo, material, in)
		mustOK(t, "ImportKeyMaterial", err)
		return aws.ToString(out.KeyMaterialId)
	}
	first := randomBytes(32)
	m1 := imp(east, first, kms.ImportKeyMaterialInput{})
	imp(west, first, kms.ImportKeyMaterialInput{})
	state := func(c *kms.Client, material string) types.KeyMaterialState {
		t.Helper()
		for _, e := range listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: &id, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial}) {
			if aws.ToString(e.KeyMaterialId) == material {
				return e.KeyMaterialState
			}
		}
		return "absent"
	}

	second := randomBytes(32)
	m2 := imp(east, second, kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial})
	if got := state(east, m2); got != types.KeyMaterialStatePendingMultiRegionImportAndRotation {
		t.Fatalf("new material in the primary only: %s, want PENDING_MULTI_REGION_IMPORT_AND_ROTATION", got)
	}
	_, err := east.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})
	wantAPIError(t, err, "KMSInvalidStateException", "*")
	if got := state(east, m1); got != types.KeyMaterialStateCurrent {
		t.Fatalf("after the refused rotation the first material is %s, want CURRENT", got)
	}
	imp(west, second, kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial})
	if got := state(east, m2); got != types.KeyMaterialStatePendingRotation {
		t.Fatalf("new material in the primary and the replica: %s, want PENDING_ROTATION", got)
	}
	_, err = west.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})
	wantAPIError(t, err, "UnsupportedOperationException", "*")
	_, err = east.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})
	mustOK(t, "RotateKeyOnDemand on the primary", err)
	for region, c := range map[string]*kms.Client{"us-east-1": east, "eu-west-1": west} {
		if got := state(c, m2); got != types.KeyMaterialStateCurrent {
			t.Fatalf("%s after the rotation: the new material is %s, want CURRENT", region, got)
		}
		if got := state(c, m1); got != types.KeyMaterialStateNonCurrent {
			t.Fatalf("%s after the rotation: the first material is %s, want NON_CURRENT", region, got)
		}
	}
	ct := encryptAs(t, west, id, "made in eu-west-1")
	if got := decryptMaterial(t, east, ct, "made in eu-west-1"); got != m2 {
		t.Fatalf("the replica encrypts with %s, want the rotated-to %s", got, m2)
	}

	third := randomBytes(32)
	m3 := imp(east, third, kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial})
	imp(west, third, kms.ImportKeyMaterialInput{ImportType: types.ImportTypeNewKeyMaterial})
	_, err = east.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: &id, KeyMaterialId: &m3})
	mustOK(t, "DeleteImportedKeyMaterial of pending material on the primary", err)
	if got := state(west, m3); got != "absent" {
		t.Fatalf("the replica after the primary's pending material was deleted: %s, want it gone", got)
	}
	if md := describe(t, west, id); md.KeyState != types.KeyStateEnabled {
		t.Fatalf("replica after the pending material was deleted: %s, want Enabled", md.KeyState)
	}
}
