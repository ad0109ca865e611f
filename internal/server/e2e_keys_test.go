package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// The expected messages below come from /tmp/aws-kms-facts.md (sections
// 1.1-1.5 and 2.1-2.4), which records what real AWS KMS sends.

func TestCreateKeyMetadata(t *testing.T) {
	n, clk := startNodeWithClock(t)
	ctx := context.Background()
	c := n.client("us-east-1")

	md := newKey(t, c)
	id := *md.KeyId
	if len(id) != 36 || strings.Count(id, "-") != 4 {
		t.Fatalf("KeyId %q is not a UUID", id)
	}
	if *md.AWSAccountId != testAccount || *md.Arn != arnOf("us-east-1", id) {
		t.Fatalf("account %s, ARN %s", *md.AWSAccountId, *md.Arn)
	}
	if !md.CreationDate.Equal(clk.Now()) {
		t.Errorf("CreationDate = %v, want the service clock's %v", md.CreationDate, clk.Now())
	}
	// AWS always sends Description, "" when none was given.
	if md.Description == nil || *md.Description != "" {
		t.Errorf("Description = %v, want \"\"", md.Description)
	}
	if md.CustomerMasterKeySpec != types.CustomerMasterKeySpecSymmetricDefault ||
		!slices.Equal(md.EncryptionAlgorithms, []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecSymmetricDefault}) ||
		md.DeletionDate != nil || md.PendingDeletionWindowInDays != nil || md.MultiRegionConfiguration != nil ||
		md.SigningAlgorithms != nil || md.MacAlgorithms != nil || md.ValidTo != nil || md.CustomKeyStoreId != nil {
		t.Errorf("unexpected metadata members: %+v", md)
	}

	d := describe(t, c, id)
	if *d.Arn != *md.Arn || !d.CreationDate.Equal(*md.CreationDate) || *d.CurrentKeyMaterialId != *md.CurrentKeyMaterialId ||
		d.KeyState != types.KeyStateEnabled || !d.Enabled {
		t.Errorf("DescribeKey differs from CreateKey: %+v", d)
	}

	withDesc, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("billing key"),
		Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("billing")}}})
	mustOK(t, "CreateKey with description", err)
	if *withDesc.KeyMetadata.Description != "billing key" {
		t.Errorf("Description = %q", *withDesc.KeyMetadata.Description)
	}
	tags, err := c.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: withDesc.KeyMetadata.KeyId})
	mustOK(t, "ListResourceTags", err)
	if len(tags.Tags) != 1 || *tags.Tags[0].TagKey != "team" || *tags.Tags[0].TagValue != "billing" {
		t.Errorf("tags = %+v", tags.Tags)
	}

	t.Run("validation", func(t *testing.T) {
		_, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeyUsage: "RANDOM"})
		wantAPIError(t, err, "ValidationException",
			"1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]")
		_, err = c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String(strings.Repeat("d", 8193))})
		wantAPIError(t, err, "ValidationException",
			"1 validation error detected: Value '"+strings.Repeat("d", 8193)+"' at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192")
		_, err = c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, CustomerMasterKeySpec: types.CustomerMasterKeySpecSymmetricDefault})
		wantAPIError(t, err, "ValidationException",
			"You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
		_, err = c.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String("{not json")})
		wantAPIError(t, err, "MalformedPolicyDocumentException", "*")
	})
}

