package server_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/server"
)

// startClockNodeIn starts a node on dir whose KMS service reads clk, with
// the background deleter, rotator and usage flusher slowed to once an
// hour: a test moves the clock and decides itself when they run (each
// still runs once when the node starts, and the flusher at shutdown).
func startClockNodeIn(t *testing.T, dir string, clk *testClock) *node {
	t.Helper()
	return startNodeIn(t, dir, func(c *server.Config) {
		c.Now = clk.Now
		c.DeletionInterval = time.Hour
		c.RotationInterval = time.Hour
		c.UsageFlushInterval = time.Hour
	})
}

func encryptAs(t *testing.T, c *kms.Client, keyID, pt string) []byte {
	t.Helper()
	out, err := c.Encrypt(context.Background(), &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte(pt),
		EncryptionContext: map[string]string{"purpose": "rotation"}})
	mustOK(t, "Encrypt", err)
	return out.CiphertextBlob
}

// decryptMaterial decrypts blob and returns the material id Decrypt
// reports, checking the plaintext.
func decryptMaterial(t *testing.T, c *kms.Client, blob []byte, want string) string {
	t.Helper()
	out, err := c.Decrypt(context.Background(), &kms.DecryptInput{CiphertextBlob: blob,
		EncryptionContext: map[string]string{"purpose": "rotation"}})
	mustOK(t, "Decrypt", err)
	if string(out.Plaintext) != want || out.KeyMaterialId == nil {
		t.Fatalf("Decrypt = %q, material %v; want %q", out.Plaintext, out.KeyMaterialId, want)
	}
	return *out.KeyMaterialId
}

func listRotations(t *testing.T, c *kms.Client, in *kms.ListKeyRotationsInput) []types.RotationsListEntry {
	t.Helper()
	var all []types.RotationsListEntry
	for {
		out, err := c.ListKeyRotations(context.Background(), in)
		mustOK(t, "ListKeyRotations", err)
		all = append(all, out.Rotations...)
		if !out.Truncated {
			return all
		}
		in.Marker = out.NextMarker
	}
}

// TestRotateOnDemandKeepsOldCiphertext rotates a key twice on demand: a
// ciphertext made before the rotations still decrypts and reports the
// material that made it, new ciphertext uses the current material, and
// DescribeKey, GenerateDataKey, ReEncrypt and ListKeyRotations agree on
// which one that is.
func TestRotateOnDemandKeepsOldCiphertext(t *testing.T) {
	n := startNode(t)
	c := n.client("us-east-1")
	ctx := context.Background()
	md := newKey(t, c)
	id := *md.KeyId
	m0 := *md.CurrentKeyMaterialId
	ct0 := encryptAs(t, c, id, "before")

	out, err := c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})
	mustOK(t, "RotateKeyOnDemand", err)
	if *out.KeyId != *md.Arn {
		t.Errorf("RotateKeyOnDemand KeyId = %s, want %s", *out.KeyId, *md.Arn)
	}
	ct1 := encryptAs(t, c, id, "between")
	mustOK(t, "RotateKeyOnDemand", second(c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: md.Arn})))
	m2 := *describe(t, c, id).CurrentKeyMaterialId

	if got := decryptMaterial(t, c, ct0, "before"); got != m0 {
		t.Errorf("ciphertext from before the rotations reports material %s, want %s", got, m0)
	}
	m1 := decryptMaterial(t, c, ct1, "between")
	if m1 == m0 || m1 == m2 || m2 == m0 {
		t.Fatalf("materials %s, %s, %s are not distinct", m0, m1, m2)
	}
	if got := decryptMaterial(t, c, encryptAs(t, c, id, "after"), "after"); got != m2 {
		t.Errorf("new ciphertext uses material %s, want the current %s", got, m2)
	}
	dk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &id, KeySpec: types.DataKeySpecAes256})
	mustOK(t, "GenerateDataKey", err)
	if *dk.KeyMaterialId != m2 {
		t.Errorf("GenerateDataKey KeyMaterialId = %s, want %s", *dk.KeyMaterialId, m2)
	}
	re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: ct0, DestinationKeyId: &id,
		SourceEncryptionContext: map[string]string{"purpose": "rotation"}, DestinationEncryptionContext: map[string]string{"purpose": "rotation"}})
	mustOK(t, "ReEncrypt", err)
	if *re.SourceKeyMaterialId != m0 || *re.DestinationKeyMaterialId != m2 {
		t.Errorf("ReEncrypt materials %s -> %s, want %s -> %s", *re.SourceKeyMaterialId, *re.DestinationKeyMaterialId, m0, m2)
	}
	if got := decryptMaterial(t, c, re.CiphertextBlob, "before"); got != m2 {
		t.Errorf("re-encrypted ciphertext reports material %s, want %s", got, m2)
	}

	rs := listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: &id})
	if len(rs) != 2 {
		t.Fatalf("ListKeyRotations = %d entries, want 2", len(rs))
	}
	for i, want := range []struct {
		mid   string
		state types.KeyMaterialState
	}{{m1, types.KeyMaterialStateNonCurrent}, {m2, types.KeyMaterialStateCurrent}} {
		r := rs[i]
		if *r.KeyId != id || *r.KeyMaterialId != want.mid || r.KeyMaterialState != want.state ||
			r.RotationType != types.RotationTypeOnDemand || r.RotationDate == nil {
			t.Errorf("rotation %d = %s %s %s %s %v, want %s %s ON_DEMAND", i, *r.KeyId, *r.KeyMaterialId, r.KeyMaterialState, r.RotationType, r.RotationDate, want.mid, want.state)
		}
	}
	all := listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: &id, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial, Limit: aws.Int32(1)})
	if len(all) != 3 || *all[0].KeyMaterialId != m0 || all[0].RotationDate != nil || all[0].RotationType != "" ||
		all[0].KeyMaterialState != types.KeyMaterialStateNonCurrent || *all[2].KeyMaterialId != m2 {
		t.Fatalf("ListKeyRotations ALL_KEY_MATERIAL one at a time = %+v", all)
	}
	_, err = c.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: &id, Marker: aws.String("bm90LWEtbWF0ZXJpYWw")})
	wantAPIError(t, err, "InvalidMarkerException", "Invalid marker")

	// On-demand rotation leaves automatic rotation off.
	st, err := c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	mustOK(t, "GetKeyRotationStatus", err)
	if st.KeyRotationEnabled || st.NextRotationDate != nil || st.RotationPeriodInDays != nil || st.OnDemandRotationStartDate != nil {
		t.Errorf("status after on-demand rotations = %+v", st)
	}
}

