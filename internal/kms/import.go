package kms

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tink-crypto/tink-go/v2/kwp/subtle"

	"github.com/trent-kms/trent/internal/keyspec"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Imported key material (docs/import.md). A key created with Origin
// EXTERNAL starts in PendingImport with no material. GetParametersForImport
// hands out a fresh RSA (or, in the China regions, SM2) wrapping key and an
// import token; ImportKeyMaterial unwraps the caller's material with it,
// seals it under the root key like generated material, and enables the key.
//
// The import token is Trent's own: the wrapping private key (PKCS #8), the
// wrapping algorithm and spec and the end of the token's validity, sealed
// under the root key with the key ARN as authenticated data. Nothing is
// stored by GetParametersForImport, the wrapping private key never exists
// unsealed outside the request that uses it, and a token cannot be forged
// or moved to another key: it does not open.
//
// A material's id is derived from the key id and the material (the model
// on ImportKeyMaterialRequest.KeyMaterialId: "KMS assigns a unique
// identifier to the key material based on the KMS key ID and the imported
// key material"), so re-importing the same material after it was deleted
// or expired finds the same id, which every ciphertext made with it names.

const (
	originExternal     = "EXTERNAL"
	statePendingImport = "PendingImport"

	expires       = "KEY_MATERIAL_EXPIRES"
	doesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE"

	importNew      = "NEW_KEY_MATERIAL"
	importExisting = "EXISTING_KEY_MATERIAL"

	// importParametersValidity: "Each public key and import token set is
	// valid for 24 hours" (the model's GetParametersForImport).
	importParametersValidity = 24 * time.Hour
	// maxMaterialValidity: ValidTo "The maximum value is 365 days from the
	// request date" (the model's ImportKeyMaterialRequest).
	maxMaterialValidity = 365 * 24 * time.Hour

	importTokenVersion = 1
	importTokenLabel   = "trent/import-token/v1"
	materialIDLabel    = "trent/imported-material-id/v1"

	// aesKWPKeySize is the AES key of the RSA_AES_KEY_WRAP algorithms:
	// "a 256-bit AES symmetric key" (importing-keys-encrypt-key-material,
	// AWS developer guide), wrapped with RSAES-OAEP and followed by the
	// material wrapped with AES key wrap with padding (RFC 5649).
	aesKWPKeySize = 32
)

// errNotExternal is the answer to an import operation on a key whose
// origin is not EXTERNAL, as local-kms gives it (nsmithuk/local-kms,
// src/handler/import_key_material.go: "%s origin is %s which is not valid
// for this operation."), which mirrors AWS's text.
func errNotExternal(arn, origin string) error {
	return wire.Errorf("UnsupportedOperationException", "%s origin is %s which is not valid for this operation.", arn, origin)
}

// errPendingImport is the KMSInvalidStateException of a key without its
// key material, in the form of AWS's other state messages ("<arn> is
// pending deletion.", "<arn> is disabled."); the text is inferred.
func errPendingImport(arn string) error {
	return wire.Errorf("KMSInvalidStateException", "%s is pending import.", arn)
}

// importableSpec reports whether a key of spec may have Origin EXTERNAL:
// symmetric encryption, HMAC, RSA, NIST and SECG ECC and SM2 keys ("You can
// import key material for a symmetric encryption KMS key, HMAC KMS key,
// asymmetric encryption KMS key, or asymmetric signing KMS key", the
// model's GetParametersForImport; asymmetric key agreement keys are named
// in ImportKeyMaterial's). ML-DSA, ML-KEM and Ed25519 keys are refused:
// AWS does not document importing them (strict where AWS is unknown).
func importableSpec(spec string) bool {
	switch {
	case spec == specSymmetric, spec == "SM2", spec == "ECC_SECG_P256K1":
		return true
	case strings.HasPrefix(spec, "RSA_"), strings.HasPrefix(spec, "HMAC_"), strings.HasPrefix(spec, "ECC_NIST_P"):
		return true
	}
	return false
}

// checkExternalSpec is CreateKey's check of a key spec for Origin EXTERNAL.
// The message is inferred.
func checkExternalSpec(spec string) error {
	if !importableSpec(spec) {
		return wire.Errorf("UnsupportedOperationException", "KeySpec %s does not support Origin EXTERNAL.", spec)
	}
	return nil
}

// wrappingAlgorithms maps each WrappingAlgorithm Trent accepts to the
// encryption algorithm of the wrapping key that opens it (package keyspec's
// name), and says whether an AES key wrapped with padding follows.
var wrappingAlgorithms = map[string]struct {
	asym string // keyspec encryption algorithm of the wrapping key
	kwp  bool   // RSA_AES_KEY_WRAP: an AES key, then the material under it
	sm2  bool
}{
	"RSAES_OAEP_SHA_1":         {asym: "RSAES_OAEP_SHA_1"},
	"RSAES_OAEP_SHA_256":       {asym: "RSAES_OAEP_SHA_256"},
	"RSA_AES_KEY_WRAP_SHA_1":   {asym: "RSAES_OAEP_SHA_1", kwp: true},
	"RSA_AES_KEY_WRAP_SHA_256": {asym: "RSAES_OAEP_SHA_256", kwp: true},
	"SM2PKE":                   {asym: "SM2PKE", sm2: true},
}

