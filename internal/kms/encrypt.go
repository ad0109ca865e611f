package kms

import (
	"context"
	"errors"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

const algSymmetric = "SYMMETRIC_DEFAULT"

// usable checks that a key may be used for a cryptographic operation now:
// its usage is the one the operation needs and its state is Enabled. AWS
// checks the usage first: a Disabled or PendingDeletion HMAC key given to
// Sign is InvalidKeyUsageException (measured in us-east-1, floci-io/floci
// pull request #3968, keyUsageIsCheckedBeforeTheKeyState).
func usable(ck *cachedKey, usage, op string) error {
	if ck.meta.KeyUsage != usage {
		return wire.Errorf("InvalidKeyUsageException", "%s key usage is %s which is not valid for %s.", ck.arn, ck.meta.KeyUsage, op)
	}
	switch ck.meta.KeyState {
	case stateEnabled:
	case stateDisabled:
		return errDisabled(ck.arn)
	default:
		return invalidState(ck.arn, ck.meta.KeyState)
	}
	return nil
}

// checkAlgorithm checks an EncryptionAlgorithm member against the key:
// symmetric keys take only SYMMETRIC_DEFAULT (the default), asymmetric keys
// need one of their own algorithms, which package keyspec checks.
func checkAlgorithm(ck *cachedKey, alg *string) error {
	a := wire.Value(alg)
	if a == "" {
		a = algSymmetric
	}
	if (ck.meta.KeySpec == specSymmetric) != (a == algSymmetric) {
		return wire.Errorf("InvalidKeyUsageException", "Algorithm %s is incompatible with key spec %s.", a, ck.meta.KeySpec)
	}
	return nil
}

// checkContext refuses an encryption context for an asymmetric key: RSAES-OAEP
// and SM2PKE have no additional authenticated data, so accepting the context
// and dropping it would let a caller believe it is bound when it is not. The
// model says "The standard asymmetric encryption algorithms and HMAC
// algorithms that KMS uses do not support an encryption context"
// (EncryptRequest.EncryptionContext) and the developer guide "You cannot
// specify an encryption context in a cryptographic operation with an
// asymmetric KMS key" (docs.aws.amazon.com/kms/latest/developerguide/
// encrypt_context.html). The error shape and text are inferred: they are
// those of floci-io/floci, src/main/java/io/github/hectorvent/floci/services/
// kms/KmsService.java (rejectEncryptionContextForAsymmetricKey), not a
// recorded AWS response.
func checkContext(ck *cachedKey, encCtx map[string]string) error {
	if ck.meta.KeySpec != specSymmetric && len(encCtx) > 0 {
		return validationError("EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs.")
	}
	return nil
}

func errDryRun() error {
	return wire.Errorf("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
}

// encryptKey resolves a key for Encrypt, GenerateDataKey and the
// destination of ReEncrypt, authorizes o on it with the request's
// condition keys, and checks its state, usage and algorithm.
func (s *Service) encryptKey(ctx context.Context, c *Caller, o keyOp, op, id string, alg *string, req *condReq) (*cachedKey, error) {
	ck, err := s.resolve(ctx, c, id, o, req)
	if err != nil {
		return nil, err
	}
	if err := usable(ck, usageEncrypt, op); err != nil {
		return nil, err
	}
	if (op == "GenerateDataKey" || op == "GenerateDataKeyWithoutPlaintext") && ck.meta.KeySpec != specSymmetric {
		// AWS's text, measured in us-east-1 (floci-io/floci pull request
		// #3968, generateDataKeyRejectsAnAsymmetricKey).
		return nil, wire.Errorf("InvalidKeyUsageException", "You cannot generate a data key with an asymmetric CMK")
	}
	if err := checkAlgorithm(ck, alg); err != nil {
		return nil, err
	}
	return ck, nil
}

// seal encrypts pt under ck: a self-describing blob bound to encCtx for a
// symmetric key, the raw RSAES-OAEP or SM2PKE output for an asymmetric one.
func (s *Service) seal(ctx context.Context, c *Caller, op string, ck *cachedKey, alg *string, pt []byte, encCtx map[string]string) ([]byte, string, error) {
	if ck.meta.KeySpec == specSymmetric {
		blob, _, err := s.sealBlob(ctx, c, op, ck, pt, encCtx)
		return blob, algSymmetric, err
	}
	blob, err := ck.engine.Encrypt(s.rand, *alg, pt)
	return blob, *alg, cryptoErr(err)
}

// Encrypt encrypts up to 4096 bytes under a symmetric encryption key,
// binding the encryption context as authenticated data, or under an
// asymmetric ENCRYPT_DECRYPT key with the algorithm given.
func (s *Service) Encrypt(ctx context.Context, c *Caller, in *wire.EncryptRequest) (*wire.EncryptResponse, error) {
	toks, err := s.parseGrantTokens(in.GrantTokens)
	if err != nil {
		return nil, err
	}
	req := condReq{encCtx: in.EncryptionContext, encAlg: algOrDefault(in.EncryptionAlgorithm), grant: withTokens(toks)}
	ck, err := s.encryptKey(ctx, c, opEncrypt, "Encrypt", wire.Value(in.KeyId), in.EncryptionAlgorithm, &req)
	if err != nil {
		return nil, err
	}
	if err := checkContext(ck, in.EncryptionContext); err != nil {
		return nil, err
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	blob, alg, err := s.seal(ctx, c, "Encrypt", ck, in.EncryptionAlgorithm, in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	s.used(ck, "Encrypt", c)
	return &wire.EncryptResponse{CiphertextBlob: blob, KeyId: &ck.arn, EncryptionAlgorithm: &alg}, nil
}

// algOrDefault is the value of kms:EncryptionAlgorithm: the algorithm in
// the request, SYMMETRIC_DEFAULT when it is omitted ("You can also use the
// kms:EncryptionAlgorithm condition key to control access to operations
// based on the encryption algorithm used in the operation, even when the
// algorithm isn't specified in the request", conditions-kms.md).
func algOrDefault(alg *string) string {
	if a := wire.Value(alg); a != "" {
		return a
	}
	return algSymmetric
}

func errInvalidCiphertext(cause error) error {
	return &wire.Error{Code: "InvalidCiphertextException", Err: cause}
}

func errIncorrectKey() error {
	return wire.Errorf("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
}

// opened is the result of decrypting a ciphertext.
type opened struct {
	key        *cachedKey
	plaintext  []byte
	alg        string
	materialID *string // symmetric keys only
}

// open decrypts a ciphertext for Decrypt and the source of ReEncrypt. A
// symmetric blob names its key, so keyID is optional for it; it is
// required for asymmetric ciphertext, which is the raw algorithm output.
// Every way a symmetric blob can be wrong gives InvalidCiphertextException
// without detail; the detail is kept as the cause for the logs. gate runs
// once the source key has been checked and before anything is decrypted;
// its error (the DryRun answer, or ReEncrypt's destination checks) is
// returned as is.
//
// The key is authorized for o with req: the key KeyId names, or, without
// a KeyId, the key named in the ciphertext (its AccessDenied message then
// speaks of "the resource associated with this ciphertext").
func (s *Service) open(ctx context.Context, c *Caller, o keyOp, op string, blob []byte, keyID, alg *string, encCtx map[string]string, gate func() error, req *condReq) (*opened, error) {
	if blob == nil {
		return nil, validationError("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	var want *cachedKey
	if keyID != nil {
		var err error
		if want, err = s.resolve(ctx, c, *keyID, o, req); err != nil {
			return nil, err
		}
		// Without an asymmetric algorithm AWS parses the blob as symmetric
		// ciphertext even when KeyId names an asymmetric key, so raw RSA
		// ciphertext is InvalidCiphertextException and another key's blob is
		// IncorrectKeyException (measured in us-east-1, floci-io/floci pull
		// request #3968: rsaDecryptWithDefaultAlgorithmReturnsInvalidCiphertext,
		// decryptRejectsAKeyIdThatDidNotEncryptTheCiphertext).
		if a := wire.Value(alg); want.meta.KeySpec != specSymmetric && a != "" && a != algSymmetric {
			return s.openAsymmetric(want, op, blob, alg, encCtx, gate)
		}
	}
	ct, err := keystore.ParseCiphertext(blob)
	if err != nil {
		return nil, errInvalidCiphertext(err)
	}
	if want != nil && want.meta.KeyID != ct.KeyID {
		return nil, errIncorrectKey()
	}
	ck := want
	if ck == nil {
		ck, err = s.loadKey(ctx, store.KeyRef{Region: c.Region, KeyID: ct.KeyID})
		if errors.Is(err, store.ErrNotFound) {
			return nil, errInvalidCiphertext(err)
		}
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ctx, c, o.action, ck.arn, ck, req, msgCiphertext); err != nil {
			return nil, err
		}
	}
	if err := usable(ck, usageEncrypt, op); err != nil {
		return nil, err
	}
	if err := checkAlgorithm(ck, alg); err != nil {
		return nil, err
	}
	if err := gate(); err != nil {
		return nil, err
	}
	pt, err := s.openBlob(ctx, c, op, ck, ct, encCtx)
	if errors.Is(err, ErrUnknownMaterial) {
		// Another node may have rotated the key since this snapshot
		// was cached: look once more, in the store.
		fresh, rerr := s.reloadForMaterial(ctx, ck)
		if rerr != nil {
			return nil, rerr
		}
		if fresh != nil {
			if err := usable(fresh, usageEncrypt, op); err != nil {
				return nil, err
			}
			ck = fresh
			pt, err = s.openBlob(ctx, c, op, ck, ct, encCtx)
		}
	}
	if err != nil {
		if e := storeUnavailable(err); e != nil {
			return nil, e
		}
		return nil, errInvalidCiphertext(err)
	}
	return &opened{key: ck, plaintext: pt, alg: algSymmetric, materialID: &ct.MaterialID}, nil
}

// openAsymmetric decrypts raw RSAES-OAEP or SM2PKE ciphertext.
func (s *Service) openAsymmetric(ck *cachedKey, op string, blob []byte, alg *string, encCtx map[string]string, gate func() error) (*opened, error) {
	if err := usable(ck, usageEncrypt, op); err != nil {
		return nil, err
	}
	if _, err := keystore.ParseCiphertext(blob); err == nil {
		return nil, errIncorrectKey() // a symmetric blob sent with an asymmetric KeyId
	}
	if err := checkAlgorithm(ck, alg); err != nil {
		return nil, err
	}
	if err := checkContext(ck, encCtx); err != nil {
		return nil, err
	}
	if err := gate(); err != nil {
		return nil, err
	}
	pt, err := ck.engine.Decrypt(*alg, blob)
	if err != nil {
		return nil, cryptoErr(err)
	}
	return &opened{key: ck, plaintext: pt, alg: *alg}, nil
}

// Decrypt decrypts a ciphertext produced by Encrypt, GenerateDataKey or
// ReEncrypt, or by anyone with an asymmetric key's public key.
func (s *Service) Decrypt(ctx context.Context, c *Caller, in *wire.DecryptRequest) (*wire.DecryptResponse, error) {
	if in.Recipient != nil {
		return nil, wire.Errorf("UnsupportedOperationException", "Recipient is not supported by this server.")
	}
	toks, err := s.parseGrantTokens(in.GrantTokens)
	if err != nil {
		return nil, err
	}
	req := condReq{encCtx: in.EncryptionContext, encAlg: algOrDefault(in.EncryptionAlgorithm), grant: withTokens(toks)}
	o, err := s.open(ctx, c, opDecrypt, "Decrypt", in.CiphertextBlob, in.KeyId, in.EncryptionAlgorithm, in.EncryptionContext, dryRunGate(in.DryRun), &req)
	if err != nil {
		return nil, err
	}
	s.used(o.key, "Decrypt", c)
	return &wire.DecryptResponse{KeyId: &o.key.arn, Plaintext: o.plaintext, EncryptionAlgorithm: &o.alg, KeyMaterialId: o.materialID}, nil
}

// dryRunGate is the gate of [Service.open] for Decrypt.
func dryRunGate(dryRun *bool) func() error {
	return func() error {
		if wire.Value(dryRun) {
			return errDryRun()
		}
		return nil
	}
}

// ReEncrypt decrypts a ciphertext and encrypts the plaintext under another
// key (or the same one) without exposing it to the caller.
//
// The source is checked before the destination, as AWS does: with an HMAC
// key as both SourceKeyId and DestinationKeyId and a symmetric ciphertext,
// AWS answers IncorrectKeyException for the source, while an unusable
// destination alone (a SIGN_VERIFY key) is InvalidKeyUsageException
// (localstack/localstack, tests/aws/services/kms/test_kms.py, AWS-validated
// test_re_encrypt_incorrect_source_key and
// test_re_encrypt_invalid_destination_key; pull request #12637).
//
// It needs kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the
// destination key (ReEncrypt's "Required permissions" in the model). The
// source check sees the source encryption context and algorithm, the
// destination check the destination ones (inferred: which context
// kms:EncryptionContext exposes for each half is not documented);
// kms:ReEncryptOnSameKey is set for both.
func (s *Service) ReEncrypt(ctx context.Context, c *Caller, in *wire.ReEncryptRequest) (*wire.ReEncryptResponse, error) {
	var dst *cachedKey
	same := s.reEncryptOnSameKey(ctx, c, in)
	toks, err := s.parseGrantTokens(in.GrantTokens)
	if err != nil {
		return nil, err
	}
	srcReq := condReq{encCtx: in.SourceEncryptionContext, encAlg: algOrDefault(in.SourceEncryptionAlgorithm), sameKey: &same, grant: withTokens(toks)}
	checkDestination := func() error {
		var err error
		dstReq := condReq{encCtx: in.DestinationEncryptionContext, encAlg: algOrDefault(in.DestinationEncryptionAlgorithm), sameKey: &same, grant: withTokens(toks)}
		dst, err = s.encryptKey(ctx, c, opReEncryptTo, "ReEncrypt", wire.Value(in.DestinationKeyId), in.DestinationEncryptionAlgorithm, &dstReq)
		if err != nil {
			return err
		}
		if err := checkContext(dst, in.DestinationEncryptionContext); err != nil {
			return err
		}
		return dryRunGate(in.DryRun)()
	}
	o, err := s.open(ctx, c, opReEncryptFrom, "ReEncrypt", in.CiphertextBlob, in.SourceKeyId, in.SourceEncryptionAlgorithm, in.SourceEncryptionContext,
		checkDestination, &srcReq)
	if err != nil {
		return nil, err
	}
	defer clear(o.plaintext)
	blob, dstAlg, err := s.seal(ctx, c, "ReEncrypt", dst, in.DestinationEncryptionAlgorithm, o.plaintext, in.DestinationEncryptionContext)
	if err != nil {
		return nil, err
	}
	// GetKeyLastUsage: "Usage information is recorded for both keys
	// independently" (the model's documentation of the operation).
	s.used(o.key, "ReEncrypt", c)
	s.used(dst, "ReEncrypt", c)
	out := &wire.ReEncryptResponse{
		CiphertextBlob:                 blob,
		SourceKeyId:                    &o.key.arn,
		KeyId:                          &dst.arn,
		SourceEncryptionAlgorithm:      &o.alg,
		DestinationEncryptionAlgorithm: &dstAlg,
		SourceKeyMaterialId:            o.materialID,
	}
	if dst.meta.KeySpec == specSymmetric {
		out.DestinationKeyMaterialId = &dst.meta.CurrentMaterialID
	}
	return out, nil
}

// reEncryptOnSameKey is kms:ReEncryptOnSameKey: "whether the request
// specifies a destination KMS key that is the same one used for the
// original encryption" (conditions-kms.md). The source key is SourceKeyId
// or, without it, the key a symmetric ciphertext names. Lookup failures
// leave it false; they are reported by the checks that follow.
func (s *Service) reEncryptOnSameKey(ctx context.Context, c *Caller, in *wire.ReEncryptRequest) bool {
	dst, _, err := s.find(ctx, c, wire.Value(in.DestinationKeyId), true)
	if err != nil {
		return false
	}
	if in.SourceKeyId != nil {
		src, _, err := s.find(ctx, c, *in.SourceKeyId, true)
		return err == nil && src.meta.Ref() == dst.meta.Ref()
	}
	ct, err := keystore.ParseCiphertext(in.CiphertextBlob)
	return err == nil && ct.KeyID == dst.meta.KeyID && dst.meta.Region == c.Region
}
