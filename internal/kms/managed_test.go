package kms_test

import (
	"errors"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// The AWS managed key policy of aws/s3 as AWS returns it (FogSecurity/
// aws-managed-kms-keys, reference_key_policies/s3.json, with the test
// account in place of the scrubbed one).
const wantS3Policy = `{
  "Version" : "2012-10-17",
  "Id" : "auto-s3-2",
  "Statement" : [ {
    "Sid" : "Allow access through S3 for all principals in the account that are authorized to use S3",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "*"
    },
    "Action" : [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey" ],
    "Resource" : "*",
    "Condition" : {
      "StringEquals" : {
        "kms:CallerAccount" : "111122223333",
        "kms:ViaService" : "s3.us-east-1.amazonaws.com"
      }
    }
  }, {
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:root"
    },
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*" ],
    "Resource" : "*"
  } ]
}`

// The aws/ebs policy (reference_key_policies/ebs.json): the service is
// reached through EC2, and the account may also revoke grants.
const wantEBSPolicy = `{
  "Version" : "2012-10-17",
  "Id" : "auto-ebs-2",
  "Statement" : [ {
    "Sid" : "Allow access through EBS for all principals in the account that are authorized to use EBS",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "*"
    },
    "Action" : [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey" ],
    "Resource" : "*",
    "Condition" : {
      "StringEquals" : {
        "kms:ViaService" : "ec2.us-east-1.amazonaws.com",
        "kms:CallerAccount" : "111122223333"
      }
    }
  }, {
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:root"
    },
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant" ],
    "Resource" : "*"
  } ]
}`

func TestAWSManagedKeyPolicyDocuments(t *testing.T) {
	for svc, want := range map[string]string{"s3": wantS3Policy, "ebs": wantEBSPolicy} {
		if got := kms.AWSManagedKeyPolicy(svc, "us-east-1", "111122223333"); got != want {
			t.Errorf("policy of aws/%s =\n%s\nwant\n%s", svc, got, want)
		}
		if _, err := policy.Parse(kms.AWSManagedKeyPolicy(svc, "us-east-1", "111122223333"), policy.KeyPolicy); err != nil {
			t.Errorf("policy of aws/%s does not parse: %v", svc, err)
		}
	}
	// Any other service name gets the common form; it must parse too.
	if _, err := policy.Parse(kms.AWSManagedKeyPolicy("sqs", "cn-north-1", "111122223333"), policy.KeyPolicy); err != nil {
		t.Errorf("generic policy does not parse: %v", err)
	}
}

// steppingClock returns a clock that moves one second per reading, so
// that a Service with a CacheTTL below a second reloads every key from
// the store.
func steppingClock() func() time.Time {
	t := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

// Even when the stored policy of an AWS managed key allowed everything
// (written outside the API), the operations that change the key are
// refused after authorization, with the answer the AWS managed key
// policy gives; reading the key and its policy still works.
func TestAWSManagedKeyRefusedDespitePolicy(t *testing.T) {
	svc, st := newService(t, kms.Config{CacheTTL: time.Millisecond, Now: steppingClock()})
	ctx := t.Context()
	mk, err := svc.CreateAWSManagedKey(ctx, testCaller, "s3", "", false)
	if err != nil {
		t.Fatal(err)
	}
	keyID, arn := *mk.KeyMetadata.KeyId, *mk.KeyMetadata.Arn
	if _, err := st.UpdateKey(ctx, store.KeyRef{Region: "us-east-1", KeyID: keyID}, func(k *store.Key) error {
		k.Policy = kms.DefaultKeyPolicy("aws", kms.DefaultAccountID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: &keyID}); err != nil {
		t.Fatalf("DescribeKey: %v", err)
	}
	// Encrypt is not a change: with the altered policy it is allowed.
	if _, err := svc.Encrypt(ctx, testCaller, &wire.EncryptRequest{KeyId: &keyID, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("Encrypt under the altered policy: %v", err)
	}
	calls := map[string]func() error{
		"kms:PutKeyPolicy": func() error {
			return svc.PutKeyPolicy(ctx, testCaller, &wire.PutKeyPolicyRequest{KeyId: &keyID, Policy: wire.Ptr(kms.DefaultKeyPolicy("aws", kms.DefaultAccountID))})
		},
		"kms:DisableKey": func() error { return svc.DisableKey(ctx, testCaller, &wire.DisableKeyRequest{KeyId: &keyID}) },
		"kms:ScheduleKeyDeletion": func() error {
			_, err := svc.ScheduleKeyDeletion(ctx, testCaller, &wire.ScheduleKeyDeletionRequest{KeyId: &keyID})
			return err
		},
		"kms:UpdateKeyDescription": func() error {
			return svc.UpdateKeyDescription(ctx, testCaller, &wire.UpdateKeyDescriptionRequest{KeyId: &keyID, Description: wire.Ptr("x")})
		},
		"kms:TagResource": func() error {
			return svc.TagResource(ctx, testCaller, &wire.TagResourceRequest{KeyId: &keyID, Tags: []wire.Tag{{TagKey: wire.Ptr("a"), TagValue: wire.Ptr("b")}}})
		},
		"kms:CreateAlias": func() error {
			return svc.CreateAlias(ctx, testCaller, &wire.CreateAliasRequest{AliasName: wire.Ptr("alias/mine"), TargetKeyId: &keyID})
		},
	}
	for action, call := range calls {
		want := "User: arn:aws:iam::111122223333:root is not authorized to perform: " + action + " on resource: " + arn +
			" because no resource-based policy allows the " + action + " action"
		var we *wire.Error
		if err := call(); !errors.As(err, &we) || we.Code != "AccessDeniedException" || we.Message != want {
			t.Errorf("%s: err = %v, want AccessDeniedException %q", action, err, want)
		}
	}
	md, err := svc.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: &keyID})
	if err != nil {
		t.Fatal(err)
	}
	if *md.KeyMetadata.KeyState != "Enabled" || *md.KeyMetadata.Description != "Default key that protects my S3 objects when no other key is defined" {
		t.Errorf("key changed: state %s, description %q", *md.KeyMetadata.KeyState, *md.KeyMetadata.Description)
	}
}

// The admin call is idempotent, refuses IAM users and callers of other
// accounts, and validates the service name.
func TestCreateAWSManagedKeyCallers(t *testing.T) {
	svc, _ := newService(t, kms.Config{})
	ctx := t.Context()
	a, err := svc.CreateAWSManagedKey(ctx, testCaller, "ebs", "", false)
	if err != nil || !a.Created || a.AliasName != "alias/aws/ebs" || *a.KeyMetadata.KeyManager != "AWS" {
		t.Fatalf("first create = %+v, %v", a, err)
	}
	b, err := svc.CreateAWSManagedKey(ctx, testCaller, "ebs", "", false)
	if err != nil || b.Created || *b.KeyMetadata.KeyId != *a.KeyMetadata.KeyId {
		t.Fatalf("second create = %+v, %v; want the same key, not created", b, err)
	}
	user := &kms.Caller{AccountID: kms.DefaultAccountID, Principal: "arn:aws:iam::111122223333:user/alice", Region: "us-east-1",
		Identity: policy.Principal{Type: policy.PrincipalUser, ARN: "arn:aws:iam::111122223333:user/alice", Account: kms.DefaultAccountID,
			UserID: "AIDAEXAMPLE", Username: "alice"}}
	var we *wire.Error
	_, err = svc.CreateAWSManagedKey(ctx, user, "s3", "", false)
	if !errors.As(err, &we) || we.Code != "AccessDeniedException" ||
		we.Message != "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: trent:CreateAWSManagedKey because only the account's root user or the management account's root user may" {
		t.Errorf("as an IAM user: %v", err)
	}
	_, err = svc.CreateAWSManagedKey(ctx, testCaller, "s3", "444455556666", false)
	if !errors.As(err, &we) || we.Code != "AccessDeniedException" {
		t.Errorf("for another account, not as the operator: %v", err)
	}
	_, err = svc.CreateAWSManagedKey(ctx, testCaller, "s3", "444455556666", true)
	if !errors.As(err, &we) || we.Code != "NotFoundException" || we.Message != "Account 444455556666 does not exist." {
		t.Errorf("for an unknown account: %v", err)
	}
	for _, bad := range []string{"", "S3", "aws/s3", "s3!", "-s3"} {
		_, err = svc.CreateAWSManagedKey(ctx, testCaller, bad, "", false)
		if !errors.As(err, &we) || we.Code != "ValidationException" {
			t.Errorf("service %q: %v, want ValidationException", bad, err)
		}
	}
}
