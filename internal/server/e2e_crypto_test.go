package server_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// The expected messages below come from /tmp/aws-kms-facts.md (sections
// 1.4, 1.6-1.9 and 2.2).

const incorrectKey = "The key ID in the request does not identify a CMK that can perform this operation."

func TestEncryptDecryptIdentifiers(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	other := newKey(t, c)
	newAlias(t, c, "alias/crypto", *md.KeyId)
	forms := []string{*md.KeyId, *md.Arn, "alias/crypto", aliasARNOf("us-east-1", "alias/crypto")}

	for _, form := range forms {
		enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(form), Plaintext: []byte("plain " + form)})
		mustOK(t, "Encrypt "+form, err)
		if *enc.KeyId != *md.Arn || enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
			t.Errorf("Encrypt(%s): KeyId %s, algorithm %s", form, *enc.KeyId, enc.EncryptionAlgorithm)
		}
		// Decrypt without KeyId finds the key from the blob; with KeyId in
		// any form it checks the blob's key.
		for _, dk := range append([]string{""}, forms...) {
			in := &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}
			if dk != "" {
				in.KeyId = aws.String(dk)
			}
			dec, err := c.Decrypt(ctx, in)
			mustOK(t, "Decrypt with KeyId "+dk, err)
			if string(dec.Plaintext) != "plain "+form || *dec.KeyId != *md.Arn ||
				dec.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault || *dec.KeyMaterialId != *md.CurrentKeyMaterialId {
				t.Errorf("Decrypt(%s, KeyId %q) = %q under %s, material %v", form, dk, dec.Plaintext, *dec.KeyId, dec.KeyMaterialId)
			}
		}
		_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: other.KeyId})
		wantAPIError(t, err, "IncorrectKeyException", incorrectKey)
		_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: other.Arn})
		wantAPIError(t, err, "IncorrectKeyException", incorrectKey)
	}

	const missing = "0f0e0d0c-0b0a-4909-8807-060504030201"
	_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(missing), Plaintext: []byte("x")})
	wantAPIError(t, err, "NotFoundException", "Key '"+arnOf("us-east-1", missing)+"' does not exist")
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/none"), Plaintext: []byte("x")})
	wantAPIError(t, err, "NotFoundException", "Alias "+aliasARNOf("us-east-1", "alias/none")+" is not found.")
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(aliasARNOf("us-east-1", "alias/none")), Plaintext: []byte("x")})
	wantAPIError(t, err, "NotFoundException", "Alias "+aliasARNOf("us-east-1", "alias/none")+" is not found.")
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("fake-key-id"), Plaintext: []byte("x")})
	wantAPIError(t, err, "NotFoundException", "Invalid keyId 'fake-key-id'")
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	mustOK(t, "Encrypt", err)
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: aws.String(missing)})
	wantAPIError(t, err, "NotFoundException", "Key '"+arnOf("us-east-1", missing)+"' does not exist")
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
	wantAPIError(t, err, "InvalidKeyUsageException", "*")
}

func TestEncryptPlaintextSize(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	for _, size := range []int{1, 4096} {
		pt := bytes.Repeat([]byte{0xa5}, size)
		enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: pt})
		mustOK(t, "Encrypt", err)
		dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		mustOK(t, "Decrypt", err)
		if !bytes.Equal(dec.Plaintext, pt) {
			t.Errorf("%d-byte plaintext did not round-trip", size)
		}
	}
	_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: make([]byte, 4097)})
	wantAPIError(t, err, "ValidationException",
		"1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096")
}