// checkWrapping checks a WrappingAlgorithm and WrappingKeySpec pair (each
// already one of the model's enum values). RSAES_PKCS1_V1_5 is refused:
// "As of October 10, 2023, KMS does not support the RSAES_PKCS1_V1_5
// wrapping algorithm" (the model). SM2PKE and SM2 exist only in the China
// regions ("SM2PKE in China regions", issue #11; SM2 keys are refused
// elsewhere as CreateKey refuses them) and go together. The error codes
// and messages are inferred.
func checkWrapping(region, alg, spec string) error {
	w, ok := wrappingAlgorithms[alg]
	if !ok {
		return wire.Errorf("UnsupportedOperationException", "WrappingAlgorithm %s is not supported.", alg)
	}
	if (w.sm2 || spec == "SM2") && Partition(region) != "aws-cn" {
		if w.sm2 {
			return wire.Errorf("UnsupportedOperationException", "WrappingAlgorithm SM2PKE is not supported in this Region")
		}
		return wire.Errorf("UnsupportedOperationException", "WrappingKeySpec SM2 is not supported in this Region")
	}
	if w.sm2 != (spec == "SM2") {
		return validationError(fmt.Sprintf("WrappingAlgorithm %s is not compatible with WrappingKeySpec %s.", alg, spec))
	}
	return nil
}

// GetParametersForImport returns a fresh wrapping public key and an import
// token for a key with Origin EXTERNAL, valid for 24 hours. Keys of any
// other origin are UnsupportedOperationException; a key pending deletion is
// KMSInvalidStateException (nsmithuk/local-kms,
// src/handler/get_parameters_for_import.go, answers both so).
func (s *Service) GetParametersForImport(ctx context.Context, c *Caller, in *wire.GetParametersForImportRequest) (*wire.GetParametersForImportResponse, error) {
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opGetParametersForImport, nil)
	if err != nil {
		return nil, err
	}
	if ck.meta.Origin != originExternal {
		return nil, errNotExternal(ck.arn, ck.meta.Origin)
	}
	switch ck.meta.KeyState {
	case stateEnabled, stateDisabled, statePendingImport:
	default:
		return nil, invalidState(ck.arn, ck.meta.KeyState)
	}
	alg, spec := wire.Value(in.WrappingAlgorithm), wire.Value(in.WrappingKeySpec)
	if err := checkWrapping(c.Region, alg, spec); err != nil {
		return nil, err
	}
	// A fresh wrapping key for every request ("the public key (or
	// "wrapping key") of an RSA key pair that KMS generates", the model).
	der, err := keyspec.Generate(spec, s.rand)
	if err != nil {
		return nil, fmt.Errorf("generate wrapping key: %w", err)
	}
	defer clear(der)
	wk, err := keyspec.Parse(spec, der)
	if err != nil {
		return nil, fmt.Errorf("parse wrapping key: %w", err)
	}
	pub, err := wk.PublicKey()
	if err != nil {
		return nil, err
	}
	validTo := s.now().UTC().Add(importParametersValidity).Truncate(time.Millisecond)
	tok, err := s.sealImportToken(ck.arn, importToken{alg: alg, spec: spec, validTo: validTo, key: der})
	if err != nil {
		return nil, err
	}
	return &wire.GetParametersForImportResponse{
		KeyId: wire.Ptr(ck.arn), ImportToken: tok, PublicKey: pub, ParametersValidTo: wire.NewTimestamp(validTo),
	}, nil
}

// importToken is what an import token carries, sealed.
type importToken struct {
	alg, spec string
	validTo   time.Time
	key       []byte // the wrapping private key, PKCS #8 DER
}

// encodeImportToken encodes t: version (1 byte), then the wrapping
// algorithm, the wrapping key spec and the private key, each with a 2-byte
// big-endian length, then ValidTo in Unix milliseconds (8 bytes).
func encodeImportToken(t importToken) []byte {
	b := make([]byte, 0, 1+6+len(t.alg)+len(t.spec)+len(t.key)+8)
	b = append(b, importTokenVersion)
	for _, f := range [][]byte{[]byte(t.alg), []byte(t.spec), t.key} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return binary.BigEndian.AppendUint64(b, uint64(t.validTo.UnixMilli()))
}

// parseImportToken decodes what encodeImportToken encoded, exactly: a
// wrong version, a truncated field or trailing bytes are an error (with a
// zero token). The key is a copy.
func parseImportToken(b []byte) (importToken, error) {
	if len(b) < 1 || b[0] != importTokenVersion {
		return importToken{}, errors.New("kms: import token version")
	}
	r := b[1:]
	var f [3][]byte
	for i := range f {
		if len(r) < 2 || len(r) < 2+int(binary.BigEndian.Uint16(r)) {
			return importToken{}, errors.New("kms: import token truncated")
		}
		n := int(binary.BigEndian.Uint16(r))
		f[i], r = r[2:2+n], r[2+n:]
	}
	if len(r) != 8 {
		return importToken{}, errors.New("kms: import token length")
	}
	return importToken{
		alg: string(f[0]), spec: string(f[1]), key: bytes.Clone(f[2]),
		validTo: time.UnixMilli(int64(binary.BigEndian.Uint64(r))).UTC(),
	}, nil
}

