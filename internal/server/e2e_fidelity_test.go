package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestReEncryptKeyUsage checks which error ReEncrypt gives for keys that
// cannot encrypt. AWS checks the source before the destination: with an
// HMAC key as both SourceKeyId and DestinationKeyId and a symmetric
// ciphertext it answers IncorrectKeyException, while a valid source and a
// SIGN_VERIFY destination is InvalidKeyUsageException
// (localstack/localstack, tests/aws/services/kms/test_kms.py, AWS-validated
// test_re_encrypt_incorrect_source_key and
// test_re_encrypt_invalid_destination_key; pull request #12637).
func TestReEncryptKeyUsage(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	sym := newKey(t, c)
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("moving")})
	mustOK(t, "Encrypt", err)
	create := func(spec types.KeySpec, usage types.KeyUsageType) *types.KeyMetadata {
		out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
		mustOK(t, "CreateKey "+string(spec), err)
		return out.KeyMetadata
	}
	unusable := map[string]*types.KeyMetadata{
		"hmac":          create(types.KeySpecHmac224, types.KeyUsageTypeGenerateVerifyMac),
		"ecc-sign":      create(types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify),
		"rsa-sign":      create(types.KeySpecRsa2048, types.KeyUsageTypeSignVerify),
		"key-agreement": create(types.KeySpecEccNistP256, types.KeyUsageTypeKeyAgreement),
	}
	const incorrect = "The key ID in the request does not identify a CMK that can perform this operation."
	for name, md := range unusable {
		t.Run("source-and-destination/"+name, func(t *testing.T) {
			_, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob,
				SourceKeyId: md.KeyId, DestinationKeyId: md.KeyId,
				SourceEncryptionAlgorithm:      types.EncryptionAlgorithmSpecSymmetricDefault,
				DestinationEncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault})
			wantAPIError(t, err, "IncorrectKeyException", incorrect)
		})
		t.Run("source/"+name, func(t *testing.T) {
			_, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob,
				SourceKeyId: md.KeyId, DestinationKeyId: sym.KeyId})
			wantAPIError(t, err, "IncorrectKeyException", incorrect)
		})
		t.Run("destination/"+name, func(t *testing.T) {
			_, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob,
				SourceKeyId: sym.KeyId, DestinationKeyId: md.KeyId,
				SourceEncryptionAlgorithm:      types.EncryptionAlgorithmSpecSymmetricDefault,
				DestinationEncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault})
			wantAPIError(t, err, "InvalidKeyUsageException",
				*md.Arn+" key usage is "+string(md.KeyUsage)+" which is not valid for ReEncrypt.")
		})
		t.Run("destination-dry-run/"+name, func(t *testing.T) {
			// A dry run reports the destination's failure, not success.
			_, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob,
				DestinationKeyId: md.KeyId, DryRun: aws.Bool(true)})
			wantAPIError(t, err, "InvalidKeyUsageException", "*")
		})
	}
	// A source that is wrong in every way is reported as the source's
	// error even when the destination does not exist.
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob,
		SourceKeyId: unusable["hmac"].KeyId, DestinationKeyId: aws.String("alias/none")})
	wantAPIError(t, err, "IncorrectKeyException", incorrect)
}

// TestAsymmetricEncryptionContext checks that an encryption context given
// with an asymmetric key is refused rather than silently dropped: RSAES-OAEP
// and SM2PKE cannot bind it, and AWS documents that asymmetric keys do not
// support one (the model's EncryptRequest.EncryptionContext: "The standard
// asymmetric encryption algorithms and HMAC algorithms that KMS uses do not
// support an encryption context."). The message is inferred from
// floci-io/floci (KmsService.java, rejectEncryptionContextForAsymmetricKey).
func TestAsymmetricEncryptionContext(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	const msg = "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs."
	encCtx := map[string]string{"purpose": "test"}
	for _, tc := range []struct {
		region string
		spec   types.KeySpec
		alg    types.EncryptionAlgorithmSpec
	}{
		{"us-east-1", types.KeySpecRsa2048, types.EncryptionAlgorithmSpecRsaesOaepSha256},
		{"cn-north-1", types.KeySpecSm2, types.EncryptionAlgorithmSpecSm2pke},
	} {
		t.Run(string(tc.spec), func(t *testing.T) {
			c := n.client(tc.region)
			out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: tc.spec, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
			mustOK(t, "CreateKey", err)
			id := out.KeyMetadata.KeyId
			sym := newKey(t, c)

			_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x"), EncryptionAlgorithm: tc.alg, EncryptionContext: encCtx})
			wantAPIError(t, err, "ValidationException", msg)
			_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x"), EncryptionAlgorithm: tc.alg, EncryptionContext: encCtx, DryRun: aws.Bool(true)})
			wantAPIError(t, err, "ValidationException", msg)

			enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x"), EncryptionAlgorithm: tc.alg})
			mustOK(t, "Encrypt without context", err)
			_, err = c.Decrypt(ctx, &kms.DecryptInput{KeyId: id, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: tc.alg, EncryptionContext: encCtx})
			wantAPIError(t, err, "ValidationException", msg)
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: id, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: tc.alg})
			mustOK(t, "Decrypt without context", err)
			if string(dec.Plaintext) != "x" {
				t.Errorf("Decrypt = %q", dec.Plaintext)
			}

			// ReEncrypt: the asymmetric side may not have a context, the
			// symmetric side may.
			_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: id,
				SourceEncryptionAlgorithm: tc.alg, SourceEncryptionContext: encCtx, DestinationKeyId: sym.KeyId})
			wantAPIError(t, err, "ValidationException", msg)
			symEnc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: sym.KeyId, Plaintext: []byte("y"), EncryptionContext: encCtx})
			mustOK(t, "Encrypt symmetric", err)
			_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: symEnc.CiphertextBlob, SourceEncryptionContext: encCtx,
				DestinationKeyId: id, DestinationEncryptionAlgorithm: tc.alg, DestinationEncryptionContext: encCtx})
			wantAPIError(t, err, "ValidationException", msg)
			re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: symEnc.CiphertextBlob, SourceEncryptionContext: encCtx,
				DestinationKeyId: id, DestinationEncryptionAlgorithm: tc.alg})
			mustOK(t, "ReEncrypt into the asymmetric key", err)
			back, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: re.CiphertextBlob, SourceKeyId: id, SourceEncryptionAlgorithm: tc.alg,
				DestinationKeyId: sym.KeyId, DestinationEncryptionContext: encCtx})
			mustOK(t, "ReEncrypt back to the symmetric key", err)
			dec, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: back.CiphertextBlob, EncryptionContext: encCtx})
			mustOK(t, "Decrypt the round trip", err)
			if string(dec.Plaintext) != "y" {
				t.Errorf("round trip = %q", dec.Plaintext)
			}
		})
	}
}