// TestKeyRotationStatusAndErrors checks EnableKeyRotation,
// DisableKeyRotation and GetKeyRotationStatus, and the errors of every
// rotation operation for keys that cannot rotate or are in the wrong
// state: the state is checked before the key type.
func TestKeyRotationStatusAndErrors(t *testing.T) {
	n, clk := startNodeWithClock(t)
	c := n.client("us-east-1")
	ctx := context.Background()
	md := newKey(t, c)
	id := *md.KeyId

	st, err := c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	mustOK(t, "GetKeyRotationStatus", err)
	if st.KeyRotationEnabled || *st.KeyId != *md.Arn || st.RotationPeriodInDays != nil || st.NextRotationDate != nil {
		t.Fatalf("status of a new key = %+v", st)
	}
	mustOK(t, "EnableKeyRotation", second(c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id})))
	st, err = c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: md.Arn})
	mustOK(t, "GetKeyRotationStatus", err)
	if want := clk.Now().Add(365 * 24 * time.Hour); !st.KeyRotationEnabled || *st.RotationPeriodInDays != 365 || !st.NextRotationDate.Equal(want) {
		t.Fatalf("status after EnableKeyRotation = %v %v %v, want true 365 %v", st.KeyRotationEnabled, aws.ToInt32(st.RotationPeriodInDays), st.NextRotationDate, want)
	}
	mustOK(t, "EnableKeyRotation", second(c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: aws.Int32(90)})))
	st, _ = c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if *st.RotationPeriodInDays != 90 || !st.NextRotationDate.Equal(clk.Now().Add(90*24*time.Hour)) {
		t.Fatalf("status after changing the period = %v %v", aws.ToInt32(st.RotationPeriodInDays), st.NextRotationDate)
	}
	for _, days := range []int32{89, 2561} {
		_, err := c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: aws.Int32(days)})
		wantAPIError(t, err, "ValidationException", "*")
	}

	// Disabled: the status is kept; Enable/Disable/RotateKeyOnDemand are
	// DisabledException.
	mustOK(t, "DisableKey", second(c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &id})))
	st, _ = c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if !st.KeyRotationEnabled {
		t.Error("disabling the key turned rotation off")
	}
	disabled := *md.Arn + " is disabled."
	_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id})
	wantAPIError(t, err, "DisabledException", disabled)
	_, err = c.DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: &id})
	wantAPIError(t, err, "DisabledException", disabled)
	_, err = c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})
	wantAPIError(t, err, "DisabledException", disabled)
	mustOK(t, "EnableKey", second(c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id})))

	// Pending deletion: the status reads false, and comes back when the
	// deletion is cancelled.
	mustOK(t, "ScheduleKeyDeletion", second(c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id})))
	st, _ = c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if st.KeyRotationEnabled || st.NextRotationDate != nil {
		t.Errorf("status of a key pending deletion = %+v", st)
	}
	_, err = c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})
	wantAPIError(t, err, "KMSInvalidStateException", *md.Arn+" is pending deletion.")
	_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id})
	wantAPIError(t, err, "KMSInvalidStateException", *md.Arn+" is pending deletion.")
	mustOK(t, "CancelKeyDeletion", second(c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: &id})))
	mustOK(t, "EnableKey", second(c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id})))
	st, _ = c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if !st.KeyRotationEnabled || *st.RotationPeriodInDays != 90 {
		t.Errorf("status after cancelling the deletion = %+v", st)
	}
	mustOK(t, "DisableKeyRotation", second(c.DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: &id})))
	st, _ = c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if st.KeyRotationEnabled || st.RotationPeriodInDays != nil || st.NextRotationDate != nil {
		t.Errorf("status after DisableKeyRotation = %+v", st)
	}

	// Keys that cannot rotate.
	for _, spec := range []struct {
		spec  types.KeySpec
		usage types.KeyUsageType
	}{{types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt}, {types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac}, {types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify}} {
		out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec.spec, KeyUsage: spec.usage})
		mustOK(t, "CreateKey", err)
		kid := out.KeyMetadata.KeyId
		st, err := c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: kid})
		mustOK(t, "GetKeyRotationStatus "+string(spec.spec), err)
		if st.KeyRotationEnabled {
			t.Errorf("%s: KeyRotationEnabled true", spec.spec)
		}
		_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: kid})
		wantAPIError(t, err, "UnsupportedOperationException", "")
		_, err = c.DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: kid})
		wantAPIError(t, err, "UnsupportedOperationException", "")
		_, err = c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: kid})
		wantAPIError(t, err, "UnsupportedOperationException", "")
		_, err = c.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: kid})
		wantAPIError(t, err, "UnsupportedOperationException", "")
		// A Disabled key of a type that cannot rotate: the state first.
		mustOK(t, "DisableKey", second(c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: kid})))
		_, err = c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: kid})
		wantAPIError(t, err, "DisabledException", *out.KeyMetadata.Arn+" is disabled.")
	}

	// Unknown keys, and alias names, which these operations do not take.
	unknown := "1234abcd-12ab-34cd-56ef-1234567890ab"
	_, err = c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &unknown})
	wantAPIError(t, err, "NotFoundException", "Key '"+arnOf("us-east-1", unknown)+"' does not exist")
	newAlias(t, c, "alias/rotating", id)
	_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String("alias/rotating")})
	wantAPIError(t, err, "NotFoundException", "*")
	_, err = c.GetKeyLastUsage(ctx, &kms.GetKeyLastUsageInput{KeyId: aws.String("alias/rotating")})
	wantAPIError(t, err, "NotFoundException", "*")
}

