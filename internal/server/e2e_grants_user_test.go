package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestGrantToIAMUser: a grant gives an IAM user with no identity policy
// exactly its operations under its constraint; the retiring user may
// retire it, another user may not; an identity-policy Deny beats it; a
// grant to a user that does not exist is refused.
func TestGrantToIAMUser(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	root := n.client("us-east-1")
	key := aws.ToString(newKey(t, root).Arn)
	app := newUserKey(t, n, "app")
	ops := newUserKey(t, n, "ops")
	appARN, opsARN := "arn:aws:iam::111122223333:user/app", "arn:aws:iam::111122223333:user/ops"
	ctxt := map[string]string{"tenant": "t1"}

	enc, err := root.Encrypt(ctx, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), EncryptionContext: ctxt})
	mustNil(t, "Encrypt as root", err)
	_, err = app.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctxt})
	wantAPIError(t, err, "AccessDeniedException", "*")

	g, err := root.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: &appARN, RetiringPrincipal: &opsARN,
		Operations:  []types.GrantOperation{types.GrantOperationDecrypt},
		Constraints: &types.GrantConstraints{EncryptionContextSubset: ctxt}})
	mustNil(t, "CreateGrant to app", err)

	dec, err := app.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctxt})
	mustNil(t, "Decrypt as app through the grant", err)
	if string(dec.Plaintext) != "x" {
		t.Fatalf("Decrypt = %q", dec.Plaintext)
	}
	// Only the granted operation, only under the constraint, only for app.
	_, err = app.Encrypt(ctx, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), EncryptionContext: ctxt})
	wantAPIError(t, err, "AccessDeniedException", "*")
	other, err := root.Encrypt(ctx, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "t2"}})
	mustNil(t, "Encrypt t2", err)
	_, err = app.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: other.CiphertextBlob, EncryptionContext: map[string]string{"tenant": "t2"}})
	wantAPIError(t, err, "AccessDeniedException", "*")
	_, err = ops.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctxt})
	wantAPIError(t, err, "AccessDeniedException", "*")

	// A Deny in app's identity policy wins over the grant.
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}`
	_, err = n.iamRoot().PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("app"), PolicyName: aws.String("deny"), PolicyDocument: aws.String(deny)})
	mustNil(t, "PutUserPolicy", err)
	_, err = app.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctxt})
	wantAPIError(t, err, "AccessDeniedException", "*")
	_, err = n.iamRoot().DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("app"), PolicyName: aws.String("deny")})
	mustNil(t, "DeleteUserPolicy", err)

	// The retiring principal retires it; app may not (its grant lacks RetireGrant).
	_, err = app.RetireGrant(ctx, &kms.RetireGrantInput{KeyId: &key, GrantId: g.GrantId})
	wantAPIError(t, err, "AccessDeniedException", "*")
	_, err = ops.RetireGrant(ctx, &kms.RetireGrantInput{KeyId: &key, GrantId: g.GrantId})
	mustNil(t, "RetireGrant as ops", err)
	_, err = app.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctxt})
	wantAPIError(t, err, "AccessDeniedException", "*")

	ghost := "arn:aws:iam::111122223333:user/ghost"
	_, err = root.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: &ghost, Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	wantAPIError(t, err, "InvalidArnException", "*")
}
