package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestGrantsEndToEnd drives grants through the AWS SDK against a real
// server, with the roots of two accounts: A owns the keys, B gets grants.
func TestGrantsEndToEnd(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	svc := n.srv.Service()
	const acctB = "444455556666"
	rootA, rootB := "arn:aws:iam::111122223333:root", "arn:aws:iam::"+acctB+":root"
	mustOK(t, "EnsureAccount", svc.EnsureAccount(ctx, acctB))
	creds, err := svc.CreateAccessKey(ctx, acctB, "", "")
	mustOK(t, "CreateAccessKey", err)
	a := n.client("us-east-1")
	b := n.clientWith("us-east-1", creds.AccessKeyID, creds.SecretAccessKey)

	newKey := func() string {
		k, err := a.CreateKey(ctx, &kms.CreateKeyInput{})
		mustOK(t, "CreateKey", err)
		return *k.KeyMetadata.Arn
	}
	encryptB := func(key string, encCtx map[string]string, tokens ...string) error {
		_, err := b.Encrypt(ctx, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), EncryptionContext: encCtx, GrantTokens: tokens})
		return err
	}
	countGrants := func(key string) int {
		out, err := a.ListGrants(ctx, &kms.ListGrantsInput{KeyId: &key})
		mustOK(t, "ListGrants", err)
		return len(out.Grants)
	}
	billing := map[string]string{"app": "billing"}

	t.Run("use-within-operations-and-constraints", func(t *testing.T) {
		key := newKey()
		wantAPIError(t, encryptB(key, billing), "AccessDeniedException", "*")
		g, err := a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: &rootB, Name: aws.String("billing"),
			Operations:  []types.GrantOperation{types.GrantOperationEncrypt, types.GrantOperationDecrypt},
			Constraints: &types.GrantConstraints{EncryptionContextSubset: billing}})
		mustOK(t, "CreateGrant", err)
		// The token, before the grant is ever listed.
		enc, err := b.Encrypt(ctx, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("granted"), GrantTokens: []string{*g.GrantToken},
			EncryptionContext: map[string]string{"app": "billing", "extra": "pair"}})
		mustOK(t, "Encrypt with the token", err)
		dec, err := b.Decrypt(ctx, &kms.DecryptInput{KeyId: &key, CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"app": "billing", "extra": "pair"}})
		mustOK(t, "Decrypt under the grant", err)
		if string(dec.Plaintext) != "granted" {
			t.Fatalf("plaintext %q", dec.Plaintext)
		}
		wantAPIError(t, encryptB(key, map[string]string{"App": "billing"}), "AccessDeniedException", "*")
		wantAPIError(t, encryptB(key, map[string]string{"app": "Billing"}), "AccessDeniedException", "*")
		wantAPIError(t, encryptB(key, nil), "AccessDeniedException", "*")
		_, err = b.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &key, KeySpec: types.DataKeySpecAes256, EncryptionContext: billing})
		wantAPIError(t, err, "AccessDeniedException", "*")
		_, err = b.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &key})
		wantAPIError(t, err, "AccessDeniedException", "*")

		list, err := a.ListGrants(ctx, &kms.ListGrantsInput{KeyId: &key})
		mustOK(t, "ListGrants", err)
		if len(list.Grants) != 1 {
			t.Fatalf("ListGrants: %+v", list.Grants)
		}
		e := list.Grants[0]
		if *e.KeyId != key || *e.GrantId != *g.GrantId || *e.Name != "billing" || e.CreationDate == nil || *e.GranteePrincipal != rootB ||
			*e.IssuingAccount != rootA || len(e.Operations) != 2 || e.Constraints.EncryptionContextSubset["app"] != "billing" {
			t.Errorf("grant entry %+v", e)
		}

		// Equals: exactly the context.
		key2 := newKey()
		_, err = a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key2, GranteePrincipal: &rootB, Operations: []types.GrantOperation{types.GrantOperationEncrypt},
			Constraints: &types.GrantConstraints{EncryptionContextEquals: billing}})
		mustOK(t, "CreateGrant", err)
		mustOK(t, "Encrypt with the exact context", encryptB(key2, billing))
		wantAPIError(t, encryptB(key2, map[string]string{"app": "billing", "extra": "pair"}), "AccessDeniedException", "*")
	})

	t.Run("deny-over-grant", func(t *testing.T) {
		key := newKey()
		_, err := a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: &rootB, Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
		mustOK(t, "CreateGrant", err)
		mustOK(t, "Encrypt under the grant", encryptB(key, nil))
		_, err = a.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &key, Policy: aws.String(`{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
			{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:Encrypt","Resource":"*"}]}`)})
		mustOK(t, "PutKeyPolicy", err)
		wantAPIError(t, encryptB(key, nil), "AccessDeniedException",
			"User: arn:aws:iam::444455556666:root is not authorized to perform: kms:Encrypt on this resource because the resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly denies access")
	})

	t.Run("child-grants", func(t *testing.T) {
		key := newKey()
		_, err := a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: &rootB,
			Operations:  []types.GrantOperation{types.GrantOperationDecrypt, types.GrantOperationCreateGrant},
			Constraints: &types.GrantConstraints{EncryptionContextSubset: billing}})
		mustOK(t, "CreateGrant", err)
		_, err = b.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: &rootA, Operations: []types.GrantOperation{types.GrantOperationDecrypt},
			Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"app": "billing", "team": "x"}}})
		mustOK(t, "child grant, stricter", err)
		_, err = b.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: &rootA, Operations: []types.GrantOperation{types.GrantOperationEncrypt},
			Constraints: &types.GrantConstraints{EncryptionContextSubset: billing}})
		wantAPIError(t, err, "AccessDeniedException", "*")
		_, err = b.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: &rootA, Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
		wantAPIError(t, err, "AccessDeniedException", "*")
		if got := countGrants(key); got != 2 {
			t.Errorf("%d grants, want 2", got)
		}
	})

	t.Run("retire-and-revoke", func(t *testing.T) {
		key := newKey()
		create := func(in kms.CreateGrantInput) *kms.CreateGrantOutput {
			in.KeyId = &key
			out, err := a.CreateGrant(ctx, &in)
			mustOK(t, "CreateGrant", err)
			return out
		}
		decrypt := []types.GrantOperation{types.GrantOperationDecrypt}
		// The grantee without RetireGrant may not retire; the retiring
		// principal may, by token.
		g := create(kms.CreateGrantInput{GranteePrincipal: &rootB, Operations: decrypt})
		_, err := b.RetireGrant(ctx, &kms.RetireGrantInput{KeyId: &key, GrantId: g.GrantId})
		wantAPIError(t, err, "AccessDeniedException", "*")
		_, err = a.RetireGrant(ctx, &kms.RetireGrantInput{GrantToken: g.GrantToken})
		mustOK(t, "RetireGrant by the issuing account", err)

		g = create(kms.CreateGrantInput{GranteePrincipal: &rootA, RetiringPrincipal: &rootB, Operations: decrypt})
		_, err = b.RetireGrant(ctx, &kms.RetireGrantInput{GrantToken: g.GrantToken, DryRun: aws.Bool(true)})
		wantAPIError(t, err, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
		if countGrants(key) != 1 {
			t.Fatal("DryRun retired the grant")
		}
		_, err = b.RetireGrant(ctx, &kms.RetireGrantInput{GrantToken: g.GrantToken})
		mustOK(t, "RetireGrant by the retiring principal", err)

		g = create(kms.CreateGrantInput{GranteePrincipal: &rootB, Operations: []types.GrantOperation{types.GrantOperationDecrypt, types.GrantOperationRetireGrant}})
		_, err = b.RetireGrant(ctx, &kms.RetireGrantInput{KeyId: &key, GrantId: g.GrantId})
		mustOK(t, "RetireGrant by the grantee with RetireGrant", err)
		if countGrants(key) != 0 {
			t.Fatal("grants remain after retiring")
		}

		// Revoke: the key's administrator (A), not the grantee.
		g = create(kms.CreateGrantInput{GranteePrincipal: &rootB, Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
		mustOK(t, "Encrypt under the grant", encryptB(key, nil))
		_, err = b.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: &key, GrantId: g.GrantId})
		wantAPIError(t, err, "AccessDeniedException", "*")
		_, err = a.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: &key, GrantId: g.GrantId, DryRun: aws.Bool(true)})
		wantAPIError(t, err, "DryRunOperationException", "*")
		mustOK(t, "Encrypt after a DryRun revoke", encryptB(key, nil))
		_, err = a.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: &key, GrantId: g.GrantId})
		mustOK(t, "RevokeGrant", err)
		wantAPIError(t, encryptB(key, nil), "AccessDeniedException", "*")
		wantAPIError(t, encryptB(key, nil, *g.GrantToken), "AccessDeniedException", "*")
	})

	t.Run("dry-run-creates-nothing", func(t *testing.T) {
		key := newKey()
		_, err := a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: &rootB, Operations: []types.GrantOperation{types.GrantOperationEncrypt}, DryRun: aws.Bool(true)})
		wantAPIError(t, err, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
		if countGrants(key) != 0 {
			t.Fatal("DryRun created a grant")
		}
		wantAPIError(t, encryptB(key, nil), "AccessDeniedException", "*")
	})

	t.Run("errors", func(t *testing.T) {
		key := newKey()
		_, err := a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: &rootB, Operations: []types.GrantOperation{types.GrantOperationSign}})
		wantAPIError(t, err, "ValidationException", "Grant operations [Sign] are not supported for a KMS key with KeySpec SYMMETRIC_DEFAULT and KeyUsage ENCRYPT_DECRYPT.")
		_, err = a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: &rootB, Operations: []types.GrantOperation{"ScheduleKeyDeletion"}})
		wantAPIError(t, err, "ValidationException", "*")
		_, err = b.Encrypt(ctx, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), GrantTokens: []string{"Zm9yZ2Vk"}})
		wantAPIError(t, err, "InvalidGrantTokenException", "The request was rejected because the specified grant token is not valid.")
		eleven := make([]string, 11)
		for i := range eleven {
			eleven[i] = "t"
		}
		_, err = a.Encrypt(ctx, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), GrantTokens: eleven})
		wantAPIError(t, err, "ValidationException", "*")
	})
}