func TestDescribeKeyIdentifiers(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	id := *md.KeyId
	newAlias(t, c, "alias/describe-me", id)

	for _, form := range []string{id, *md.Arn, "alias/describe-me", aliasARNOf("us-east-1", "alias/describe-me")} {
		if got := describe(t, c, form); *got.KeyId != id || *got.Arn != *md.Arn {
			t.Errorf("DescribeKey(%s) = %s", form, *got.Arn)
		}
	}

	const missing = "0f0e0d0c-0b0a-4909-8807-060504030201"
	const mrk = "mrk-d3b95762d3b95762d3b95762d3b95762"
	cases := []struct{ keyID, code, msg string }{
		{missing, "NotFoundException", "Key '" + arnOf("us-east-1", missing) + "' does not exist"},
		{arnOf("us-east-1", missing), "NotFoundException", "Key '" + arnOf("us-east-1", missing) + "' does not exist"},
		{mrk, "NotFoundException", "Key '" + arnOf("us-east-1", mrk) + "' does not exist"},
		{"fake-key-id", "NotFoundException", "Invalid keyId 'fake-key-id'"},
		{"134f2428cec14b25a1ae9048164dba47", "NotFoundException", "Invalid keyId '134f2428cec14b25a1ae9048164dba47'"},
		{"mrk-fake-key-id", "NotFoundException", "Invalid keyId 'mrk-fake-key-id'"},
		{"alias/nope", "NotFoundException", "Alias " + aliasARNOf("us-east-1", "alias/nope") + " is not found."},
		{aliasARNOf("us-east-1", "alias/nope"), "NotFoundException", "Alias " + aliasARNOf("us-east-1", "alias/nope") + " is not found."},
		{arnOf("eu-west-1", id), "NotFoundException", "Invalid arn eu-west-1"},
		{"arn:aws:s3:::bucket", "InvalidArnException", "*"},
		{"", "ValidationException", "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1"},
	}
	for _, tc := range cases {
		t.Run(tc.keyID, func(t *testing.T) {
			_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(tc.keyID)})
			wantAPIError(t, err, tc.code, tc.msg)
		})
	}
}

// keyOnlyOp is an operation whose key member takes a key id or key ARN but
// no alias.
type keyOnlyOp struct {
	name string
	// prep puts a fresh key into a state the operation accepts.
	prep func(t *testing.T, c *kms.Client, id string)
	call func(c *kms.Client, keyID string) error
}

func keyOnlyOps() []keyOnlyOp {
	ctx := context.Background()
	none := func(*testing.T, *kms.Client, string) {}
	var aliasSeq int
	return []keyOnlyOp{
		{"EnableKey", none, func(c *kms.Client, k string) error {
			_, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &k})
			return err
		}},
		{"DisableKey", none, func(c *kms.Client, k string) error {
			_, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &k})
			return err
		}},
		{"ScheduleKeyDeletion", none, func(c *kms.Client, k string) error {
			_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &k})
			return err
		}},
		{"CancelKeyDeletion", func(t *testing.T, c *kms.Client, id string) {
			_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id})
			mustOK(t, "ScheduleKeyDeletion", err)
		}, func(c *kms.Client, k string) error {
			_, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: &k})
			return err
		}},
		{"UpdateKeyDescription", none, func(c *kms.Client, k string) error {
			_, err := c.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: &k, Description: aws.String("x")})
			return err
		}},
		{"TagResource", none, func(c *kms.Client, k string) error {
			_, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: &k, Tags: []types.Tag{{TagKey: aws.String("k"), TagValue: aws.String("v")}}})
			return err
		}},
		{"UntagResource", none, func(c *kms.Client, k string) error {
			_, err := c.UntagResource(ctx, &kms.UntagResourceInput{KeyId: &k, TagKeys: []string{"k"}})
			return err
		}},
		{"ListResourceTags", none, func(c *kms.Client, k string) error {
			_, err := c.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: &k})
			return err
		}},
		{"GetKeyPolicy", none, func(c *kms.Client, k string) error {
			_, err := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &k})
			return err
		}},
		{"PutKeyPolicy", none, func(c *kms.Client, k string) error {
			_, err := c.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &k, Policy: aws.String(rootKeyPolicy)})
			return err
		}},
		{"ListKeyPolicies", none, func(c *kms.Client, k string) error {
			_, err := c.ListKeyPolicies(ctx, &kms.ListKeyPoliciesInput{KeyId: &k})
			return err
		}},
		{"ListAliases", none, func(c *kms.Client, k string) error {
			_, err := c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: &k})
			return err
		}},
		{"CreateAlias", none, func(c *kms.Client, k string) error {
			aliasSeq++
			_, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/created-" + string(rune('a'+aliasSeq))), TargetKeyId: &k})
			return err
		}},
		{"UpdateAlias", func(t *testing.T, c *kms.Client, id string) {
			_, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/to-update"), TargetKeyId: &id})
			if err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
				t.Fatal(err)
			}
		}, func(c *kms.Client, k string) error {
			_, err := c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/to-update"), TargetKeyId: &k})
			return err
		}},
	}
}