// TestRotationPeriodCondition checks kms:RotationPeriodInDays in a key
// policy, with the default of 365 when the request omits the period.
func TestRotationPeriodCondition(t *testing.T) {
	n := startNode(t)
	c := n.client("us-east-1")
	ctx := context.Background()
	md := newKey(t, c)
	policy, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{
			map[string]any{"Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + testAccount + ":root"}, "Action": "kms:*", "Resource": "*"},
			map[string]any{"Effect": "Deny", "Principal": "*", "Action": "kms:EnableKeyRotation", "Resource": "*",
				"Condition": map[string]any{"NumericGreaterThan": map[string]any{"kms:RotationPeriodInDays": "180"}}},
		},
	})
	mustOK(t, "PutKeyPolicy", second(c.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: md.KeyId, Policy: aws.String(string(policy))})))
	_, err := c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: md.KeyId})
	wantAPIError(t, err, "AccessDeniedException", "*")
	_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: aws.Int32(181)})
	wantAPIError(t, err, "AccessDeniedException", "*")
	mustOK(t, "EnableKeyRotation 180", second(c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: aws.Int32(180)})))
}

// TestAutomaticRotationAcrossRestarts enables automatic rotation, stops
// the server, moves the clock past the rotation date and starts it again:
// the rotator resumes and rotates the key once, and neither a further
// sweep nor another restart rotates it again. A ciphertext made before the
// rotation still decrypts with its material.
func TestAutomaticRotationAcrossRestarts(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	dir := privateDir(t)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	ctx := context.Background()

	n := startClockNodeIn(t, dir, clk)
	c := n.client("us-east-1")
	md := newKey(t, c)
	id := *md.KeyId
	ct0 := encryptAs(t, c, id, "old")
	mustOK(t, "EnableKeyRotation", second(c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: aws.Int32(90)})))
	enabledAt := clk.Now()
	n.stop()

	clk.Advance(90*24*time.Hour + time.Minute)
	n = startClockNodeIn(t, dir, clk)
	c = n.client("us-east-1")
	// The rotator runs when the node starts; wait for its sweep.
	var rs []types.RotationsListEntry
	for deadline := time.Now().Add(30 * time.Second); ; {
		rs = listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: &id})
		if len(rs) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(rs) != 1 || rs[0].RotationType != types.RotationTypeAutomatic || !rs[0].RotationDate.Equal(clk.Now()) {
		t.Fatalf("rotations after the restart = %+v", rs)
	}
	if got, err := n.srv.Service().RotateDueKeys(ctx); err != nil || got != 0 {
		t.Fatalf("RotateDueKeys after the rotation = %d, %v; want 0", got, err)
	}
	st, err := c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	mustOK(t, "GetKeyRotationStatus", err)
	if want := clk.Now().Add(90 * 24 * time.Hour); !st.NextRotationDate.Equal(want) || !want.After(enabledAt.Add(180*24*time.Hour)) {
		t.Errorf("NextRotationDate = %v, want %v", st.NextRotationDate, want)
	}
	if got := decryptMaterial(t, c, ct0, "old"); got != *md.CurrentKeyMaterialId {
		t.Errorf("old ciphertext reports material %s, want %s", got, *md.CurrentKeyMaterialId)
	}
	m1 := *describe(t, c, id).CurrentKeyMaterialId
	if got := decryptMaterial(t, c, encryptAs(t, c, id, "new"), "new"); got != m1 || m1 != *rs[0].KeyMaterialId {
		t.Errorf("new ciphertext uses %s; current %s, rotated %s", got, m1, *rs[0].KeyMaterialId)
	}
	n.stop()

	// Another restart at the same time: nothing is due, nothing rotates.
	n = startClockNodeIn(t, dir, clk)
	c = n.client("us-east-1")
	if got, err := n.srv.Service().RotateDueKeys(ctx); err != nil || got != 0 {
		t.Fatalf("RotateDueKeys after a second restart = %d, %v; want 0", got, err)
	}
	if rs := listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: &id}); len(rs) != 1 {
		t.Fatalf("%d rotations after a second restart, want 1", len(rs))
	}
	// One more period: the second automatic rotation.
	clk.Advance(90 * 24 * time.Hour)
	if got, err := n.srv.Service().RotateDueKeys(ctx); err != nil || got != 1 {
		t.Fatalf("RotateDueKeys a period later = %d, %v; want 1", got, err)
	}
	if got := decryptMaterial(t, c, ct0, "old"); got != *md.CurrentKeyMaterialId {
		t.Errorf("after two rotations the old ciphertext reports material %s, want %s", got, *md.CurrentKeyMaterialId)
	}
}

