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
// its state is Enabled and its usage is the one the operation needs.
func usable(ck *cachedKey, usage, op string) error {
	switch ck.meta.KeyState {
	case stateEnabled:
	case stateDisabled:
		return errDisabled(ck.arn)
	default:
		return invalidState(ck.arn, ck.meta.KeyState)
	}
	if ck.meta.KeyUsage != usage {
		return wire.Errorf("InvalidKeyUsageException", "%s key usage is %s which is not valid for %s.", ck.arn, ck.meta.KeyUsage, op)
	}
	return nil
}

// symmetricAlgorithm checks an EncryptionAlgorithm member for a symmetric
// key: only SYMMETRIC_DEFAULT (or nothing) is valid.
func symmetricAlgorithm(ck *cachedKey, alg *string) error {
	if alg != nil && *alg != algSymmetric {
		return wire.Errorf("InvalidKeyUsageException", "Algorithm %s is incompatible with key spec %s.", *alg, ck.meta.KeySpec)
	}
	return nil
}

func errDryRun() error {
	return wire.Errorf("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
}

// encryptKey resolves a key for Encrypt, GenerateDataKey and the
// destination of ReEncrypt.
func (s *Service) encryptKey(ctx context.Context, c *Caller, op, id string, alg *string) (*cachedKey, error) {
	ck, err := s.resolve(ctx, c, id, true)
	if err != nil {
		return nil, err
	}
	if err := usable(ck, usageEncrypt, op); err != nil {
		return nil, err
	}
	if ck.meta.KeySpec != specSymmetric {
		return nil, wire.Errorf("UnsupportedOperationException", "KeySpec %s is not supported by this server yet.", ck.meta.KeySpec)
	}
	if err := symmetricAlgorithm(ck, alg); err != nil {
		return nil, err
	}
	return ck, nil
}

// Encrypt encrypts up to 4096 bytes under a symmetric encryption key,
// binding the encryption context as authenticated data.
func (s *Service) Encrypt(ctx context.Context, c *Caller, in *wire.EncryptRequest) (*wire.EncryptResponse, error) {
	ck, err := s.encryptKey(ctx, c, "Encrypt", wire.Value(in.KeyId), in.EncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	blob, err := ck.current.Seal(s.rand, ck.meta.KeyID, ck.meta.CurrentMaterialID, in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	alg := algSymmetric
	return &wire.EncryptResponse{CiphertextBlob: blob, KeyId: &ck.arn, EncryptionAlgorithm: &alg}, nil
}

func errInvalidCiphertext(cause error) error {
	return &wire.Error{Code: "InvalidCiphertextException", Err: cause}
}

// decryptKey parses a ciphertext blob and finds the key that can open it.
// A KeyId, when given, must name that key. Every way the blob can be wrong
// gives InvalidCiphertextException; the detail is kept as the cause.
func (s *Service) decryptKey(ctx context.Context, c *Caller, op string, blob []byte, keyID *string, alg *string) (*cachedKey, *keystore.Ciphertext, error) {
	if blob == nil {
		return nil, nil, validationError("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	var want *cachedKey
	if keyID != nil {
		var err error
		if want, err = s.resolve(ctx, c, *keyID, true); err != nil {
			return nil, nil, err
		}
	}
	ct, err := keystore.ParseCiphertext(blob)
	if err != nil {
		return nil, nil, errInvalidCiphertext(err)
	}
	if want != nil && want.meta.KeyID != ct.KeyID {
		return nil, nil, wire.Errorf("IncorrectKeyException",
			"The key ID in the request does not identify a CMK that can perform this operation.")
	}
	ck := want
	if ck == nil {
		ck, err = s.loadKey(ctx, store.KeyRef{Region: c.Region, KeyID: ct.KeyID})
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, errInvalidCiphertext(err)
		}
		if err != nil {
			return nil, nil, err
		}
		if ck.meta.AccountID != c.AccountID {
			return nil, nil, errAccessDenied(c, ck.arn)
		}
	}
	if err := usable(ck, usageEncrypt, op); err != nil {
		return nil, nil, err
	}
	if ck.meta.KeySpec != specSymmetric {
		return nil, nil, wire.Errorf("IncorrectKeyException",
			"The key ID in the request does not identify a CMK that can perform this operation.")
	}
	if err := symmetricAlgorithm(ck, alg); err != nil {
		return nil, nil, err
	}
	return ck, ct, nil
}

// open decrypts a parsed blob with the key material it names.
func open(ck *cachedKey, ct *keystore.Ciphertext, encCtx map[string]string) ([]byte, error) {
	m := ck.materials[ct.MaterialID]
	if m == nil {
		return nil, errInvalidCiphertext(errors.New("unknown key material"))
	}
	pt, err := m.Open(ct, encCtx)
	if err != nil {
		return nil, errInvalidCiphertext(err)
	}
	return pt, nil
}

// Decrypt decrypts a ciphertext blob produced by Encrypt, GenerateDataKey
// or ReEncrypt. The blob names its key, so KeyId is optional.
func (s *Service) Decrypt(ctx context.Context, c *Caller, in *wire.DecryptRequest) (*wire.DecryptResponse, error) {
	if in.Recipient != nil {
		return nil, wire.Errorf("UnsupportedOperationException", "Recipient is not supported by this server.")
	}
	ck, ct, err := s.decryptKey(ctx, c, "Decrypt", in.CiphertextBlob, in.KeyId, in.EncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	pt, err := open(ck, ct, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	alg := algSymmetric
	return &wire.DecryptResponse{KeyId: &ck.arn, Plaintext: pt, EncryptionAlgorithm: &alg, KeyMaterialId: &ct.MaterialID}, nil
}

// ReEncrypt decrypts a blob and encrypts the plaintext under another key
// (or the same one) without exposing it to the caller.
func (s *Service) ReEncrypt(ctx context.Context, c *Caller, in *wire.ReEncryptRequest) (*wire.ReEncryptResponse, error) {
	src, ct, err := s.decryptKey(ctx, c, "ReEncrypt", in.CiphertextBlob, in.SourceKeyId, in.SourceEncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	dst, err := s.encryptKey(ctx, c, "ReEncrypt", wire.Value(in.DestinationKeyId), in.DestinationEncryptionAlgorithm)
	if err != nil {
		return nil, err
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	pt, err := open(src, ct, in.SourceEncryptionContext)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	blob, err := dst.current.Seal(s.rand, dst.meta.KeyID, dst.meta.CurrentMaterialID, pt, in.DestinationEncryptionContext)
	if err != nil {
		return nil, err
	}
	alg := algSymmetric
	return &wire.ReEncryptResponse{
		CiphertextBlob:                 blob,
		SourceKeyId:                    &src.arn,
		KeyId:                          &dst.arn,
		SourceEncryptionAlgorithm:      &alg,
		DestinationEncryptionAlgorithm: &alg,
		SourceKeyMaterialId:            &ct.MaterialID,
		DestinationKeyMaterialId:       &dst.meta.CurrentMaterialID,
	}, nil
}