func TestKeyOnlyOperationsIdentifiers(t *testing.T) {
	n := startNode(t)
	c := n.client("us-east-1")
	const missing = "0f0e0d0c-0b0a-4909-8807-060504030201"
	for _, op := range keyOnlyOps() {
		t.Run(op.name, func(t *testing.T) {
			for _, form := range []string{"key-id", "key-arn"} {
				md := newKey(t, c)
				op.prep(t, c, *md.KeyId)
				k := *md.KeyId
				if form == "key-arn" {
					k = *md.Arn
				}
				if err := op.call(c, k); err != nil {
					t.Fatalf("%s with %s: %v", op.name, form, err)
				}
			}
			md := newKey(t, c)
			newAlias(t, c, "alias/"+strings.ToLower(op.name), *md.KeyId)
			op.prep(t, c, *md.KeyId)
			wantAPIError(t, op.call(c, "alias/"+strings.ToLower(op.name)), "NotFoundException",
				"Invalid keyId 'alias/"+strings.ToLower(op.name)+"'")
			wantAPIError(t, op.call(c, aliasARNOf("us-east-1", "alias/"+strings.ToLower(op.name))), "InvalidArnException",
				"Key Aliases are not supported for this operation.")
			wantAPIError(t, op.call(c, missing), "NotFoundException", "Key '"+arnOf("us-east-1", missing)+"' does not exist")
			wantAPIError(t, op.call(c, "not-a-key"), "NotFoundException", "Invalid keyId 'not-a-key'")
			wantAPIError(t, op.call(c, arnOf("ap-southeast-1", *md.KeyId)), "NotFoundException", "Invalid arn ap-southeast-1")
		})
	}
}

func TestEnableDisableKey(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	id := *md.KeyId

	_, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &id})
	mustOK(t, "DisableKey", err)
	if d := describe(t, c, id); d.KeyState != types.KeyStateDisabled || d.Enabled {
		t.Fatalf("after DisableKey: state %s, enabled %v", d.KeyState, d.Enabled)
	}
	// Disabling a disabled key (and enabling an enabled one) succeeds.
	_, err = c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &id})
	mustOK(t, "DisableKey again", err)
	_, err = c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: md.Arn})
	mustOK(t, "EnableKey", err)
	_, err = c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id})
	mustOK(t, "EnableKey again", err)
	if d := describe(t, c, id); d.KeyState != types.KeyStateEnabled || !d.Enabled {
		t.Fatalf("after EnableKey: state %s, enabled %v", d.KeyState, d.Enabled)
	}
}

func TestUpdateKeyDescription(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	_, err := c.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: md.KeyId, Description: aws.String("new text")})
	mustOK(t, "UpdateKeyDescription", err)
	if d := describe(t, c, *md.KeyId); *d.Description != "new text" {
		t.Fatalf("Description = %q", *d.Description)
	}
	_, err = c.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: md.KeyId, Description: aws.String("")})
	mustOK(t, "UpdateKeyDescription to empty", err)
	if d := describe(t, c, *md.KeyId); d.Description == nil || *d.Description != "" {
		t.Fatalf("Description = %v", d.Description)
	}
}