func TestEncryptionContext(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	encCtx := map[string]string{"Tenant": "acme", "purpose": "billing", "a": "", "ünï": "çødé"}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("ctx"), EncryptionContext: encCtx})
	mustOK(t, "Encrypt", err)

	// A fresh map with the same pairs, built in another order.
	same := map[string]string{}
	for _, k := range []string{"ünï", "a", "purpose", "Tenant"} {
		same[k] = encCtx[k]
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: same})
	mustOK(t, "Decrypt with the same context", err)
	if string(dec.Plaintext) != "ctx" {
		t.Fatalf("Decrypt = %q", dec.Plaintext)
	}

	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for k2, v2 := range encCtx {
			m[k2] = v2
		}
		m[k] = v
		return m
	}
	without := func(k string) map[string]string {
		m := with("", "")
		delete(m, "")
		delete(m, k)
		return m
	}
	renamed := without("Tenant")
	renamed["tenant"] = "acme"
	for name, bad := range map[string]map[string]string{
		"none":         nil,
		"value-case":   with("Tenant", "ACME"),
		"key-case":     renamed,
		"missing-pair": without("purpose"),
		"extra-pair":   with("extra", "x"),
		"empty-value":  with("a", " "),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: bad})
			wantAPIError(t, err, "InvalidCiphertextException", "")
		})
	}
}

func TestTamperedCiphertext(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("do not touch")})
	mustOK(t, "Encrypt", err)
	blob := enc.CiphertextBlob
	for i := range blob {
		bad := bytes.Clone(blob)
		bad[i] ^= 0x01
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: bad})
		if err == nil {
			t.Fatalf("Decrypt accepted a blob with byte %d flipped", i)
		}
		// A flip inside the embedded key id may name a key that does not
		// parse or does not exist; every such failure is still
		// InvalidCiphertextException with no message.
		wantAPIError(t, err, "InvalidCiphertextException", "")
	}
	for _, bad := range [][]byte{blob[:len(blob)-1], blob[:1], append(bytes.Clone(blob), 0), []byte("garbage that is not a blob")} {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: bad})
		wantAPIError(t, err, "InvalidCiphertextException", "")
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: make([]byte, 6145)})
	wantAPIError(t, err, "ValidationException",
		"1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144")
}

func TestDisabledKeyCrypto(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	other := newKey(t, c)
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	mustOK(t, "Encrypt", err)
	otherEnc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: other.KeyId, Plaintext: []byte("y")})
	mustOK(t, "Encrypt", err)
	mustOK(t, "DisableKey", second(c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId})))

	disabled := *md.Arn + " is disabled."
	for op, err := range map[string]error{
		"Encrypt":                         second(c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})),
		"Decrypt":                         second(c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})),
		"ReEncrypt/source":                second(c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: other.KeyId})),
		"ReEncrypt/destination":           second(c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: otherEnc.CiphertextBlob, DestinationKeyId: md.KeyId})),
		"GenerateDataKey":                 second(c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256})),
		"GenerateDataKeyWithoutPlaintext": second(c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes128})),
		"Encrypt/DryRun":                  second(c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), DryRun: aws.Bool(true)})),
	} {
		t.Run(op, func(t *testing.T) { wantAPIError(t, err, "DisabledException", disabled) })
	}
	// Management operations still work on a disabled key.
	mustOK(t, "DescribeKey", second(c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: md.KeyId})))
	mustOK(t, "UpdateKeyDescription", second(c.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: md.KeyId, Description: aws.String("d")})))
	mustOK(t, "TagResource", second(c.TagResource(ctx, &kms.TagResourceInput{KeyId: md.KeyId, Tags: []types.Tag{{TagKey: aws.String("k"), TagValue: aws.String("v")}}})))
	newAlias(t, c, "alias/disabled", *md.KeyId)
}

func TestDryRun(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	other := newKey(t, c)
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	mustOK(t, "Encrypt", err)
	yes := aws.Bool(true)
	for op, err := range map[string]error{
		"Encrypt":                         second(c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x"), DryRun: yes})),
		"Decrypt":                         second(c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, DryRun: yes})),
		"ReEncrypt":                       second(c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: other.KeyId, DryRun: yes})),
		"GenerateDataKey":                 second(c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256, DryRun: yes})),
		"GenerateDataKeyWithoutPlaintext": second(c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256, DryRun: yes})),
	} {
		// AWS's DryRunOperationException text for KMS was not found; only
		// the code is checked.
		t.Run(op, func(t *testing.T) { wantAPIError(t, err, "DryRunOperationException", "*") })
	}
	// A dry run of a request that would fail reports the failure.
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: other.KeyId, DryRun: yes})
	wantAPIError(t, err, "IncorrectKeyException", incorrectKey)
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/none"), Plaintext: []byte("x"), DryRun: yes})
	wantAPIError(t, err, "NotFoundException", "Alias "+aliasARNOf("us-east-1", "alias/none")+" is not found.")
}

