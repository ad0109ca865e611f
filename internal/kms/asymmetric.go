package kms

import (
	"context"
	"errors"

	"github.com/trent-kms/trent/internal/keyspec"
	"github.com/trent-kms/trent/internal/wire"
)

// cryptoErr converts an error from package keyspec into the wire error AWS
// sends; other errors pass through as internal failures.
func cryptoErr(err error) error {
	var ke *keyspec.Error
	if errors.As(err, &ke) {
		return &wire.Error{Code: ke.Code, Message: ke.Message, Err: err}
	}
	return err
}

// useKey resolves a key for a cryptographic operation (alias forms
// allowed), authorizes o on it with req, and checks its state and usage.
func (s *Service) useKey(ctx context.Context, c *Caller, o keyOp, id *string, usage, op string, req *condReq) (*cachedKey, error) {
	ck, err := s.resolve(ctx, c, wire.Value(id), o, req)
	if err != nil {
		return nil, err
	}
	if err := usable(ck, usage, op); err != nil {
		return nil, err
	}
	if !ck.hasMaterial {
		return nil, wire.Errorf("KMSInvalidStateException", "%s has no key material.", ck.arn)
	}
	return ck, nil
}

// Sign signs a message or digest with an asymmetric SIGN_VERIFY key.
func (s *Service) Sign(ctx context.Context, c *Caller, in *wire.SignRequest) (*wire.SignResponse, error) {
	toks, err := s.parseGrantTokens(in.GrantTokens)
	if err != nil {
		return nil, err
	}
	req := condReq{signAlg: wire.Value(in.SigningAlgorithm), msgType: messageType(in.MessageType), grant: withTokens(toks)}
	ck, err := s.useKey(ctx, c, opSign, in.KeyId, keyspec.UsageSignVerify, "Sign", &req)
	if err != nil {
		return nil, err
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	sig, err := ck.engine.Sign(s.rand, wire.Value(in.SigningAlgorithm), wire.Value(in.MessageType), in.Message)
	if err != nil {
		return nil, cryptoErr(err)
	}
	s.used(ck, "Sign", c)
	return &wire.SignResponse{KeyId: &ck.arn, Signature: sig, SigningAlgorithm: in.SigningAlgorithm}, nil
}

// Verify checks a signature; a signature that does not verify is the error
// KMSInvalidSignatureException, never SignatureValid false.
func (s *Service) Verify(ctx context.Context, c *Caller, in *wire.VerifyRequest) (*wire.VerifyResponse, error) {
	toks, err := s.parseGrantTokens(in.GrantTokens)
	if err != nil {
		return nil, err
	}
	req := condReq{signAlg: wire.Value(in.SigningAlgorithm), msgType: messageType(in.MessageType), grant: withTokens(toks)}
	ck, err := s.useKey(ctx, c, opVerify, in.KeyId, keyspec.UsageSignVerify, "Verify", &req)
	if err != nil {
		return nil, err
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	if err := ck.engine.Verify(wire.Value(in.SigningAlgorithm), wire.Value(in.MessageType), in.Message, in.Signature); err != nil {
		return nil, cryptoErr(err)
	}
	s.used(ck, "Verify", c)
	return &wire.VerifyResponse{KeyId: &ck.arn, SignatureValid: wire.Ptr(true), SigningAlgorithm: in.SigningAlgorithm}, nil
}

// GetPublicKey returns the public key of an asymmetric key as DER
// SubjectPublicKeyInfo, with what the key may be used for. As in AWS
// (measured in us-east-1, floci-io/floci pull request #3968), a Disabled key
// still answers, the key state is checked before the key spec, and a
// symmetric or HMAC key is UnsupportedOperationException without a message.
func (s *Service) GetPublicKey(ctx context.Context, c *Caller, in *wire.GetPublicKeyRequest) (*wire.GetPublicKeyResponse, error) {
	req, err := s.tokenReq(in.GrantTokens)
	if err != nil {
		return nil, err
	}
	ck, err := s.resolve(ctx, c, wire.Value(in.KeyId), opGetPublicKey, req)
	if err != nil {
		return nil, err
	}
	switch ck.meta.KeyState {
	case stateEnabled, stateDisabled:
	default:
		return nil, invalidState(ck.arn, ck.meta.KeyState)
	}
	if ck.meta.KeySpec == specSymmetric || keyType(&ck.meta) == "hmac" {
		return nil, &wire.Error{Code: "UnsupportedOperationException"}
	}
	if !ck.hasMaterial {
		return nil, wire.Errorf("KMSInvalidStateException", "%s has no key material.", ck.arn)
	}
	pub, err := ck.engine.PublicKey()
	if err != nil {
		return nil, err
	}
	out := &wire.GetPublicKeyResponse{
		KeyId: &ck.arn, PublicKey: pub, CustomerMasterKeySpec: &ck.meta.KeySpec,
		KeySpec: &ck.meta.KeySpec, KeyUsage: &ck.meta.KeyUsage,
	}
	var mac []string
	setAlgorithms(ck.meta.KeySpec, ck.meta.KeyUsage, &out.EncryptionAlgorithms, &out.SigningAlgorithms, &mac,
		&out.KeyAgreementAlgorithms, &out.EncapsulationAlgorithms)
	return out, nil
}

// GenerateMac computes an HMAC with a GENERATE_VERIFY_MAC key.
func (s *Service) GenerateMac(ctx context.Context, c *Caller, in *wire.GenerateMacRequest) (*wire.GenerateMacResponse, error) {
	toks, err := s.parseGrantTokens(in.GrantTokens)
	if err != nil {
		return nil, err
	}
	req := condReq{macAlg: wire.Value(in.MacAlgorithm), grant: withTokens(toks)}
	ck, err := s.useKey(ctx, c, opGenerateMac, in.KeyId, keyspec.UsageGenerateVerifyMAC, "GenerateMac", &req)
	if err != nil {
		return nil, err
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	mac, err := ck.engine.MAC(wire.Value(in.MacAlgorithm), in.Message)
	if err != nil {
		return nil, cryptoErr(err)
	}
	s.used(ck, "GenerateMac", c)
	return &wire.GenerateMacResponse{Mac: mac, MacAlgorithm: in.MacAlgorithm, KeyId: &ck.arn}, nil
}

// VerifyMac checks an HMAC; a mismatch is KMSInvalidMacException.
func (s *Service) VerifyMac(ctx context.Context, c *Caller, in *wire.VerifyMacRequest) (*wire.VerifyMacResponse, error) {
	toks, err := s.parseGrantTokens(in.GrantTokens)
	if err != nil {
		return nil, err
	}
	req := condReq{macAlg: wire.Value(in.MacAlgorithm), grant: withTokens(toks)}
	ck, err := s.useKey(ctx, c, opVerifyMac, in.KeyId, keyspec.UsageGenerateVerifyMAC, "VerifyMac", &req)
	if err != nil {
		return nil, err
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	if err := ck.engine.VerifyMAC(wire.Value(in.MacAlgorithm), in.Message, in.Mac); err != nil {
		return nil, cryptoErr(err)
	}
	s.used(ck, "VerifyMac", c)
	return &wire.VerifyMacResponse{KeyId: &ck.arn, MacValid: wire.Ptr(true), MacAlgorithm: in.MacAlgorithm}, nil
}

// DeriveSharedSecret runs ECDH between a KEY_AGREEMENT key and a peer's
// public key.
func (s *Service) DeriveSharedSecret(ctx context.Context, c *Caller, in *wire.DeriveSharedSecretRequest) (*wire.DeriveSharedSecretResponse, error) {
	if in.Recipient != nil {
		return nil, wire.Errorf("UnsupportedOperationException", "Recipient is not supported by this server.")
	}
	toks, err := s.parseGrantTokens(in.GrantTokens)
	if err != nil {
		return nil, err
	}
	req := condReq{agreeAlg: wire.Value(in.KeyAgreementAlgorithm), grant: withTokens(toks)}
	ck, err := s.useKey(ctx, c, opDeriveSharedSecret, in.KeyId, keyspec.UsageKeyAgreement, "DeriveSharedSecret", &req)
	if err != nil {
		return nil, err
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	secret, err := ck.engine.DeriveSharedSecret(wire.Value(in.KeyAgreementAlgorithm), in.PublicKey)
	if err != nil {
		return nil, cryptoErr(err)
	}
	s.used(ck, "DeriveSharedSecret", c)
	return &wire.DeriveSharedSecretResponse{KeyId: &ck.arn, SharedSecret: secret,
		KeyAgreementAlgorithm: in.KeyAgreementAlgorithm, KeyOrigin: &ck.meta.Origin}, nil
}

// Encapsulate makes an ML-KEM shared secret and its encapsulation.
func (s *Service) Encapsulate(ctx context.Context, c *Caller, in *wire.EncapsulateRequest) (*wire.EncapsulateResponse, error) {
	ck, err := s.useKey(ctx, c, opEncapsulate, in.KeyId, keyspec.UsageEncapsulateDecapsulate, "Encapsulate", nil)
	if err != nil {
		return nil, err
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	ct, secret, err := ck.engine.Encapsulate(s.rand, wire.Value(in.EncapsulationAlgorithm))
	if err != nil {
		return nil, cryptoErr(err)
	}
	s.used(ck, "Encapsulate", c)
	return &wire.EncapsulateResponse{KeyId: &ck.arn, SharedSecret: secret, SharedSecretCiphertextBlob: ct,
		EncapsulationAlgorithm: in.EncapsulationAlgorithm}, nil
}

// Decapsulate recovers an ML-KEM shared secret from its encapsulation.
func (s *Service) Decapsulate(ctx context.Context, c *Caller, in *wire.DecapsulateRequest) (*wire.DecapsulateResponse, error) {
	ck, err := s.useKey(ctx, c, opDecapsulate, in.KeyId, keyspec.UsageEncapsulateDecapsulate, "Decapsulate", nil)
	if err != nil {
		return nil, err
	}
	if wire.Value(in.DryRun) {
		return nil, errDryRun()
	}
	secret, err := ck.engine.Decapsulate(wire.Value(in.EncapsulationAlgorithm), in.SharedSecretCiphertextBlob)
	if err != nil {
		return nil, cryptoErr(err)
	}
	s.used(ck, "Decapsulate", c)
	return &wire.DecapsulateResponse{KeyId: &ck.arn, SharedSecret: secret, EncapsulationAlgorithm: in.EncapsulationAlgorithm}, nil
}

// generateDataKeyPair draws a key pair and encrypts its private key under
// a symmetric encryption key with the encryption context.
func (s *Service) generateDataKeyPair(ctx context.Context, c *Caller, o keyOp, op string, keyID, spec *string, encCtx map[string]string, grantTokens []string, dryRun *bool) (*cachedKey, []byte, []byte, []byte, error) {
	toks, err := s.parseGrantTokens(grantTokens)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	req := condReq{encCtx: encCtx, encAlg: algSymmetric, pairSpec: wire.Value(spec), grant: withTokens(toks)}
	ck, err := s.encryptKey(ctx, c, o, op, wire.Value(keyID), nil, &req)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	pairSpec := wire.Value(spec)
	if pairSpec == "SM2" && Partition(c.Region) != "aws-cn" {
		return nil, nil, nil, nil, wire.Errorf("UnsupportedOperationException", "KeyPairSpec SM2 is supported only in the China Regions.")
	}
	if wire.Value(dryRun) {
		return nil, nil, nil, nil, errDryRun()
	}
	priv, pub, err := keyspec.GenerateDataKeyPair(pairSpec, s.rand)
	if err != nil {
		return nil, nil, nil, nil, cryptoErr(err)
	}
	blob, _, err := s.sealBlob(ctx, c, op, ck, priv, encCtx)
	if err != nil {
		clear(priv)
		return nil, nil, nil, nil, err
	}
	return ck, priv, pub, blob, nil
}

// GenerateDataKeyPair returns a fresh key pair: the public key, the
// private key in plaintext and encrypted under a symmetric key.
func (s *Service) GenerateDataKeyPair(ctx context.Context, c *Caller, in *wire.GenerateDataKeyPairRequest) (*wire.GenerateDataKeyPairResponse, error) {
	if in.Recipient != nil {
		return nil, wire.Errorf("UnsupportedOperationException", "Recipient is not supported by this server.")
	}
	ck, priv, pub, blob, err := s.generateDataKeyPair(ctx, c, opGenerateDataPair, "GenerateDataKeyPair", in.KeyId, in.KeyPairSpec, in.EncryptionContext, in.GrantTokens, in.DryRun)
	if err != nil {
		return nil, err
	}
	s.used(ck, "GenerateDataKeyPair", c)
	return &wire.GenerateDataKeyPairResponse{PrivateKeyCiphertextBlob: blob, PrivateKeyPlaintext: priv, PublicKey: pub,
		KeyId: &ck.arn, KeyPairSpec: in.KeyPairSpec, KeyMaterialId: &ck.meta.CurrentMaterialID}, nil
}

// GenerateDataKeyPairWithoutPlaintext is GenerateDataKeyPair without the
// plaintext private key.
func (s *Service) GenerateDataKeyPairWithoutPlaintext(ctx context.Context, c *Caller, in *wire.GenerateDataKeyPairWithoutPlaintextRequest) (*wire.GenerateDataKeyPairWithoutPlaintextResponse, error) {
	ck, priv, pub, blob, err := s.generateDataKeyPair(ctx, c, opGenerateDataPairNP, "GenerateDataKeyPairWithoutPlaintext", in.KeyId, in.KeyPairSpec, in.EncryptionContext, in.GrantTokens, in.DryRun)
	if err != nil {
		return nil, err
	}
	clear(priv)
	s.used(ck, "GenerateDataKeyPairWithoutPlaintext", c)
	return &wire.GenerateDataKeyPairWithoutPlaintextResponse{PrivateKeyCiphertextBlob: blob, PublicKey: pub,
		KeyId: &ck.arn, KeyPairSpec: in.KeyPairSpec, KeyMaterialId: &ck.meta.CurrentMaterialID}, nil
}

// messageType is kms:MessageType: the MessageType in the request, RAW
// when omitted (its default; conditions on request parameters "work even
// when the parameter doesn't appear in the request, such as when you use
// the parameter's default value", conditions-kms.md).
func messageType(t *string) string {
	if v := wire.Value(t); v != "" {
		return v
	}
	return "RAW"
}