func TestScheduleKeyDeletion(t *testing.T) {
	n, clk := startNodeWithClock(t)
	ctx := context.Background()
	c := n.client("us-east-1")

	for _, tc := range []struct {
		window *int32
		days   int
	}{{nil, 30}, {aws.Int32(7), 7}, {aws.Int32(30), 30}, {aws.Int32(19), 19}} {
		md := newKey(t, c)
		out, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: tc.window})
		mustOK(t, "ScheduleKeyDeletion", err)
		want := clk.Now().Add(time.Duration(tc.days) * 24 * time.Hour)
		if *out.KeyId != *md.Arn || out.KeyState != types.KeyStatePendingDeletion || *out.PendingWindowInDays != int32(tc.days) ||
			!out.DeletionDate.Equal(want) {
			t.Errorf("window %d: KeyId %s, state %s, window %d, date %v (want %v)",
				tc.days, *out.KeyId, out.KeyState, *out.PendingWindowInDays, out.DeletionDate, want)
		}
		d := describe(t, c, *md.KeyId)
		if d.KeyState != types.KeyStatePendingDeletion || d.Enabled || d.DeletionDate == nil || !d.DeletionDate.Equal(want) ||
			d.PendingDeletionWindowInDays != nil {
			t.Errorf("DescribeKey while pending deletion: %+v", d)
		}
	}

	md := newKey(t, c)
	for _, tc := range []struct {
		days int32
		msg  string
	}{
		{1, "PendingWindowInDays must be between 7 and 30"},
		{6, "PendingWindowInDays must be between 7 and 30"},
		{31, "PendingWindowInDays must be between 7 and 30"},
		{365, "PendingWindowInDays must be between 7 and 30"},
		{0, "1 validation error detected: Value '0' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{366, "1 validation error detected: Value '366' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to 365"},
	} {
		_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(tc.days)})
		wantAPIError(t, err, "ValidationException", tc.msg)
	}
	if d := describe(t, c, *md.KeyId); d.KeyState != types.KeyStateEnabled {
		t.Fatalf("a rejected ScheduleKeyDeletion changed the key to %s", d.KeyState)
	}
}