func TestReEncrypt(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	src := newKey(t, c)
	dst := newKey(t, c)
	newAlias(t, c, "alias/dst", *dst.KeyId)
	srcCtx := map[string]string{"stage": "one"}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: src.KeyId, Plaintext: []byte("moving"), EncryptionContext: srcCtx})
	mustOK(t, "Encrypt", err)

	for _, dform := range []string{*dst.KeyId, *dst.Arn, "alias/dst", aliasARNOf("us-east-1", "alias/dst")} {
		for _, sform := range []*string{nil, src.KeyId, src.Arn} {
			dstCtx := map[string]string{"stage": "two", "by": dform}
			re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: sform,
				SourceEncryptionContext: srcCtx, DestinationKeyId: aws.String(dform), DestinationEncryptionContext: dstCtx})
			mustOK(t, "ReEncrypt to "+dform, err)
			if *re.SourceKeyId != *src.Arn || *re.KeyId != *dst.Arn ||
				re.SourceEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault ||
				re.DestinationEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault ||
				*re.SourceKeyMaterialId != *src.CurrentKeyMaterialId || *re.DestinationKeyMaterialId != *dst.CurrentKeyMaterialId {
				t.Errorf("ReEncrypt response: %+v", re)
			}
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: dstCtx})
			mustOK(t, "Decrypt re-encrypted", err)
			if string(dec.Plaintext) != "moving" || *dec.KeyId != *dst.Arn {
				t.Errorf("re-encrypted blob decrypts to %q under %s", dec.Plaintext, *dec.KeyId)
			}
			_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: srcCtx})
			wantAPIError(t, err, "InvalidCiphertextException", "")
		}
	}

	// Re-encrypting under the same key with a new context.
	re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: srcCtx, DestinationKeyId: src.KeyId})
	mustOK(t, "ReEncrypt to the same key", err)
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
	mustOK(t, "Decrypt without context", err)
	if string(dec.Plaintext) != "moving" {
		t.Errorf("Decrypt = %q", dec.Plaintext)
	}

	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: dst.KeyId})
	wantAPIError(t, err, "InvalidCiphertextException", "")
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: map[string]string{"stage": "One"}, DestinationKeyId: dst.KeyId})
	wantAPIError(t, err, "InvalidCiphertextException", "")
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: dst.KeyId, SourceEncryptionContext: srcCtx, DestinationKeyId: dst.KeyId})
	wantAPIError(t, err, "IncorrectKeyException", incorrectKey)
	const missing = "0f0e0d0c-0b0a-4909-8807-060504030201"
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: srcCtx, DestinationKeyId: aws.String(missing)})
	wantAPIError(t, err, "NotFoundException", "Key '"+arnOf("us-east-1", missing)+"' does not exist")
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: []byte("garbage"), DestinationKeyId: dst.KeyId})
	wantAPIError(t, err, "InvalidCiphertextException", "")
}