// sealImportToken encodes t and seals it under the root key bound to arn.
func (s *Service) sealImportToken(arn string, t importToken) ([]byte, error) {
	b := encodeImportToken(t)
	defer clear(b)
	sealed, err := s.root.Seal(b, keystore.BoundAAD(importTokenLabel, arn))
	if err != nil {
		return nil, fmt.Errorf("seal import token for %s: %w", arn, err)
	}
	return sealed, nil
}

// errBadToken is the answer to an import token that does not open for the
// key: not Trent's, changed, or issued for another key ("the provided import
// token is invalid or is associated with a different KMS key", the model's
// InvalidImportTokenException; the message is inferred).
func errBadToken(arn string) error {
	return wire.Errorf("InvalidImportTokenException", "The import token is not valid for %s.", arn)
}

// openImportToken opens a token sealed by sealImportToken for arn. Every
// failure is errBadToken; the cause is kept for the log.
func (s *Service) openImportToken(arn string, tok []byte) (importToken, error) {
	fail := func(cause error) (importToken, error) {
		e := errBadToken(arn).(*wire.Error)
		e.Err = cause
		return importToken{}, e
	}
	b, err := s.root.Open(tok, keystore.BoundAAD(importTokenLabel, arn))
	if err != nil {
		return fail(err)
	}
	defer clear(b)
	t, err := parseImportToken(b)
	if err != nil {
		return fail(err)
	}
	return t, nil
}

// unwrapMaterial decrypts EncryptedKeyMaterial with the token's wrapping
// key. RSAES_OAEP_* and SM2PKE decrypt the material directly; the
// RSA_AES_KEY_WRAP_* algorithms decrypt a 256-bit AES key from the first
// modulus-length bytes (RSAES-OAEP with the named hash for both the hash
// and MGF1) and unwrap the rest with it as AES key wrap with padding (RFC
// 5649, Tink's vetted implementation): the CKM_RSA_AES_KEY_WRAP format
// that the AWS developer guide builds with OpenSSL ("openssl pkeyutl
// -encrypt ... -pkeyopt rsa_padding_mode:oaep" then "openssl enc
// -id-aes256-wrap-pad ... -iv A65959A6", importing-keys-encrypt-key-material).
// Any failure is InvalidCiphertextException: "KMS could not decrypt the
// encrypted (wrapped) key material" (the model).
func unwrapMaterial(t importToken, wrapped []byte) ([]byte, error) {
	fail := func(cause error) ([]byte, error) {
		return nil, &wire.Error{Code: "InvalidCiphertextException", Err: fmt.Errorf("unwrap imported key material: %w", cause)}
	}
	w, ok := wrappingAlgorithms[t.alg]
	if !ok {
		return fail(fmt.Errorf("wrapping algorithm %q", t.alg))
	}
	wk, err := keyspec.Parse(t.spec, t.key)
	if err != nil {
		return fail(err)
	}
	if !w.kwp {
		pt, err := wk.Decrypt(w.asym, wrapped)
		if err != nil {
			return fail(err)
		}
		return pt, nil
	}
	n := rsaModulusBytes[t.spec]
	if n == 0 || len(wrapped) <= n {
		return fail(errors.New("wrapped material shorter than the RSA modulus"))
	}
	aesKey, err := wk.Decrypt(w.asym, wrapped[:n])
	if err != nil {
		return fail(err)
	}
	defer clear(aesKey)
	if len(aesKey) != aesKWPKeySize {
		return fail(fmt.Errorf("AES key of %d bytes", len(aesKey)))
	}
	kwp, err := subtle.NewKWP(aesKey)
	if err != nil {
		return fail(err)
	}
	pt, err := kwp.Unwrap(wrapped[n:])
	if err != nil {
		return fail(err)
	}
	return pt, nil
}

// rsaModulusBytes is the length of an RSAES-OAEP ciphertext under each
// RSA wrapping key spec: the first part of an RSA_AES_KEY_WRAP ciphertext.
var rsaModulusBytes = map[string]int{"RSA_2048": 256, "RSA_3072": 384, "RSA_4096": 512}

// errIncorrectMaterial is IncorrectKeyMaterialException: "the key material
// in the request is, expired, invalid, or does not meet expectations. For
// example, it is not the same key material that was previously imported
// or KMS expected new key material but the key material being imported is
// already associated with the KMS key" (the model). Messages are inferred.
func errIncorrectMaterial(format string, args ...any) error {
	return wire.Errorf("IncorrectKeyMaterialException", format, args...)
}