func TestPendingDeletionState(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	id, arn := *md.KeyId, *md.Arn
	other := newKey(t, c)
	newAlias(t, c, "alias/pending", id)
	newAlias(t, c, "alias/other", *other.KeyId)
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("secret")})
	mustOK(t, "Encrypt", err)
	_, err = c.TagResource(ctx, &kms.TagResourceInput{KeyId: &id, Tags: []types.Tag{{TagKey: aws.String("t"), TagValue: aws.String("v")}}})
	mustOK(t, "TagResource", err)

	_, err = c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, "ScheduleKeyDeletion", err)

	pending := arn + " is pending deletion."
	rejected := map[string]error{}
	rejected["Encrypt"] = second(c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")}))
	rejected["Encrypt/alias"] = second(c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/pending"), Plaintext: []byte("x")}))
	rejected["Decrypt"] = second(c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}))
	rejected["Decrypt/KeyId"] = second(c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: &arn}))
	rejected["ReEncrypt/source"] = second(c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: other.KeyId}))
	rejected["GenerateDataKey"] = second(c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &id, KeySpec: types.DataKeySpecAes256}))
	rejected["GenerateDataKeyWithoutPlaintext"] = second(c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: &id, NumberOfBytes: aws.Int32(16)}))
	rejected["EnableKey"] = second(c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id}))
	rejected["DisableKey"] = second(c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &id}))
	rejected["ScheduleKeyDeletion"] = second(c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id}))
	rejected["UpdateKeyDescription"] = second(c.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: &id, Description: aws.String("d")}))
	rejected["TagResource"] = second(c.TagResource(ctx, &kms.TagResourceInput{KeyId: &id, Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}}))
	rejected["UntagResource"] = second(c.UntagResource(ctx, &kms.UntagResourceInput{KeyId: &id, TagKeys: []string{"t"}}))
	rejected["CreateAlias"] = second(c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/new"), TargetKeyId: &id}))
	rejected["UpdateAlias"] = second(c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/other"), TargetKeyId: &id}))
	for op, err := range rejected {
		t.Run("rejects/"+op, func(t *testing.T) { wantAPIError(t, err, "KMSInvalidStateException", pending) })
	}
	// ReEncrypt into a key pending deletion fails the same way.
	otherEnc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: other.KeyId, Plaintext: []byte("x")})
	mustOK(t, "Encrypt", err)
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: otherEnc.CiphertextBlob, DestinationKeyId: &id})
	wantAPIError(t, err, "KMSInvalidStateException", pending)

	// Reading operations and DeleteAlias work in any state.
	mustOK(t, "DescribeKey", second(c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/pending")})))
	mustOK(t, "GetKeyPolicy", second(c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &id})))
	mustOK(t, "PutKeyPolicy", second(c.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &id, Policy: aws.String(rootKeyPolicy)})))
	mustOK(t, "ListKeyPolicies", second(c.ListKeyPolicies(ctx, &kms.ListKeyPoliciesInput{KeyId: &id})))
	tags, err := c.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: &id})
	mustOK(t, "ListResourceTags", err)
	if len(tags.Tags) != 1 {
		t.Errorf("tags of a key pending deletion: %+v", tags.Tags)
	}
	al, err := c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: &id})
	mustOK(t, "ListAliases", err)
	if len(al.Aliases) != 1 || *al.Aliases[0].AliasName != "alias/pending" {
		t.Errorf("aliases of a key pending deletion: %+v", al.Aliases)
	}
	if !slices.ContainsFunc(listAllKeys(t, c, 0), func(e types.KeyListEntry) bool { return *e.KeyId == id }) {
		t.Error("ListKeys leaves out a key pending deletion")
	}
	mustOK(t, "DeleteAlias", second(c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/pending")})))

	// CancelKeyDeletion leaves the key Disabled, not Enabled.
	cancel, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: &id})
	mustOK(t, "CancelKeyDeletion", err)
	if *cancel.KeyId != arn {
		t.Errorf("CancelKeyDeletion KeyId = %s, want the ARN", *cancel.KeyId)
	}
	d := describe(t, c, id)
	if d.KeyState != types.KeyStateDisabled || d.Enabled || d.DeletionDate != nil {
		t.Errorf("after CancelKeyDeletion: state %s, enabled %v, deletion date %v", d.KeyState, d.Enabled, d.DeletionDate)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantAPIError(t, err, "DisabledException", arn+" is disabled.")
	_, err = c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: &id})
	wantAPIError(t, err, "KMSInvalidStateException", arn+" is not pending deletion.")
	mustOK(t, "EnableKey", second(c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id})))
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	mustOK(t, "Decrypt after cancel and enable", err)
	if string(dec.Plaintext) != "secret" {
		t.Errorf("Decrypt = %q", dec.Plaintext)
	}
}

// second returns the error of a two-result call.
func second[T any](_ T, err error) error { return err }