// TestGetKeyLastUsage checks the last use of keys through the SDK: none
// for a new key, the operation, time and request id of the last
// successful cryptographic operation, both keys of a ReEncrypt, nothing
// for a failed request, and the use kept across a restart (flushed at
// shutdown).
func TestGetKeyLastUsage(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	dir := privateDir(t)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	ctx := context.Background()
	n := startClockNodeIn(t, dir, clk)
	c := n.client("us-east-1")

	a, b := newKey(t, c), newKey(t, c)
	last := func(c *kms.Client, md *types.KeyMetadata) *kms.GetKeyLastUsageOutput {
		t.Helper()
		out, err := c.GetKeyLastUsage(ctx, &kms.GetKeyLastUsageInput{KeyId: md.Arn})
		mustOK(t, "GetKeyLastUsage", err)
		if *out.KeyId != *md.Arn || !out.KeyCreationDate.Equal(*md.CreationDate) || out.TrackingStartDate.Before(*md.CreationDate) {
			t.Fatalf("GetKeyLastUsage = %s created %v tracking from %v; key %s created %v", *out.KeyId, out.KeyCreationDate, out.TrackingStartDate, *md.Arn, md.CreationDate)
		}
		return out
	}
	if u := last(c, a); u.KeyLastUsage != nil || !u.TrackingStartDate.Equal(*a.CreationDate) {
		t.Fatalf("new key: KeyLastUsage %+v, TrackingStartDate %v", u.KeyLastUsage, u.TrackingStartDate)
	}
	clk.Advance(time.Minute)
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: a.KeyId, Plaintext: []byte("x")})
	mustOK(t, "Encrypt", err)
	encID, _ := awsmw.GetRequestIDMetadata(enc.ResultMetadata)
	u := last(c, a).KeyLastUsage
	if u == nil || u.Operation != types.KeyLastUsageTrackingOperationEncrypt || *u.KmsRequestId != encID || !u.Timestamp.Equal(clk.Now()) || u.CloudTrailEventId != nil {
		t.Fatalf("after Encrypt: %+v (request id %s)", u, encID)
	}
	// A failed Decrypt is not a use; a DryRun is not either.
	clk.Advance(time.Minute)
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"k": "v"}})
	wantAPIError(t, err, "InvalidCiphertextException", "*")
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: a.KeyId, Plaintext: []byte("x"), DryRun: aws.Bool(true)})
	wantAPIError(t, err, "DryRunOperationException", "*")
	if u := last(c, a).KeyLastUsage; *u.KmsRequestId != encID {
		t.Fatalf("a failed request changed the last use: %+v", u)
	}
	// ReEncrypt is a use of both keys.
	clk.Advance(time.Minute)
	re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: b.KeyId})
	mustOK(t, "ReEncrypt", err)
	reID, _ := awsmw.GetRequestIDMetadata(re.ResultMetadata)
	for _, md := range []*types.KeyMetadata{a, b} {
		u := last(c, md).KeyLastUsage
		if u == nil || u.Operation != types.KeyLastUsageTrackingOperationReEncrypt || *u.KmsRequestId != reID || !u.Timestamp.Equal(clk.Now()) {
			t.Fatalf("key %s after ReEncrypt: %+v", *md.KeyId, u)
		}
	}
	// The uses outlive a restart: the node flushes them when it stops.
	n.stop()
	n = startClockNodeIn(t, dir, clk)
	c = n.client("us-east-1")
	if u := last(c, b).KeyLastUsage; u == nil || *u.KmsRequestId != reID || u.Operation != types.KeyLastUsageTrackingOperationReEncrypt {
		t.Fatalf("after a restart: %+v", u)
	}
}

