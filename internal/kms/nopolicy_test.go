package kms_test

import (
	"errors"
	"testing"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/wire"
)

// An IAM user with no identity policy is refused every KMS operation,
// even on keys whose default policy delegates to IAM: fail closed.
func TestUserWithoutPoliciesDenied(t *testing.T) {
	svc, _ := newService(t, kms.Config{})
	ck, err := svc.CreateKey(t.Context(), testCaller, &wire.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	user := &kms.Caller{AccountID: kms.DefaultAccountID, Principal: "arn:aws:iam::111122223333:user/alice", Region: "us-east-1",
		Identity: policy.Principal{Type: policy.PrincipalUser, ARN: "arn:aws:iam::111122223333:user/alice", Account: kms.DefaultAccountID,
			UserID: "AIDAEXAMPLE", Username: "alice"}}
	for _, c := range []*kms.Caller{user} {
		calls := map[string]func() error{
			"CreateKey":   func() error { _, err := svc.CreateKey(t.Context(), c, &wire.CreateKeyRequest{}); return err },
			"ListKeys":    func() error { _, err := svc.ListKeys(t.Context(), c, &wire.ListKeysRequest{}); return err },
			"ListAliases": func() error { _, err := svc.ListAliases(t.Context(), c, &wire.ListAliasesRequest{}); return err },
			"GenerateRandom": func() error {
				_, err := svc.GenerateRandom(t.Context(), c, &wire.GenerateRandomRequest{NumberOfBytes: wire.Ptr(int32(8))})
				return err
			},
			"DescribeKey": func() error {
				_, err := svc.DescribeKey(t.Context(), c, &wire.DescribeKeyRequest{KeyId: ck.KeyMetadata.KeyId})
				return err
			},
			"Encrypt": func() error {
				_, err := svc.Encrypt(t.Context(), c, &wire.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("x")})
				return err
			},
		}
		for name, call := range calls {
			var we *wire.Error
			if err := call(); !errors.As(err, &we) || we.Code != "AccessDeniedException" {
				t.Errorf("%s as %s: err = %v, want AccessDeniedException", name, c.Principal, err)
			}
		}
	}
	enc, err := svc.Encrypt(t.Context(), testCaller, &wire.EncryptRequest{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	var we *wire.Error
	if _, err := svc.Decrypt(t.Context(), user, &wire.DecryptRequest{CiphertextBlob: enc.CiphertextBlob}); !errors.As(err, &we) || we.Code != "AccessDeniedException" {
		t.Errorf("Decrypt without KeyId as a user: err = %v, want AccessDeniedException", err)
	}
}