func TestKeyDeletedWhenWindowEnds(t *testing.T) {
	n, clk := startNodeWithClock(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	svc := n.srv.Service()

	doomed := newKey(t, c)
	kept := newKey(t, c)
	cancelled := newKey(t, c)
	newAlias(t, c, "alias/doomed-1", *doomed.KeyId)
	newAlias(t, c, "alias/doomed-2", *doomed.KeyId)
	newAlias(t, c, "alias/kept", *kept.KeyId)
	for _, md := range []*types.KeyMetadata{doomed, cancelled} {
		mustOK(t, "ScheduleKeyDeletion", second(c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)})))
	}
	mustOK(t, "CancelKeyDeletion", second(c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: cancelled.KeyId})))

	clk.Advance(7*24*time.Hour - time.Second)
	if got, err := svc.DeleteExpiredKeys(ctx); err != nil || got != 0 {
		t.Fatalf("DeleteExpiredKeys before the window ends = %d, %v", got, err)
	}
	describe(t, c, *doomed.KeyId)

	clk.Advance(time.Second)
	if got, err := svc.DeleteExpiredKeys(ctx); err != nil || got != 1 {
		t.Fatalf("DeleteExpiredKeys when the window ends = %d, %v; want 1", got, err)
	}
	notFound := "Key '" + *doomed.Arn + "' does not exist"
	_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: doomed.KeyId})
	wantAPIError(t, err, "NotFoundException", notFound)
	_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: doomed.Arn})
	wantAPIError(t, err, "NotFoundException", notFound)
	_, err = c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: doomed.KeyId})
	wantAPIError(t, err, "NotFoundException", notFound)
	for _, a := range []string{"alias/doomed-1", "alias/doomed-2"} {
		_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(a)})
		wantAPIError(t, err, "NotFoundException", "Alias "+aliasARNOf("us-east-1", a)+" is not found.")
		_, err = c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String(a)})
		wantAPIError(t, err, "NotFoundException", "Alias "+aliasARNOf("us-east-1", a)+" is not found.")
	}
	al, err := c.ListAliases(ctx, &kms.ListAliasesInput{})
	mustOK(t, "ListAliases", err)
	if len(al.Aliases) != 1 || *al.Aliases[0].AliasName != "alias/kept" {
		t.Errorf("aliases after deletion: %+v", al.Aliases)
	}
	var ids []string
	for _, e := range listAllKeys(t, c, 0) {
		ids = append(ids, *e.KeyId)
	}
	if slices.Contains(ids, *doomed.KeyId) || !slices.Contains(ids, *kept.KeyId) || !slices.Contains(ids, *cancelled.KeyId) {
		t.Errorf("keys after deletion: %v", ids)
	}
	// The names are free again.
	newAlias(t, c, "alias/doomed-1", *kept.KeyId)
	if d := describe(t, c, *cancelled.KeyId); d.KeyState != types.KeyStateDisabled {
		t.Errorf("cancelled key is %s", d.KeyState)
	}
}

// listAllKeys follows ListKeys pages of limit entries (0: the default).
func listAllKeys(t *testing.T, c *kms.Client, limit int32) []types.KeyListEntry {
	t.Helper()
	var all []types.KeyListEntry
	in := &kms.ListKeysInput{}
	if limit > 0 {
		in.Limit = &limit
	}
	for {
		out, err := c.ListKeys(context.Background(), in)
		mustOK(t, "ListKeys", err)
		all = append(all, out.Keys...)
		if !out.Truncated {
			if out.NextMarker != nil {
				t.Fatalf("NextMarker %q on the last page", *out.NextMarker)
			}
			return all
		}
		if limit > 0 && len(out.Keys) != int(limit) {
			t.Fatalf("truncated page has %d keys, limit %d", len(out.Keys), limit)
		}
		in.Marker = out.NextMarker
	}
}

func TestListKeysPaging(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	var want []string
	for range 7 {
		md := newKey(t, c)
		want = append(want, *md.KeyId)
	}
	slices.Sort(want)
	for _, limit := range []int32{0, 1, 2, 3, 7, 8, 1000} {
		var got []string
		for _, e := range listAllKeys(t, c, limit) {
			if *e.KeyArn != arnOf("us-east-1", *e.KeyId) {
				t.Errorf("KeyArn %s for %s", *e.KeyArn, *e.KeyId)
			}
			got = append(got, *e.KeyId)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: listed %v, want %v", limit, got, want)
		}
	}
	first, err := c.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(7)})
	mustOK(t, "ListKeys", err)
	if first.Truncated || first.NextMarker != nil || len(first.Keys) != 7 {
		t.Errorf("exact-fit page: truncated %v, marker %v, %d keys", first.Truncated, first.NextMarker, len(first.Keys))
	}
	p := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(3)})
	pages, count := 0, 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		mustOK(t, "ListKeysPaginator", err)
		pages++
		count += len(out.Keys)
	}
	if pages != 3 || count != 7 {
		t.Errorf("paginator: %d pages, %d keys", pages, count)
	}

	_, err = c.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(0)})
	wantAPIError(t, err, "ValidationException",
		"1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
	_, err = c.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(1001)})
	wantAPIError(t, err, "ValidationException",
		"1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000")
	_, err = c.ListKeys(ctx, &kms.ListKeysInput{Marker: aws.String("!!not a marker!!")})
	wantAPIError(t, err, "InvalidMarkerException", "*")
}

