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

func TestEnvelopeEncryption(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")

	ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("e2e")})
	if err != nil {
		t.Fatal(err)
	}
	md := ck.KeyMetadata
	wantARN := "arn:aws:kms:us-east-1:111122223333:key/" + *md.KeyId
	if *md.Arn != wantARN || md.KeySpec != types.KeySpecSymmetricDefault || md.KeyUsage != types.KeyUsageTypeEncryptDecrypt ||
		md.KeyState != types.KeyStateEnabled || !md.Enabled || md.Origin != types.OriginTypeAwsKms ||
		md.KeyManager != types.KeyManagerTypeCustomer || *md.MultiRegion || len(*md.CurrentKeyMaterialId) != 64 {
		t.Fatalf("unexpected metadata: %+v", md)
	}
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	encCtx := map[string]string{"tenant": "acme", "purpose": "test"}
	dk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/app"), KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx})
	if err != nil {
		t.Fatal(err)
	}
	if len(dk.Plaintext) != 32 || *dk.KeyId != wantARN {
		t.Fatalf("data key: %d bytes, key %s", len(dk.Plaintext), *dk.KeyId)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec.Plaintext, dk.Plaintext) || *dec.KeyId != wantARN || dec.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatalf("decrypt returned %x under %s", dec.Plaintext, *dec.KeyId)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: map[string]string{"tenant": "ACME", "purpose": "test"}})
	wantAPIError(t, err, "InvalidCiphertextException", "")
}

func TestKeyNotFoundAcrossRegions(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	ck, err := n.client("us-east-1").CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := *ck.KeyMetadata.KeyId
	_, err = n.client("eu-west-1").DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
	wantAPIError(t, err, "NotFoundException", "Key 'arn:aws:kms:eu-west-1:111122223333:key/"+id+"' does not exist")
	_, err = n.client("eu-west-1").DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: ck.KeyMetadata.Arn})
	wantAPIError(t, err, "NotFoundException", "Invalid arn us-east-1")
	if !strings.HasPrefix(*ck.KeyMetadata.Arn, "arn:aws:kms:us-east-1:") {
		t.Fatal(*ck.KeyMetadata.Arn)
	}
}