// checkImportedMaterial checks unwrapped material against the key spec and
// returns the material's id. Symmetric keys take 256 bits ("the key
// material must be a 256-bit symmetric encryption key",
// importing-keys-conceptual), HMAC keys raw bytes of the spec's length
// (keyspec.Parse), asymmetric keys a PKCS #8 private key of the spec. The
// id of asymmetric material is derived from its public key, so another
// encoding of the same private key is the same material.
func checkImportedMaterial(spec, keyID string, raw []byte) (string, error) {
	ident := raw
	if spec == specSymmetric {
		if len(raw) != keystore.SymmetricKeySize {
			return "", errIncorrectMaterial("Key material for a SYMMETRIC_DEFAULT key must be %d bytes.", keystore.SymmetricKeySize)
		}
	} else {
		k, err := keyspec.Parse(spec, raw)
		if err != nil {
			if strings.HasPrefix(spec, "HMAC_") {
				return "", errIncorrectMaterial("The key material is not a valid key for %s.", spec)
			}
			return "", errIncorrectMaterial("The key material is not a PKCS #8 private key for %s.", spec)
		}
		if pub, err := k.PublicKey(); err == nil {
			ident = pub
		}
	}
	h := sha256.New()
	h.Write(keystore.BoundAAD(materialIDLabel, keyID))
	h.Write(ident)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// importExpiry checks ExpirationModel and ValidTo and returns the model in
// effect ("The default is KEY_MATERIAL_EXPIRES", the model) and the
// expiry. The messages of the first two checks are local-kms's
// (nsmithuk/local-kms, src/handler/import_key_material.go); the others are
// inferred from the model: "The value of this parameter must be a future
// date and time. The maximum value is 365 days from the request date."
func importExpiry(in *wire.ImportKeyMaterialRequest, now time.Time) (string, time.Time, error) {
	model := wire.Value(in.ExpirationModel)
	if model == "" {
		model = expires
	}
	if model == expires && in.ValidTo == nil {
		return "", time.Time{}, validationError("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
	}
	if model == doesNotExpire {
		if in.ValidTo != nil {
			return "", time.Time{}, validationError("The parameter ValidTo cannot be specified for a key with an expiration model of KEY_MATERIAL_DOES_NOT_EXPIRE")
		}
		return model, time.Time{}, nil
	}
	validTo := in.ValidTo.Time().UTC().Truncate(time.Millisecond)
	if !validTo.After(now) {
		return "", time.Time{}, validationError("ValidTo must be a future date and time.")
	}
	if validTo.After(now.Add(maxMaterialValidity)) {
		return "", time.Time{}, validationError("ValidTo must be no more than 365 days from the request date.")
	}
	return model, validTo, nil
}

// ImportKeyMaterial imports (or imports again) key material wrapped with
// the public key of an import token. See docs/import.md for the rules; in
// short, the first import makes the material current and the key Enabled,
// a later import of the same material restores it or changes its
// expiration, and a symmetric key may take new material with ImportType
// NEW_KEY_MATERIAL, which RotateKeyOnDemand then makes current.
func (s *Service) ImportKeyMaterial(ctx context.Context, c *Caller, in *wire.ImportKeyMaterialRequest) (*wire.ImportKeyMaterialResponse, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	model, validTo, err := importExpiry(in, now)
	if err != nil {
		return nil, err
	}
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opImportKeyMaterial, nil)
	if err != nil {
		return nil, err
	}
	if ck.meta.Origin != originExternal {
		return nil, errNotExternal(ck.arn, ck.meta.Origin)
	}
	if err := importable(&ck.meta, ck.arn); err != nil {
		return nil, err
	}
	symmetric := ck.meta.KeySpec == specSymmetric
	importType, wantID := wire.Value(in.ImportType), wire.Value(in.KeyMaterialId)
	// KeyMaterialDescription and KeyMaterialId are "only usable with
	// symmetric encryption keys" and a KeyMaterialId cannot go with
	// NEW_KEY_MATERIAL (the model); the messages are inferred.
	if !symmetric && (in.KeyMaterialDescription != nil || in.KeyMaterialId != nil) {
		return nil, validationError("KeyMaterialDescription and KeyMaterialId can only be used with symmetric encryption keys.")
	}
	if importType == importNew && in.KeyMaterialId != nil {
		return nil, validationError("You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.")
	}
	tok, err := s.openImportToken(ck.arn, in.ImportToken)
	if err != nil {
		return nil, err
	}
	defer clear(tok.key)
	if !now.Before(tok.validTo) {
		// The message is inferred from the model's
		// ExpiredImportTokenException.
		return nil, wire.Errorf("ExpiredImportTokenException", "The import token expired at %s. Use GetParametersForImport to get a new import token and public key.",
			tok.validTo.Format(time.RFC3339))
	}
	raw, err := unwrapMaterial(tok, in.EncryptedKeyMaterial)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	id, err := checkImportedMaterial(ck.meta.KeySpec, ck.meta.KeyID, raw)
	if err != nil {
		return nil, err
	}
	if wantID != "" && wantID != id {
		return nil, errIncorrectMaterial("The key material does not match key material %s.", wantID)
	}
	if err := s.checkReplicaMaterial(ctx, &ck.meta, ck.arn, id); err != nil {
		return nil, err
	}
	sealed, err := s.root.Seal(raw, keystore.MaterialAAD(ck.arn, id))
	if err != nil {
		return nil, fmt.Errorf("seal material for %s: %w", ck.arn, err)
	}
	_, err = s.update(ctx, ck, func(k *store.Key) error {
		if err := importable(k, ck.arn); err != nil {
			return err
		}
		i := slices.IndexFunc(k.Materials, func(m store.Material) bool { return m.ID == id })
		typ := importType
		if typ == "" {
			// "If no key material has ever been imported into the KMS
			// key, and this parameter is omitted, the parameter defaults
			// to NEW_KEY_MATERIAL. After the first key material is
			// imported, if this parameter is omitted then the parameter
			// defaults to EXISTING_KEY_MATERIAL" (the model).
			typ = importExisting
			if len(k.Materials) == 0 {
				typ = importNew
			}
		}
		switch {
		case typ == importNew && i >= 0:
			return errIncorrectMaterial("The key material is already associated with %s. Use ImportType EXISTING_KEY_MATERIAL to import it again.", ck.arn)
		case typ == importNew && len(k.Materials) == 0:
			k.Materials = []store.Material{{ID: id, CreatedAt: now}}
			k.CurrentMaterialID = id
			i = 0
		case typ == importNew && !symmetric:
			// "For asymmetric and HMAC keys, you cannot change the key
			// material after the initial import" (the model).
			return errIncorrectMaterial("The key material is not the key material that was previously imported into %s.", ck.arn)
		case typ == importNew:
			if slices.ContainsFunc(k.Materials, func(m store.Material) bool { return m.PendingRotation }) {
				// One material waits for RotateKeyOnDemand at a time
				// (inferred; the model names one PENDING_ROTATION
				// material per rotation).
				return wire.Errorf("KMSInvalidStateException",
					"%s already has key material in PENDING_ROTATION state. Rotate the key or delete that key material first.", ck.arn)
			}
			k.Materials = append(k.Materials, store.Material{ID: id, CreatedAt: now, PendingRotation: true})
			i = len(k.Materials) - 1
		case i < 0:
			return errIncorrectMaterial("The key material is not the key material that was previously imported into %s.", ck.arn)
		}
		m := &k.Materials[i]
		m.Sealed, m.ExpirationModel, m.ValidTo = sealed, model, validTo
		if in.KeyMaterialDescription != nil {
			// "If you do not specify a key material description, KMS
			// retains the value you specified when you last imported the
			// same key material" (the model).
			m.Description = *in.KeyMaterialDescription
		}
		settleImported(k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("imported key material", "key_arn", ck.arn, "material_id", id, "expiration_model", model)
	out := &wire.ImportKeyMaterialResponse{KeyId: wire.Ptr(ck.arn)}
	if symmetric {
		out.KeyMaterialId = wire.Ptr(id)
	}
	return out, nil
}

// importable checks the state of a key for ImportKeyMaterial: "its KeyState
// must be PendingImport or Enabled" (the model). A Disabled key is
// DisabledException (inferred from that rule and the other operations).
func importable(k *store.Key, arn string) error {
	switch k.KeyState {
	case stateEnabled, statePendingImport:
		return nil
	case stateDisabled:
		return errDisabled(arn)
	}
	return invalidState(arn, k.KeyState)
}

// settleImported recomputes what follows from an EXTERNAL key's materials:
// its state and MaterialExpiry. The key is Enabled when every material
// permanently associated with it (not PENDING_ROTATION) holds material ("For
// symmetric encryption keys, you will need to import all of the key
// materials associated with the KMS key to change its state to Enabled",
// the model) and PendingImport otherwise; a key pending deletion keeps its
// state ("When the specified KMS key is in the PendingDeletion state, this
// operation does not change the KMS key's state", the model's
// DeleteImportedKeyMaterial). A Disabled key with all its material stays
// Disabled.
func settleImported(k *store.Key) {
	k.MaterialExpiry = time.Time{}
	complete := len(k.Materials) > 0
	for _, m := range k.Materials {
		if len(m.Sealed) == 0 {
			complete = complete && m.PendingRotation
			continue
		}
		if m.ExpirationModel == expires && (k.MaterialExpiry.IsZero() || m.ValidTo.Before(k.MaterialExpiry)) {
			k.MaterialExpiry = m.ValidTo
		}
	}
	switch {
	case k.KeyState == statePendingDeletion:
	case !complete:
		k.KeyState = statePendingImport
	case k.KeyState == statePendingImport:
		k.KeyState = stateEnabled
	}
}

// importedState is the state CancelKeyDeletion leaves a key in: Disabled,
// or PendingImport for an EXTERNAL key without all its material (inferred:
// AWS's key state table says CancelKeyDeletion leaves a key Disabled, and a
// key without material cannot be Disabled).
func importedState(k *store.Key) string {
	if k.Origin != originExternal {
		return stateDisabled
	}
	c := *k
	c.KeyState = stateDisabled
	settleImported(&c)
	return c.KeyState
}

// DeleteImportedKeyMaterial deletes imported key material: the current
// material, or the one KeyMaterialId names. The key goes to PendingImport
// (unless it is pending deletion) until the same material is imported
// again. Material in PENDING_ROTATION state "is not permanently associated
// with the KMS key. You can delete this key material and import different
// key material in its place" (the model): it is removed, and the key's
// state does not change.
func (s *Service) DeleteImportedKeyMaterial(ctx context.Context, c *Caller, in *wire.DeleteImportedKeyMaterialRequest) (*wire.DeleteImportedKeyMaterialResponse, error) {
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opDeleteImportedKeyMaterial, nil)
	if err != nil {
		return nil, err
	}
	if ck.meta.Origin != originExternal {
		return nil, errNotExternal(ck.arn, ck.meta.Origin)
	}
	id := wire.Value(in.KeyMaterialId)
	var deleted string
	var wasPending bool
	saved, err := s.update(ctx, ck, func(k *store.Key) error {
		switch k.KeyState {
		case stateEnabled, stateDisabled, statePendingImport, statePendingDeletion:
		default:
			return invalidState(ck.arn, k.KeyState)
		}
		want := id
		if want == "" {
			want = k.CurrentMaterialID
		}
		i := slices.IndexFunc(k.Materials, func(m store.Material) bool { return m.ID == want })
		if id != "" && i < 0 {
			// The code and message are inferred.
			return wire.Errorf("NotFoundException", "Key material %s is not associated with %s.", id, ck.arn)
		}
		if i < 0 || len(k.Materials[i].Sealed) == 0 {
			return errPendingImport(ck.arn)
		}
		deleted, wasPending = k.Materials[i].ID, k.Materials[i].PendingRotation
		deleteMaterial(k, i)
		settleImported(k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("deleted imported key material", "key_arn", ck.arn, "material_id", deleted)
	if wasPending {
		if err := s.deletePendingOnReplicas(ctx, &saved, deleted); err != nil {
			return nil, err
		}
	}
	out := &wire.DeleteImportedKeyMaterialResponse{KeyId: wire.Ptr(ck.arn)}
	if ck.meta.KeySpec == specSymmetric {
		out.KeyMaterialId = wire.Ptr(deleted)
	}
	return out, nil
}

// deleteMaterial drops the material of k.Materials[i], keeping its id (and
// description) so that only the same material can come back; material
// pending rotation is removed altogether.
func deleteMaterial(k *store.Key, i int) {
	if k.Materials[i].PendingRotation {
		k.Materials = slices.Delete(k.Materials, i, i+1)
		return
	}
	m := &k.Materials[i]
	m.Sealed, m.ExpirationModel, m.ValidTo = nil, "", time.Time{}
}

// errNotExpired aborts the update of a key whose material no longer
// expires when the transaction reads it.
var errNotExpired = errors.New("kms: imported key material is not due to expire")

// DeleteExpiredMaterial deletes every imported key material whose ValidTo
// has passed at now ("If you set an expiration date, KMS deletes the key
// material from the KMS key on the specified date, making the KMS key
// unusable", the model) and returns how many keys it changed. The server
// calls it periodically, and a request that finds a key whose material
// has expired deletes it first (see find), so the key is unusable from
// ValidTo on whether or not the sweep has run. Each key changes in one
// store transaction that checks again that its material is due, so a
// restart or another node never deletes material imported again since.
func (s *Service) DeleteExpiredMaterial(ctx context.Context) (int, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	refs, err := s.store.KeysDueForMaterialExpiry(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, ref := range refs {
		done, err := s.expireMaterial(ctx, ref, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("expire imported material of %s/%s: %w", ref.Region, ref.KeyID, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if done {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// expireMaterial deletes the material of the key at ref whose ValidTo is
// not after now, if any is still there.
func (s *Service) expireMaterial(ctx context.Context, ref store.KeyRef, now time.Time) (bool, error) {
	var gone []string
	k, err := s.store.UpdateKey(ctx, ref, func(k *store.Key) error {
		gone = gone[:0]
		if !k.DueForMaterialExpiry(now) {
			return errNotExpired
		}
		for i := len(k.Materials) - 1; i >= 0; i-- {
			m := k.Materials[i]
			if len(m.Sealed) > 0 && m.ExpirationModel == expires && !m.ValidTo.After(now) {
				gone = append(gone, m.ID)
				deleteMaterial(k, i)
			}
		}
		settleImported(k)
		return nil
	})
	s.forgetKey(ref)
	if errors.Is(err, errNotExpired) || errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.log.Info("imported key material expired and was deleted", "key_arn", KeyARN(k.Region, k.AccountID, k.KeyID),
		"material_ids", gone, "key_state", k.KeyState)
	return true, nil
}

// loadKey returns the key at ref as loadCachedKey does, after deleting
// its imported material if that has expired: the key is unusable from its
// ValidTo on exactly, whether or not the sweep has run since. Every
// request reaches its keys through it. It returns store.ErrNotFound
// unchanged.
func (s *Service) loadKey(ctx context.Context, ref store.KeyRef) (*cachedKey, error) {
	ck, err := s.loadCachedKey(ctx, ref)
	if err != nil || ck.meta.MaterialExpiry.IsZero() {
		return ck, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	if !ck.meta.DueForMaterialExpiry(now) {
		return ck, nil
	}
	if _, err := s.expireMaterial(ctx, ref, now); err != nil {
		return nil, err
	}
	return s.loadCachedKey(ctx, ref)
}

// rotateImported is RotateKeyOnDemand for a symmetric key with imported
// material: "you must have already imported new key material and that key
// material's state should be PENDING_ROTATION" (the model). That material
// becomes current; the previous current material stays for decryption.
// The per-key limit of 25 on-demand rotations applies; imported material
// never rotates automatically, so there is no ConflictException.
//
// For a multi-Region primary, "import new key material in the primary
// Region key, import the same key material in each replica Region key, and
// invoke the on-demand rotation on the primary Region key" (the model): the
// rotation is refused while a replica lacks the material (its state is
// PENDING_MULTI_REGION_IMPORT_AND_ROTATION), and it makes the material
// current in the replicas first, then in the primary, so that a failure
// halfway leaves every key able to decrypt what the others encrypt and a
// retry finishes it. A replica cannot be rotated itself.
func (s *Service) rotateImported(ctx context.Context, ck *cachedKey) (*wire.RotateKeyOnDemandResponse, error) {
	if isReplica(&ck.meta) {
		return nil, errReplicaRotation(ck.arn)
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	pending := ""
	if i := slices.IndexFunc(ck.meta.Materials, func(m store.Material) bool { return m.PendingRotation && len(m.Sealed) > 0 }); i >= 0 && isPrimary(&ck.meta) {
		pending = ck.meta.Materials[i].ID
		if ck.meta.OnDemandRotations < maxOnDemandRotations && ck.meta.KeyState == stateEnabled {
			if err := s.rotateReplicasTo(ctx, &ck.meta, pending, now); err != nil {
				return nil, err
			}
		}
	}
	var id string
	_, err := s.update(ctx, ck, func(k *store.Key) error {
		switch k.KeyState {
		case stateEnabled:
		case stateDisabled:
			return errDisabled(ck.arn)
		default:
			return invalidState(ck.arn, k.KeyState)
		}
		if k.KeySpec != specSymmetric || k.KeyUsage != usageEncrypt {
			return errRotationUnsupported()
		}
		i := slices.IndexFunc(k.Materials, func(m store.Material) bool { return m.PendingRotation && len(m.Sealed) > 0 })
		if i < 0 {
			// The code and message are inferred.
			return wire.Errorf("KMSInvalidStateException",
				"%s has no imported key material in PENDING_ROTATION state. Import new key material with ImportType NEW_KEY_MATERIAL first.", ck.arn)
		}
		if k.OnDemandRotations >= maxOnDemandRotations {
			return wire.Errorf("LimitExceededException",
				"The on-demand rotation limit of %d rotations for %s has been reached.", maxOnDemandRotations, ck.arn)
		}
		if isPrimary(k) && k.Materials[i].ID != pending {
			// Another material than the one the replicas were checked
			// and rotated for (changed meanwhile). The message is inferred.
			return wire.Errorf("KMSInvalidStateException",
				"The key material of %s pending rotation changed during the rotation. Try again.", ck.arn)
		}
		k.OnDemandRotations++
		id = promoteMaterial(k, i, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("rotated imported key material on demand", "key_arn", ck.arn, "material_id", id)
	return &wire.RotateKeyOnDemandResponse{KeyId: wire.Ptr(ck.arn)}, nil
}

// importedEntry fills the fields ListKeyRotations shows for a symmetric
// key with imported material ("only present for symmetric encryption KMS
// keys with EXTERNAL origin", the model's RotationsListEntry).
func importedEntry(e *wire.RotationsListEntry, m *store.Material) {
	if m.Description != "" {
		e.KeyMaterialDescription = wire.Ptr(m.Description)
	}
	e.ImportState = wire.Ptr("PENDING_IMPORT")
	if len(m.Sealed) > 0 {
		e.ImportState = wire.Ptr("IMPORTED")
		e.ExpirationModel = wire.Ptr(m.ExpirationModel)
		if m.ExpirationModel == expires {
			e.ValidTo = wire.NewTimestamp(m.ValidTo)
		}
	}
	if m.PendingRotation {
		e.KeyMaterialState = wire.Ptr("PENDING_ROTATION")
	}
}

// importedMetadata fills ExpirationModel and ValidTo of an EXTERNAL key's
// KeyMetadata. They describe the material permanently associated with the
// key that is imported: ValidTo is "the earliest time at which any
// imported key material permanently associated with this KMS key expires"
// (the model). A key with no such material shows neither.
func importedMetadata(md *wire.KeyMetadata, k *store.Key) {
	var model string
	var validTo time.Time
	for _, m := range k.Materials {
		if len(m.Sealed) == 0 || m.PendingRotation {
			continue
		}
		if model == "" {
			model = doesNotExpire
		}
		if m.ExpirationModel == expires && (validTo.IsZero() || m.ValidTo.Before(validTo)) {
			model, validTo = expires, m.ValidTo
		}
	}
	if model == "" {
		return
	}
	md.ExpirationModel = wire.Ptr(model)
	if !validTo.IsZero() {
		md.ValidTo = wire.NewTimestamp(validTo)
	}
}

// checkReplicaMaterial refuses material for a multi-Region replica key that
// its primary key does not have: "AWS KMS does not copy or synchronize the
// key material from a primary key with imported key material to its
// replica keys. You must import the same key material into related primary
// and replica keys", and "You cannot directly import new key material into
// the replica Region keys" (AWS KMS Developer Guide, "Importing key
// material into multi-Region keys", and the ImportKeyMaterial API
// reference). A material's id is derived from the key id, which the set
// shares, and the material, so the same material has the same id in every
// region. A primary served by a peer deployment is not in this store and
// is not checked.
func (s *Service) checkReplicaMaterial(ctx context.Context, k *store.Key, arn, id string) error {
	if !isReplica(k) {
		return nil
	}
	p, err := s.store.GetKey(ctx, store.KeyRef{Region: k.MultiRegionPrimary, KeyID: k.KeyID})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if slices.ContainsFunc(p.Materials, func(m store.Material) bool { return m.ID == id }) {
		return nil
	}
	// The message is inferred.
	return errIncorrectMaterial("The key material is not key material of the primary key %s. Import key material into the primary key first, then the same key material into %s.",
		KeyARN(p.Region, p.AccountID, p.KeyID), arn)
}

// localReplicas returns the replica keys of the multi-Region primary p that
// this deployment serves. A replica in a peer deployment is not in this
// store: its material is not checked or changed (peers are trusted,
// docs/multi-region.md).
func (s *Service) localReplicas(ctx context.Context, p *store.Key) ([]store.Key, error) {
	if !isPrimary(p) {
		return nil, nil
	}
	var out []store.Key
	for _, r := range p.MultiRegionReplicas {
		if !s.ServesRegion(r) {
			continue
		}
		k, err := s.store.GetKey(ctx, store.KeyRef{Region: r, KeyID: p.KeyID})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// holdsMaterial reports whether k holds the imported material id.
func holdsMaterial(k *store.Key, id string) bool {
	return slices.ContainsFunc(k.Materials, func(m store.Material) bool { return m.ID == id && len(m.Sealed) > 0 })
}

// rotateReplicasTo makes the material id, pending rotation, current in
// every replica of the primary p in this deployment (RotateKeyOnDemand of
// an imported multi-Region key). It refuses when a replica lacks the
// material, and skips a replica where it is current already (a retry).
func (s *Service) rotateReplicasTo(ctx context.Context, p *store.Key, id string, now time.Time) error {
	reps, err := s.localReplicas(ctx, p)
	if err != nil {
		return err
	}
	for _, r := range reps {
		if !holdsMaterial(&r, id) {
			// The code and message are inferred: AWS documents the state
			// (PENDING_MULTI_REGION_IMPORT_AND_ROTATION), not the error.
			return wire.Errorf("KMSInvalidStateException",
				"The key material %s of %s is not imported into the replica key %s. Import the same key material into every replica key before rotating the primary key.",
				id, KeyARN(p.Region, p.AccountID, p.KeyID), KeyARN(r.Region, r.AccountID, r.KeyID))
		}
	}
	for _, r := range reps {
		ref := r.Ref()
		_, err := s.store.UpdateKey(ctx, ref, func(k *store.Key) error {
			i := slices.IndexFunc(k.Materials, func(m store.Material) bool { return m.ID == id && m.PendingRotation && len(m.Sealed) > 0 })
			if i < 0 {
				return errNothingToRotate
			}
			promoteMaterial(k, i, now)
			return nil
		})
		s.forgetKey(ref)
		if err != nil && !errors.Is(err, errNothingToRotate) {
			return fmt.Errorf("rotate replica %s: %w", KeyARN(r.Region, r.AccountID, r.KeyID), err)
		}
		if err == nil {
			s.log.Info("rotated imported key material on demand", "key_arn", KeyARN(r.Region, r.AccountID, r.KeyID), "material_id", id)
		}
	}
	return nil
}

// promoteMaterial makes k.Materials[i], imported and pending rotation, the
// current material by an on-demand rotation at now, and returns its id.
func promoteMaterial(k *store.Key, i int, now time.Time) string {
	m := k.Materials[i]
	m.PendingRotation, m.RotationType, m.CreatedAt = false, rotationOnDemand, now
	k.Materials = append(slices.Delete(k.Materials, i, i+1), m)
	k.CurrentMaterialID = m.ID
	settleImported(k)
	return m.ID
}

// errNothingToRotate aborts the update of a replica whose material is
// already current.
var errNothingToRotate = errors.New("kms: no key material pending rotation")

// deletePendingOnReplicas removes the material id, pending rotation, from
// the replicas of the primary p in this deployment: "When you delete the
// key material of a primary Region key that is in PENDING_ROTATION or
// PENDING_MULTI_REGION_IMPORT_AND_ROTATION state, you'll also be deleting
// the key materials for the replica Region keys" (the model's
// DeleteImportedKeyMaterial).
func (s *Service) deletePendingOnReplicas(ctx context.Context, p *store.Key, id string) error {
	reps, err := s.localReplicas(ctx, p)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range reps {
		ref := r.Ref()
		_, err := s.store.UpdateKey(ctx, ref, func(k *store.Key) error {
			i := slices.IndexFunc(k.Materials, func(m store.Material) bool { return m.ID == id && m.PendingRotation })
			if i < 0 {
				return errNothingToRotate
			}
			k.Materials = slices.Delete(k.Materials, i, i+1)
			settleImported(k)
			return nil
		})
		s.forgetKey(ref)
		if err != nil && !errors.Is(err, errNothingToRotate) {
			errs = append(errs, fmt.Errorf("delete key material %s of replica %s: %w", id, KeyARN(r.Region, r.AccountID, r.KeyID), err))
		}
	}
	return errors.Join(errs...)
}
