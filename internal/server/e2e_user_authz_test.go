package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// kmsAs returns a KMS client signed with the given access key.
func (n *node) kmsAs(akid, secret string) *kms.Client {
	return kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(n.srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""), HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

// newUserKey creates an IAM user with an access key and returns a KMS
// client signed as the user.
func newUserKey(t *testing.T, n *node, name string) *kms.Client {
	t.Helper()
	ctx := context.Background()
	c := n.iamRoot()
	_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
	mustNil(t, "CreateUser", err)
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	mustNil(t, "CreateAccessKey", err)
	return n.kmsAs(aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey))
}

// TestIAMUserUnderKMSAuthorization: an IAM user gets from KMS exactly
// what its identity policies (through the default key policy's
// delegation to the account) or a key policy naming it allow; a change to
// its policies through IAM takes effect on the next request.
func TestIAMUserUnderKMSAuthorization(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	root := n.client("us-east-1")
	key := newKey(t, root)
	keyARN := aws.ToString(key.Arn)
	alice := newUserKey(t, n, "alice")
	aliceARN := "arn:aws:iam::111122223333:user/alice"

	// No identity policy: the default key policy delegates to IAM, which
	// allows nothing.
	_, err := alice.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")})
	wantAPIError(t, err, "AccessDeniedException", "User: "+aliceARN+" is not authorized to perform: kms:Encrypt on resource: "+keyARN+
		" because no identity-based policy allows the kms:Encrypt action")
	_, err = alice.ListKeys(ctx, &kms.ListKeysInput{})
	wantAPIError(t, err, "AccessDeniedException", "User: "+aliceARN+" is not authorized to perform: kms:ListKeys on resource: *"+
		" because no identity-based policy allows the kms:ListKeys action")

	// An inline policy allowing Encrypt and Decrypt on this key only.
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"` + keyARN + `"}]}`
	_, err = n.iamRoot().PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("app"), PolicyDocument: aws.String(doc)})
	mustNil(t, "PutUserPolicy", err)
	enc, err := alice.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x"), EncryptionContext: map[string]string{"app": "a"}})
	mustNil(t, "Encrypt as alice", err)
	dec, err := alice.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"app": "a"}})
	mustNil(t, "Decrypt as alice", err)
	if string(dec.Plaintext) != "x" {
		t.Fatalf("Decrypt = %q", dec.Plaintext)
	}
	_, err = alice.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: key.KeyId})
	wantAPIError(t, err, "AccessDeniedException", "User: "+aliceARN+" is not authorized to perform: kms:DescribeKey on resource: "+keyARN+
		" because no identity-based policy allows the kms:DescribeKey action")
	other := newKey(t, root)
	_, err = alice.Encrypt(ctx, &kms.EncryptInput{KeyId: other.KeyId, Plaintext: []byte("x")})
	wantAPIError(t, err, "AccessDeniedException", "*")

	// An explicit Deny added through IAM wins at once.
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}`
	_, err = n.iamRoot().PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("deny"), PolicyDocument: aws.String(deny)})
	mustNil(t, "PutUserPolicy deny", err)
	_, err = alice.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"app": "a"}})
	// Decrypt without KeyId names no resource in the message.
	wantAPIError(t, err, "AccessDeniedException", "User: "+aliceARN+" is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext"+
		" with an explicit deny in an identity-based policy")
	_, err = n.iamRoot().DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("deny")})
	mustNil(t, "DeleteUserPolicy", err)
	_, err = alice.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"app": "a"}})
	mustNil(t, "Decrypt after the deny is gone", err)

	// A key policy naming bob directly needs no identity policy; one
	// naming a user that does not exist is refused.
	bob := newUserKey(t, n, "bob")
	bobARN := "arn:aws:iam::111122223333:user/bob"
	pol := `{"Version":"2012-10-17","Statement":[
		{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"Bob","Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"Action":"kms:Encrypt","Resource":"*"}]}`
	mine, err := root.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(pol)})
	mustNil(t, "CreateKey naming bob", err)
	_, err = bob.Encrypt(ctx, &kms.EncryptInput{KeyId: mine.KeyMetadata.KeyId, Plaintext: []byte("x")})
	mustNil(t, "Encrypt as bob", err)
	_, err = bob.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")})
	wantAPIError(t, err, "AccessDeniedException", "*")
	ghost := `{"Version":"2012-10-17","Statement":[
		{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/nobody"},"Action":"kms:Encrypt","Resource":"*"}]}`
	_, err = root.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(ghost)})
	wantAPIError(t, err, "MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid principals.")
}
