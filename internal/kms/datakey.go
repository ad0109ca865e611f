package kms

import (
	"context"
	"io"

	"github.com/trent-kms/trent/internal/wire"
)

// dataKeyLength returns the data key length in bytes from exactly one of
// KeySpec (AES_128, AES_256) and NumberOfBytes (1-1024).
func dataKeyLength(spec *string, n *int32) (int, error) {
	switch {
	case spec != nil && n != nil:
		return 0, validationError("Please specify either number of bytes or key spec.")
	case spec != nil:
		if *spec == "AES_128" {
			return 16, nil
		}
		return 32, nil // AES_256; the enum was validated by the wire layer
	case n != nil:
		return int(*n), nil
	}
	return 0, validationError("Please specify either number of bytes or key spec.")
}

// generateDataKey draws a data key and encrypts it under the key.
func (s *Service) generateDataKey(ctx context.Context, c *Caller, o keyOp, op string, keyID *string, spec *string, n *int32, encCtx map[string]string, grantTokens []string, dryRun *bool) (*cachedKey, []byte, []byte, error) {
	toks, err := s.parseGrantTokens(grantTokens)
	if err != nil {
		return nil, nil, nil, err
	}
	size, err := dataKeyLength(spec, n)
	if err != nil {
		return nil, nil, nil, err
	}
	req := condReq{encCtx: encCtx, encAlg: algSymmetric, grant: withTokens(toks)}
	ck, err := s.encryptKey(ctx, c, o, op, wire.Value(keyID), nil, &req)
	if err != nil {
		return nil, nil, nil, err
	}
	if wire.Value(dryRun) {
		return nil, nil, nil, errDryRun()
	}
	pt := make([]byte, size)
	if _, err := io.ReadFull(s.rand, pt); err != nil {
		return nil, nil, nil, err
	}
	blob, _, err := s.sealBlob(ctx, c, op, ck, pt, encCtx)
	if err != nil {
		return nil, nil, nil, err
	}
	return ck, pt, blob, nil
}

// GenerateDataKey returns a fresh data key in plaintext and encrypted under
// a symmetric encryption key.
func (s *Service) GenerateDataKey(ctx context.Context, c *Caller, in *wire.GenerateDataKeyRequest) (*wire.GenerateDataKeyResponse, error) {
	if in.Recipient != nil {
		return nil, wire.Errorf("UnsupportedOperationException", "Recipient is not supported by this server.")
	}
	ck, pt, blob, err := s.generateDataKey(ctx, c, opGenerateDataKey, "GenerateDataKey", in.KeyId, in.KeySpec, in.NumberOfBytes, in.EncryptionContext, in.GrantTokens, in.DryRun)
	if err != nil {
		return nil, err
	}
	s.used(ck, "GenerateDataKey", c)
	return &wire.GenerateDataKeyResponse{CiphertextBlob: blob, Plaintext: pt, KeyId: &ck.arn, KeyMaterialId: &ck.meta.CurrentMaterialID}, nil
}

// GenerateDataKeyWithoutPlaintext returns a fresh data key encrypted under
// a symmetric encryption key, and nothing else.
func (s *Service) GenerateDataKeyWithoutPlaintext(ctx context.Context, c *Caller, in *wire.GenerateDataKeyWithoutPlaintextRequest) (*wire.GenerateDataKeyWithoutPlaintextResponse, error) {
	ck, pt, blob, err := s.generateDataKey(ctx, c, opGenerateDataKeyNP, "GenerateDataKeyWithoutPlaintext", in.KeyId, in.KeySpec, in.NumberOfBytes, in.EncryptionContext, in.GrantTokens, in.DryRun)
	if err != nil {
		return nil, err
	}
	clear(pt)
	s.used(ck, "GenerateDataKeyWithoutPlaintext", c)
	return &wire.GenerateDataKeyWithoutPlaintextResponse{CiphertextBlob: blob, KeyId: &ck.arn, KeyMaterialId: &ck.meta.CurrentMaterialID}, nil
}

// GenerateRandom returns NumberOfBytes (1-1024) random bytes.
func (s *Service) GenerateRandom(ctx context.Context, c *Caller, in *wire.GenerateRandomRequest) (*wire.GenerateRandomResponse, error) {
	if err := s.authorizeAccount(ctx, c, actGenerateRandom, nil); err != nil {
		return nil, err
	}
	if in.CustomKeyStoreId != nil {
		return nil, wire.Errorf("CustomKeyStoreNotFoundException", "Custom key store %s does not exist.", *in.CustomKeyStoreId)
	}
	if in.Recipient != nil {
		return nil, wire.Errorf("UnsupportedOperationException", "Recipient is not supported by this server.")
	}
	if in.NumberOfBytes == nil {
		return nil, validationError("NumberOfBytes is required.")
	}
	b := make([]byte, *in.NumberOfBytes)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return nil, err
	}
	return &wire.GenerateRandomResponse{Plaintext: b}, nil
}