func TestGenerateDataKey(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	newAlias(t, c, "alias/dk", *md.KeyId)
	encCtx := map[string]string{"file": "a.txt"}

	cases := []struct {
		name string
		spec types.DataKeySpec
		n    *int32
		want int
	}{
		{"AES_128", types.DataKeySpecAes128, nil, 16},
		{"AES_256", types.DataKeySpecAes256, nil, 32},
		{"bytes-1", "", aws.Int32(1), 1},
		{"bytes-1024", "", aws.Int32(1024), 1024},
	}
	forms := []string{*md.KeyId, *md.Arn, "alias/dk", aliasARNOf("us-east-1", "alias/dk")}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := forms[i%len(forms)]
			dk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &form, KeySpec: tc.spec, NumberOfBytes: tc.n, EncryptionContext: encCtx})
			mustOK(t, "GenerateDataKey", err)
			if len(dk.Plaintext) != tc.want || *dk.KeyId != *md.Arn || *dk.KeyMaterialId != *md.CurrentKeyMaterialId {
				t.Fatalf("GenerateDataKey: %d bytes under %s", len(dk.Plaintext), *dk.KeyId)
			}
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx})
			mustOK(t, "Decrypt data key", err)
			if !bytes.Equal(dec.Plaintext, dk.Plaintext) {
				t.Fatal("the encrypted data key does not decrypt to the plaintext one")
			}
			_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
			wantAPIError(t, err, "InvalidCiphertextException", "")

			wp, err := c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: &form, KeySpec: tc.spec, NumberOfBytes: tc.n, EncryptionContext: encCtx})
			mustOK(t, "GenerateDataKeyWithoutPlaintext", err)
			if *wp.KeyId != *md.Arn || *wp.KeyMaterialId != *md.CurrentKeyMaterialId {
				t.Fatalf("GenerateDataKeyWithoutPlaintext KeyId %s", *wp.KeyId)
			}
			dec, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: wp.CiphertextBlob, EncryptionContext: encCtx})
			mustOK(t, "Decrypt data key without plaintext", err)
			if len(dec.Plaintext) != tc.want || bytes.Equal(dec.Plaintext, dk.Plaintext) {
				t.Fatalf("data key without plaintext: %d bytes, same as the previous key: %v", len(dec.Plaintext), bytes.Equal(dec.Plaintext, dk.Plaintext))
			}
		})
	}

	either := "Please specify either number of bytes or key spec."
	_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.KeyId})
	wantAPIError(t, err, "ValidationException", either)
	_, err = c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId})
	wantAPIError(t, err, "ValidationException", either)
	// Both given: AWS's text was not found; the code is ValidationException.
	_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256, NumberOfBytes: aws.Int32(32)})
	wantAPIError(t, err, "ValidationException", "*")
	_, err = c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256, NumberOfBytes: aws.Int32(32)})
	wantAPIError(t, err, "ValidationException", "*")
	for _, nb := range []struct {
		n   int32
		msg string
	}{
		{0, "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{1025, "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"},
	} {
		_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.KeyId, NumberOfBytes: aws.Int32(nb.n)})
		wantAPIError(t, err, "ValidationException", nb.msg)
		_, err = c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId, NumberOfBytes: aws.Int32(nb.n)})
		wantAPIError(t, err, "ValidationException", nb.msg)
	}
	_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: "AES-256"})
	wantAPIError(t, err, "ValidationException", "*")
	if msg := apiMessage(err); !strings.HasPrefix(msg, "1 validation error detected: Value 'AES-256' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [") {
		t.Errorf("bad KeySpec message = %q", msg)
	}
}

func TestGenerateRandom(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	for _, size := range []int32{1, 12, 44, 91, 1024} {
		out, err := c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(size)})
		mustOK(t, "GenerateRandom", err)
		if len(out.Plaintext) != int(size) {
			t.Errorf("GenerateRandom(%d) returned %d bytes", size, len(out.Plaintext))
		}
	}
	a, err := c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
	mustOK(t, "GenerateRandom", err)
	b, err := c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
	mustOK(t, "GenerateRandom", err)
	if bytes.Equal(a.Plaintext, b.Plaintext) || bytes.Equal(a.Plaintext, make([]byte, 32)) {
		t.Error("GenerateRandom repeated itself or returned zeros")
	}
	_, err = c.GenerateRandom(ctx, &kms.GenerateRandomInput{})
	wantAPIError(t, err, "ValidationException", "NumberOfBytes is required.")
	_, err = c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(0)})
	wantAPIError(t, err, "ValidationException",
		"1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1")
	_, err = c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1025)})
	wantAPIError(t, err, "ValidationException",
		"1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024")
}