// TestRotateOnDemandLimitsE2E checks through the SDK the per-key limit of
// 25 on-demand rotations (LimitExceededException) and the
// ConflictException within 20 minutes of an automatic rotation.
func TestRotateOnDemandLimitsE2E(t *testing.T) {
	n, clk := startNodeWithClock(t)
	c := n.client("us-east-1")
	ctx := context.Background()
	md := newKey(t, c)
	for range 25 {
		mustOK(t, "RotateKeyOnDemand", second(c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: md.KeyId})))
	}
	_, err := c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: md.KeyId})
	wantAPIError(t, err, "LimitExceededException", "The on-demand rotation limit of 25 rotations for "+*md.Arn+" has been reached.")

	md = newKey(t, c)
	mustOK(t, "EnableKeyRotation", second(c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: aws.Int32(90)})))
	clk.Advance(90*24*time.Hour - 20*time.Minute)
	_, err = c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: md.KeyId})
	wantAPIError(t, err, "ConflictException", "An automatic rotation of "+*md.Arn+" is in progress or scheduled to begin within the next 20 minutes.")
	if rs := listRotations(t, c, &kms.ListKeyRotationsInput{KeyId: md.KeyId}); len(rs) != 0 {
		t.Fatalf("a refused rotation left %d rotations", len(rs))
	}
}