func TestRegionIsolation(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	us, eu, cn := n.client("us-east-1"), n.client("eu-west-1"), n.client("cn-north-1")

	usKey := newKey(t, us)
	newAlias(t, us, "alias/shared-name", *usKey.KeyId)
	if keys := listAllKeys(t, eu, 0); len(keys) != 0 {
		t.Errorf("eu-west-1 lists %d keys made in us-east-1", len(keys))
	}
	_, err := eu.Encrypt(ctx, &kms.EncryptInput{KeyId: usKey.KeyId, Plaintext: []byte("x")})
	wantAPIError(t, err, "NotFoundException", "Key '"+arnOf("eu-west-1", *usKey.KeyId)+"' does not exist")
	_, err = eu.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/shared-name")})
	wantAPIError(t, err, "NotFoundException", "Alias "+aliasARNOf("eu-west-1", "alias/shared-name")+" is not found.")
	_, err = eu.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(aliasARNOf("us-east-1", "alias/shared-name"))})
	wantAPIError(t, err, "NotFoundException", "Invalid arn us-east-1")
	al, err := eu.ListAliases(ctx, &kms.ListAliasesInput{})
	mustOK(t, "ListAliases", err)
	if len(al.Aliases) != 0 {
		t.Errorf("eu-west-1 lists aliases of us-east-1: %+v", al.Aliases)
	}
	euKey := newKey(t, eu)
	newAlias(t, eu, "alias/shared-name", *euKey.KeyId) // alias names are per region
	if *describe(t, eu, "alias/shared-name").KeyId != *euKey.KeyId || *describe(t, us, "alias/shared-name").KeyId != *usKey.KeyId {
		t.Error("an alias name resolves to the other region's key")
	}
	// A ciphertext from another region does not decrypt.
	enc, err := us.Encrypt(ctx, &kms.EncryptInput{KeyId: usKey.KeyId, Plaintext: []byte("x")})
	mustOK(t, "Encrypt", err)
	if _, err := eu.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err == nil {
		t.Error("eu-west-1 decrypted a us-east-1 ciphertext")
	}

	cnKey := newKey(t, cn)
	wantARN := "arn:aws-cn:kms:cn-north-1:" + testAccount + ":key/" + *cnKey.KeyId
	if *cnKey.Arn != wantARN {
		t.Fatalf("China key ARN = %s, want %s", *cnKey.Arn, wantARN)
	}
	if *describe(t, cn, wantARN).KeyId != *cnKey.KeyId {
		t.Error("DescribeKey by aws-cn ARN")
	}
	newAlias(t, cn, "alias/cn", *cnKey.KeyId)
	al, err = cn.ListAliases(ctx, &kms.ListAliasesInput{})
	mustOK(t, "ListAliases cn", err)
	if len(al.Aliases) != 1 || *al.Aliases[0].AliasArn != "arn:aws-cn:kms:cn-north-1:"+testAccount+":alias/cn" {
		t.Errorf("China aliases: %+v", al.Aliases)
	}
	keys := listAllKeys(t, cn, 0)
	if len(keys) != 1 || *keys[0].KeyArn != wantARN {
		t.Errorf("China keys: %+v", keys)
	}
	enc, err = cn.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/cn"), Plaintext: []byte("x")})
	mustOK(t, "Encrypt cn", err)
	if *enc.KeyId != wantARN {
		t.Errorf("Encrypt KeyId = %s", *enc.KeyId)
	}
	// An aws-partition ARN for a China region is not a valid ARN.
	_, err = cn.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("arn:aws:kms:cn-north-1:" + testAccount + ":key/" + *cnKey.KeyId)})
	wantAPIError(t, err, "InvalidArnException", "*")
}

// rootKeyPolicy is a key policy that gives the test account full access.
const rootKeyPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
