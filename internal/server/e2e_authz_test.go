package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestKeyPolicyEnforcedEndToEnd: with SDK clients signed as the roots of
// two accounts, a key policy that denies everything to everyone makes
// the next Decrypt AccessDenied with AWS's message, and a key policy that
// names the other account lets that account's root decrypt across
// accounts.
func TestKeyPolicyEnforcedEndToEnd(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	svc := n.srv.Service()
	const other = "444455556666"
	mustOK(t, "EnsureAccount", svc.EnsureAccount(ctx, other))
	creds, err := svc.CreateAccessKey(ctx, other, "", "")
	mustOK(t, "CreateAccessKey", err)
	a := n.client("us-east-1")
	b := n.clientWith("us-east-1", creds.AccessKeyID, creds.SecretAccessKey)

	// Cross-account decrypt allowed by a key policy naming account B.
	shared, err := a.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Sid":"Owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"PartnerDecrypt","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:Decrypt","Resource":"*"}]}`)})
	mustOK(t, "CreateKey", err)
	enc, err := a.Encrypt(ctx, &kms.EncryptInput{KeyId: shared.KeyMetadata.Arn, Plaintext: []byte("for the partner")})
	mustOK(t, "Encrypt", err)
	dec, err := b.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: shared.KeyMetadata.Arn})
	mustOK(t, "Decrypt by the other account", err)
	if string(dec.Plaintext) != "for the partner" {
		t.Fatalf("plaintext %q", dec.Plaintext)
	}
	// The key policy gives B Decrypt only.
	_, err = b.Encrypt(ctx, &kms.EncryptInput{KeyId: shared.KeyMetadata.Arn, Plaintext: []byte("x")})
	wantAPIError(t, err, "AccessDeniedException", "User: arn:aws:iam::444455556666:root is not authorized to perform: kms:Encrypt on this resource because the resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly denies access")

	// Deny * kms:* (with the lockout check bypassed) locks out the root.
	key, err := a.CreateKey(ctx, &kms.CreateKeyInput{})
	mustOK(t, "CreateKey", err)
	enc, err = a.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")})
	mustOK(t, "Encrypt", err)
	deny := `{"Version":"2012-10-17","Statement":[{"Sid":"DenyAll","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}]}`
	_, err = a.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: key.KeyMetadata.KeyId, Policy: aws.String(deny)})
	wantAPIError(t, err, "MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future.")
	_, err = a.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: key.KeyMetadata.KeyId, Policy: aws.String(deny), BypassPolicyLockoutSafetyCheck: true})
	mustOK(t, "PutKeyPolicy with the bypass", err)
	_, err = a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantAPIError(t, err, "AccessDeniedException", "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext with an explicit deny in a resource-based policy")
	_, err = a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: key.KeyMetadata.Arn, DryRun: aws.Bool(true)})
	wantAPIError(t, err, "AccessDeniedException", "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Decrypt on resource: "+*key.KeyMetadata.Arn+" with an explicit deny in a resource-based policy")

	// A key policy naming an account Trent does not have is refused.
	_, err = a.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"kms:Decrypt","Resource":"*"}]}`)})
	wantAPIError(t, err, "MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid principals.")
}
