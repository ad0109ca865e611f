package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

type managedKeyResult struct {
	AliasName   string
	Created     bool
	KeyMetadata struct{ KeyId, Arn, KeyManager, Description string }
	Type        string `json:"__type"`
	Message     string `json:"message"`
}

func decodeManaged(t *testing.T, resp *http.Response) (int, managedKeyResult) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r managedKeyResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return resp.StatusCode, r
}

// TestAWSManagedKeys: an AWS managed key created through the admin call
// is listed and described as AWS's are, returns AWS's managed key policy,
// refuses every change with the answer its policy gives, and cannot be
// used directly, because requests never come through an AWS service.
func TestAWSManagedKeys(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	root := n.client("us-east-1")
	const s3Body = `{"Service":"s3"}`

	// Before: a direct call naming alias/aws/s3 does not create the key.
	s3AliasARN := aliasARNOf("us-east-1", "alias/aws/s3")
	_, err := root.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/aws/s3"), KeySpec: types.DataKeySpecAes256})
	wantAPIError(t, err, "NotFoundException", "Alias "+s3AliasARN+" is not found.")
	_, err = root.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/s3")})
	wantAPIError(t, err, "NotFoundException", "Alias "+s3AliasARN+" is not found.")

	status, mk := decodeManaged(t, signedPost(t, n, "kms", "us-east-1", "application/x-amz-json-1.1", "TrentAdmin.CreateAWSManagedKey", s3Body))
	if status != 200 || !mk.Created || mk.AliasName != "alias/aws/s3" || mk.KeyMetadata.KeyManager != "AWS" {
		t.Fatalf("CreateAWSManagedKey = %d %+v", status, mk)
	}
	keyID, keyARN := mk.KeyMetadata.KeyId, mk.KeyMetadata.Arn
	if keyARN != arnOf("us-east-1", keyID) {
		t.Fatalf("key ARN %s", keyARN)
	}
	// Idempotent: the same key again, not created.
	status, again := decodeManaged(t, signedPost(t, n, "kms", "us-east-1", "application/x-amz-json-1.1", "TrentAdmin.CreateAWSManagedKey", s3Body))
	if status != 200 || again.Created || again.KeyMetadata.KeyId != keyID {
		t.Fatalf("CreateAWSManagedKey again = %d %+v, want key %s not created", status, again, keyID)
	}

	// Listed and described.
	la, err := root.ListAliases(ctx, &kms.ListAliasesInput{})
	mustOK(t, "ListAliases", err)
	found := false
	for _, a := range la.Aliases {
		if aws.ToString(a.AliasName) == "alias/aws/s3" {
			found = aws.ToString(a.TargetKeyId) == keyID && aws.ToString(a.AliasArn) == s3AliasARN
		}
	}
	if !found {
		t.Fatalf("ListAliases has no alias/aws/s3 -> %s: %+v", keyID, la.Aliases)
	}
	lk, err := root.ListKeys(ctx, &kms.ListKeysInput{})
	mustOK(t, "ListKeys", err)
	if len(lk.Keys) != 1 || aws.ToString(lk.Keys[0].KeyId) != keyID {
		t.Fatalf("ListKeys = %+v", lk.Keys)
	}
	md := describe(t, root, "alias/aws/s3")
	if md.KeyManager != types.KeyManagerTypeAws || aws.ToString(md.KeyId) != keyID || md.KeyState != types.KeyStateEnabled ||
		aws.ToString(md.Description) != "Default key that protects my S3 objects when no other key is defined" {
		t.Fatalf("DescribeKey = %+v", md)
	}
	rs, err := root.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(keyID)})
	mustOK(t, "GetKeyRotationStatus", err)
	if !rs.KeyRotationEnabled {
		t.Error("GetKeyRotationStatus of an AWS managed key: KeyRotationEnabled false, want true (always, the model says)")
	}
	gp, err := root.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyID)})
	mustOK(t, "GetKeyPolicy", err)
	pol := aws.ToString(gp.Policy)
	for _, want := range []string{`"Id" : "auto-s3-2"`, `"kms:ViaService" : "s3.us-east-1.amazonaws.com"`, `"kms:CallerAccount" : "111122223333"`,
		`"Sid" : "Allow direct access to key metadata to the account"`, `"Action" : [ "kms:Describe*", "kms:Get*", "kms:List*" ]`} {
		if !strings.Contains(pol, want) {
			t.Errorf("GetKeyPolicy lacks %s:\n%s", want, pol)
		}
	}
	_, err = root.ListKeyPolicies(ctx, &kms.ListKeyPoliciesInput{KeyId: aws.String(keyID)})
	mustOK(t, "ListKeyPolicies", err)
	_, err = root.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: aws.String(keyID)})
	mustOK(t, "ListResourceTags", err)

	// Direct use is denied: kms:ViaService is absent.
	denied := func(action string) string {
		return "User: arn:aws:iam::111122223333:root is not authorized to perform: " + action + " on resource: " + keyARN +
			" because no resource-based policy allows the " + action + " action"
	}
	_, err = root.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/aws/s3"), Plaintext: []byte("x")})
	wantAPIError(t, err, "AccessDeniedException", denied("kms:Encrypt"))
	_, err = root.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256})
	wantAPIError(t, err, "AccessDeniedException", denied("kms:GenerateDataKey"))
	_, err = root.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String("arn:aws:iam::111122223333:root"),
		Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	wantAPIError(t, err, "AccessDeniedException", denied("kms:CreateGrant"))

	// Every change is refused.
	id := aws.String(keyID)
	refused := map[string]func() error{
		"kms:PutKeyPolicy": func() error {
			_, err := root.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: id, Policy: aws.String(pol)})
			return err
		},
		"kms:ScheduleKeyDeletion": func() error {
			_, err := root.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: aws.Int32(7)})
			return err
		},
		"kms:CancelKeyDeletion": func() error {
			_, err := root.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: id})
			return err
		},
		"kms:DisableKey": func() error { _, err := root.DisableKey(ctx, &kms.DisableKeyInput{KeyId: id}); return err },
		"kms:EnableKey":  func() error { _, err := root.EnableKey(ctx, &kms.EnableKeyInput{KeyId: id}); return err },
		"kms:UpdateKeyDescription": func() error {
			_, err := root.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: id, Description: aws.String("mine")})
			return err
		},
		"kms:TagResource": func() error {
			_, err := root.TagResource(ctx, &kms.TagResourceInput{KeyId: id, Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}})
			return err
		},
		"kms:UntagResource": func() error {
			_, err := root.UntagResource(ctx, &kms.UntagResourceInput{KeyId: id, TagKeys: []string{"a"}})
			return err
		},
		"kms:CreateAlias": func() error {
			_, err := root.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/mine"), TargetKeyId: id})
			return err
		},
	}
	for action, call := range refused {
		t.Run("refused/"+action, func(t *testing.T) { wantAPIError(t, call(), "AccessDeniedException", denied(action)) })
	}
	// The alias/aws/ namespace stays AWS's.
	_, err = root.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/aws/s3")})
	wantAPIError(t, err, "NotAuthorizedException", "*")
	_, err = root.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/aws/s3"), TargetKeyId: newKey(t, root).KeyId})
	wantAPIError(t, err, "NotAuthorizedException", "*")
	_, err = root.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/ebs"), TargetKeyId: id})
	wantAPIError(t, err, "NotAuthorizedException", "*")
	if md := describe(t, root, keyID); md.KeyState != types.KeyStateEnabled || aws.ToString(md.Description) == "mine" {
		t.Fatalf("the AWS managed key changed: %+v", md)
	}

	// An IAM user with every KMS permission may read the key's metadata
	// (the account statement delegates kms:Describe* to IAM) but not use it.
	alice := newUserKey(t, n, "alice")
	_, err = n.iamRoot().PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("all"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)})
	mustNil(t, "PutUserPolicy", err)
	_, err = alice.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/s3")})
	mustOK(t, "DescribeKey as alice", err)
	_, err = alice.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantAPIError(t, err, "AccessDeniedException", "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: "+keyARN+
		" because no resource-based policy allows the kms:Encrypt action")

	// The admin call: IAM users may not make it.
	k, err := n.iamRoot().CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	mustNil(t, "CreateAccessKey", err)
	status, r := decodeManaged(t, signedPostAs(t, n, aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey),
		"TrentAdmin.CreateAWSManagedKey", `{"Service":"ebs"}`))
	if status != 400 || r.Type != "AccessDeniedException" || r.Message != "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: "+
		"trent:CreateAWSManagedKey because only the account's root user or the management account's root user may" {
		t.Fatalf("CreateAWSManagedKey as alice = %d %+v", status, r)
	}
	status, r = decodeManaged(t, signedPost(t, n, "kms", "us-east-1", "application/x-amz-json-1.1", "TrentAdmin.CreateAWSManagedKey", `{"Service":"S3"}`))
	if status != 400 || r.Type != "ValidationException" {
		t.Fatalf("CreateAWSManagedKey S3 = %d %+v", status, r)
	}

	// Another account's root creates its own; the management account's
	// root may create one in another account, that account's root may not
	// in the management account.
	status, acct := decodeAccount(t, signedPost(t, n, "kms", "us-east-1", "application/x-amz-json-1.1", "TrentAdmin.CreateAccount", `{"AccountId":"444455556666"}`))
	if status != 200 {
		t.Fatalf("CreateAccount: %d", status)
	}
	status, r = decodeManaged(t, signedPostAs(t, n, acct.AccessKeyId, acct.SecretAccessKey, "TrentAdmin.CreateAWSManagedKey", `{"Service":"ebs"}`))
	if status != 200 || !r.Created || !strings.Contains(r.KeyMetadata.Arn, ":444455556666:key/") {
		t.Fatalf("CreateAWSManagedKey by the other root = %d %+v", status, r)
	}
	status, r = decodeManaged(t, signedPostAs(t, n, acct.AccessKeyId, acct.SecretAccessKey, "TrentAdmin.CreateAWSManagedKey",
		`{"Service":"rds","AccountId":"111122223333"}`))
	if status != 400 || r.Type != "AccessDeniedException" {
		t.Fatalf("CreateAWSManagedKey by the other root for the management account = %d %+v", status, r)
	}
	status, r = decodeManaged(t, signedPost(t, n, "kms", "us-east-1", "application/x-amz-json-1.1", "TrentAdmin.CreateAWSManagedKey",
		`{"Service":"ebs","AccountId":"444455556666"}`))
	if status != 200 || r.Created || !strings.Contains(r.KeyMetadata.Arn, ":444455556666:key/") {
		t.Fatalf("CreateAWSManagedKey by the operator for the other account = %d %+v, want its existing key", status, r)
	}
}

func decodeAccount(t *testing.T, resp *http.Response) (int, struct{ AccountId, AccessKeyId, SecretAccessKey string }) {
	t.Helper()
	defer resp.Body.Close()
	var a struct{ AccountId, AccessKeyId, SecretAccessKey string }
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, a
}
