package server_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// Multi-Region keys in one deployment (docs/multi-region.md): every
// region the server serves is its own namespace, chosen by the region of
// the request's SigV4 credential scope, so a client per region talks to
// the same server.

var mrkID = regexp.MustCompile(`^mrk-[0-9a-f]{32}$`)

func newMRK(t *testing.T, c *kms.Client, in *kms.CreateKeyInput) *types.KeyMetadata {
	t.Helper()
	if in == nil {
		in = &kms.CreateKeyInput{}
	}
	in.MultiRegion = aws.Bool(true)
	out, err := c.CreateKey(context.Background(), in)
	mustOK(t, "CreateKey MultiRegion", err)
	return out.KeyMetadata
}

func replicate(t *testing.T, c *kms.Client, id, region string) *kms.ReplicateKeyOutput {
	t.Helper()
	out, err := c.ReplicateKey(context.Background(), &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: &region})
	mustOK(t, "ReplicateKey to "+region, err)
	return out
}

// wantConfig checks a key's MultiRegionConfiguration.
func wantConfig(t *testing.T, md *types.KeyMetadata, typ types.MultiRegionKeyType, primary string, replicas ...string) {
	t.Helper()
	cfg := md.MultiRegionConfiguration
	if md.MultiRegion == nil || !*md.MultiRegion || cfg == nil {
		t.Fatalf("%s: MultiRegion %v, configuration %+v", *md.Arn, md.MultiRegion, cfg)
	}
	id := *md.KeyId
	if cfg.MultiRegionKeyType != typ || *cfg.PrimaryKey.Region != primary || *cfg.PrimaryKey.Arn != arnOf(primary, id) {
		t.Errorf("%s: type %s, primary %s %s; want %s in %s", *md.Arn, cfg.MultiRegionKeyType, *cfg.PrimaryKey.Region, *cfg.PrimaryKey.Arn, typ, primary)
	}
	var got []string
	for _, r := range cfg.ReplicaKeys {
		if *r.Arn != arnOf(*r.Region, id) {
			t.Errorf("replica ARN %s in %s", *r.Arn, *r.Region)
		}
		got = append(got, *r.Region)
	}
	if !slices.Equal(got, replicas) {
		t.Errorf("%s: replicas %v, want %v", *md.Arn, got, replicas)
	}
}

func TestMultiRegionKeyReplicateAndUse(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	east, west, eu := n.client("us-east-1"), n.client("us-west-2"), n.client("eu-west-1")

	md := newMRK(t, east, &kms.CreateKeyInput{Description: aws.String("primary")})
	id := *md.KeyId
	if !mrkID.MatchString(id) || *md.Arn != arnOf("us-east-1", id) || md.KeyState != types.KeyStateEnabled {
		t.Fatalf("CreateKey: id %s, arn %s, state %s", id, *md.Arn, md.KeyState)
	}
	wantConfig(t, md, types.MultiRegionKeyTypePrimary, "us-east-1")
	// The key does not exist in another region until it is replicated.
	_, err := west.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
	wantAPIError(t, err, "NotFoundException", "Key '"+arnOf("us-west-2", id)+"' does not exist")

	ct := encryptAs(t, east, id, "made in us-east-1")

	out, err := east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: aws.String(*md.Arn), ReplicaRegion: aws.String("us-west-2"),
		Description: aws.String("replica"), Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("west")}}})
	mustOK(t, "ReplicateKey", err)
	r := out.ReplicaKeyMetadata
	// "the new replica key has a transient key state of Creating" (the model).
	if *r.KeyId != id || *r.Arn != arnOf("us-west-2", id) || r.KeyState != types.KeyStateCreating || r.Enabled ||
		*r.Description != "replica" || *r.CurrentKeyMaterialId != *md.CurrentKeyMaterialId || r.KeySpec != md.KeySpec {
		t.Fatalf("ReplicaKeyMetadata = %+v", r)
	}
	wantConfig(t, r, types.MultiRegionKeyTypeReplica, "us-east-1", "us-west-2")
	if !strings.Contains(*out.ReplicaPolicy, `"Id" : "key-default-1"`) || len(out.ReplicaTags) != 1 || *out.ReplicaTags[0].TagValue != "west" {
		t.Fatalf("ReplicaPolicy %q, tags %+v", *out.ReplicaPolicy, out.ReplicaTags)
	}

	// The replica is Enabled when next read, and decrypts the primary's
	// ciphertext without a KeyId and with its own key ARN.
	rd := describe(t, west, id)
	if rd.KeyState != types.KeyStateEnabled || !rd.Enabled || *rd.Description != "replica" {
		t.Fatalf("replica after creation: %s, %q", rd.KeyState, *rd.Description)
	}
	wantConfig(t, describe(t, east, id), types.MultiRegionKeyTypePrimary, "us-east-1", "us-west-2")
	dec, err := west.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct, EncryptionContext: map[string]string{"purpose": "rotation"}})
	mustOK(t, "Decrypt in the replica region", err)
	if string(dec.Plaintext) != "made in us-east-1" || *dec.KeyId != arnOf("us-west-2", id) {
		t.Fatalf("Decrypt in us-west-2 = %q with %s", dec.Plaintext, *dec.KeyId)
	}
	_, err = west.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct, KeyId: aws.String(arnOf("us-west-2", id)), EncryptionContext: map[string]string{"purpose": "rotation"}})
	mustOK(t, "Decrypt with the replica's ARN", err)
	// And the other way round.
	back := encryptAs(t, west, id, "made in us-west-2")
	if got := decryptMaterial(t, east, back, "made in us-west-2"); got != *md.CurrentKeyMaterialId {
		t.Errorf("material %s, want %s", got, *md.CurrentKeyMaterialId)
	}

	// A second replica: every key of the set lists both replicas.
	replicate(t, east, id, "eu-west-1")
	for _, c := range []*kms.Client{east, west, eu} {
		md := describe(t, c, id)
		typ := types.MultiRegionKeyTypeReplica
		if c == east {
			typ = types.MultiRegionKeyTypePrimary
		}
		wantConfig(t, md, typ, "us-east-1", "us-west-2", "eu-west-1")
	}
	// Independent properties: policy, description, tags, aliases, state.
	tags, err := west.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: &id})
	mustOK(t, "ListResourceTags", err)
	if len(tags.Tags) != 1 {
		t.Errorf("replica tags %+v", tags.Tags)
	}
	if tags, _ := east.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: &id}); len(tags.Tags) != 0 {
		t.Errorf("primary tags %+v", tags.Tags)
	}
	newAlias(t, west, "alias/west-only", id)
	_, err = east.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/west-only")})
	wantAPIError(t, err, "NotFoundException", "*")
	mustOK(t, "DisableKey replica", second(west.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &id})))
	_, err = west.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct, EncryptionContext: map[string]string{"purpose": "rotation"}})
	wantAPIError(t, err, "DisabledException", arnOf("us-west-2", id)+" is disabled.")
	decryptMaterial(t, east, ct, "made in us-east-1") // the primary is unaffected
	mustOK(t, "EnableKey replica", second(west.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id})))
	if p := describe(t, east, id); p.KeyState != types.KeyStateEnabled || *p.Description != "primary" {
		t.Errorf("primary %s %q", p.KeyState, *p.Description)
	}
}

// TestMultiRegionAsymmetricAndHMAC replicates a signing key and an HMAC
// key: a signature or MAC made in one region verifies in the other, and
// the public key is the same ("You will always get the same key
// material", multi-region-keys-manage.md).
func TestMultiRegionAsymmetricAndHMAC(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	east, west := n.client("us-east-1"), n.client("us-west-2")

	sk := newMRK(t, east, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	replicate(t, east, *sk.KeyId, "us-west-2")
	sig, err := east.Sign(ctx, &kms.SignInput{KeyId: sk.KeyId, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	mustOK(t, "Sign", err)
	v, err := west.Verify(ctx, &kms.VerifyInput{KeyId: sk.KeyId, Message: []byte("m"), Signature: sig.Signature, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	mustOK(t, "Verify in the replica region", err)
	if !v.SignatureValid {
		t.Fatal("signature made in us-east-1 does not verify in us-west-2")
	}
	p1, err := east.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: sk.KeyId})
	mustOK(t, "GetPublicKey", err)
	p2, err := west.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: sk.KeyId})
	mustOK(t, "GetPublicKey replica", err)
	if string(p1.PublicKey) != string(p2.PublicKey) {
		t.Fatal("primary and replica public keys differ")
	}

	hk := newMRK(t, east, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	replicate(t, east, *hk.KeyId, "us-west-2")
	mac, err := west.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: hk.KeyId, Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	mustOK(t, "GenerateMac in the replica region", err)
	vm, err := east.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: hk.KeyId, Message: []byte("m"), Mac: mac.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	mustOK(t, "VerifyMac", err)
	if !vm.MacValid {
		t.Fatal("MAC made in us-west-2 does not verify in us-east-1")
	}
	// A rotation operation on an asymmetric replica is refused like on its
	// primary: the key type first.
	_, err = west.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: sk.KeyId})
	wantAPIError(t, err, "UnsupportedOperationException", "*")
}

func TestReplicateKeyErrors(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	east, west := n.client("us-east-1"), n.client("us-west-2")

	single := newKey(t, east)
	_, err := east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: single.KeyId, ReplicaRegion: aws.String("us-west-2")})
	wantAPIError(t, err, "UnsupportedOperationException", "Unable to replicate a non-MultiRegion key "+*single.KeyId)

	md := newMRK(t, east, nil)
	id := *md.KeyId
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("us-east-1")})
	wantAPIError(t, err, "AlreadyExistsException", "Unable to replicate key "+id+" to region us-east-1, as the key already exist there")
	replicate(t, east, id, "us-west-2")
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("us-west-2")})
	wantAPIError(t, err, "AlreadyExistsException", "Unable to replicate key "+id+" to region us-west-2, as the key already exist there")
	// Only the primary can be replicated.
	_, err = west.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("eu-west-1")})
	wantAPIError(t, err, "UnsupportedOperationException", arnOf("us-west-2", id)+" is not a multi-Region primary key. Only a primary key can be replicated.")
	// Regions this server does not serve, or of another partition.
	for _, r := range []string{"cn-north-1", "us-gov-west-1", "xx-nowhere-9"} {
		_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: &r})
		wantAPIError(t, err, "ValidationException", "*")
	}
	// The model's RegionType pattern.
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("US_EAST")})
	wantAPIError(t, err, "ValidationException", "*")
	// An alias is not a KeyId ReplicateKey takes ("Specify the key ID or key
	// ARN of a multi-Region primary key").
	newAlias(t, east, "alias/mrk", id)
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: aws.String("alias/mrk"), ReplicaRegion: aws.String("eu-west-1")})
	wantAPIError(t, err, "NotFoundException", "Invalid keyId 'alias/mrk'")
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: aws.String(arnOf("us-west-2", id)), ReplicaRegion: aws.String("eu-west-1")})
	wantAPIError(t, err, "NotFoundException", "Invalid arn us-west-2")
	missing := "mrk-00000000000000000000000000000000"
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &missing, ReplicaRegion: aws.String("eu-west-1")})
	wantAPIError(t, err, "NotFoundException", "Key '"+arnOf("us-east-1", missing)+"' does not exist")
	// State of the primary.
	mustOK(t, "DisableKey", second(east.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &id})))
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("eu-west-1")})
	wantAPIError(t, err, "DisabledException", arnOf("us-east-1", id)+" is disabled.")
	mustOK(t, "EnableKey", second(east.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id})))
	// A malformed replica policy and tags.
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("eu-west-1"), Policy: aws.String("{")})
	wantAPIError(t, err, "MalformedPolicyDocumentException", "*")
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("eu-west-1"),
		Tags: []types.Tag{{TagKey: aws.String("aws:x"), TagValue: aws.String("v")}}})
	wantAPIError(t, err, "TagException", "Tags beginning with aws: are reserved")
	// None of the refused requests made a replica.
	wantConfig(t, describe(t, east, id), types.MultiRegionKeyTypePrimary, "us-east-1", "us-west-2")
	_, err = n.client("eu-west-1").DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
	wantAPIError(t, err, "NotFoundException", "*")
}

// TestMultiRegionKeyPolicyConditions: kms:ReplicateKey in the primary's
// key policy with kms:ReplicaRegion, kms:UpdatePrimaryRegion needed on
// both keys, kms:MultiRegionKeyType (multi-region-keys-auth.md).
func TestMultiRegionKeyPolicyConditions(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	east, west := n.client("us-east-1"), n.client("us-west-2")
	root := "arn:aws:iam::" + testAccount + ":root"
	pol := `{"Version":"2012-10-17","Statement":[
	 {"Sid":"all","Effect":"Allow","Principal":{"AWS":"` + root + `"},"Action":"kms:*","Resource":"*"},
	 {"Sid":"onlywest","Effect":"Deny","Principal":{"AWS":"` + root + `"},"Action":"kms:ReplicateKey","Resource":"*",
	  "Condition":{"StringNotEquals":{"kms:ReplicaRegion":"us-west-2"}}}]}`
	md := newMRK(t, east, &kms.CreateKeyInput{Policy: &pol})
	id := *md.KeyId
	_, err := east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("eu-west-1")})
	wantAPIError(t, err, "AccessDeniedException",
		"User: "+root+" is not authorized to perform: kms:ReplicateKey on resource: "+arnOf("us-east-1", id)+" with an explicit deny in a resource-based policy")

	// The replica's own policy refuses kms:UpdatePrimaryRegion to
	// replicas: UpdatePrimaryRegion needs it on both keys.
	rpol := `{"Version":"2012-10-17","Statement":[
	 {"Sid":"all","Effect":"Allow","Principal":{"AWS":"` + root + `"},"Action":"kms:*","Resource":"*"},
	 {"Sid":"noswap","Effect":"Deny","Principal":{"AWS":"` + root + `"},"Action":"kms:UpdatePrimaryRegion","Resource":"*",
	  "Condition":{"StringEquals":{"kms:MultiRegionKeyType":"REPLICA"}}}]}`
	out, err := east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("us-west-2"), Policy: &rpol})
	mustOK(t, "ReplicateKey", err)
	if *out.ReplicaPolicy != rpol {
		t.Errorf("ReplicaPolicy = %q", *out.ReplicaPolicy)
	}
	if p, err := west.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &id}); err != nil || *p.Policy != rpol {
		t.Fatalf("replica policy %v, %v", p, err)
	}
	_, err = east.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: &id, PrimaryRegion: aws.String("us-west-2")})
	wantAPIError(t, err, "AccessDeniedException",
		"User: "+root+" is not authorized to perform: kms:UpdatePrimaryRegion on resource: "+arnOf("us-west-2", id)+" with an explicit deny in a resource-based policy")
	wantConfig(t, describe(t, west, id), types.MultiRegionKeyTypeReplica, "us-east-1", "us-west-2")
}

func TestUpdatePrimaryRegion(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	east, west, eu := n.client("us-east-1"), n.client("us-west-2"), n.client("eu-west-1")
	md := newMRK(t, east, nil)
	id := *md.KeyId
	replicate(t, east, id, "us-west-2")
	replicate(t, east, id, "eu-west-1")
	ct := encryptAs(t, east, id, "before")

	// Errors first.
	single := newKey(t, east)
	_, err := east.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: single.KeyId, PrimaryRegion: aws.String("us-west-2")})
	wantAPIError(t, err, "UnsupportedOperationException", arnOf("us-east-1", *single.KeyId)+" is not a multi-Region key.")
	_, err = west.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: &id, PrimaryRegion: aws.String("eu-west-1")})
	wantAPIError(t, err, "UnsupportedOperationException", arnOf("us-west-2", id)+" is not a multi-Region primary key.")
	_, err = east.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: &id, PrimaryRegion: aws.String("ap-south-1")})
	wantAPIError(t, err, "NotFoundException", "Key '"+arnOf("ap-south-1", id)+"' does not exist")
	_, err = east.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: &id, PrimaryRegion: aws.String("us-east-1")})
	wantAPIError(t, err, "UnsupportedOperationException", "*")
	_, err = east.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: &id, PrimaryRegion: aws.String("cn-north-1")})
	wantAPIError(t, err, "ValidationException", "*")
	mustOK(t, "DisableKey replica", second(west.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &id})))
	_, err = east.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: &id, PrimaryRegion: aws.String("us-west-2")})
	wantAPIError(t, err, "DisabledException", arnOf("us-west-2", id)+" is disabled.")
	mustOK(t, "EnableKey replica", second(west.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id})))

	mustOK(t, "UpdatePrimaryRegion", second(east.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: aws.String(arnOf("us-east-1", id)), PrimaryRegion: aws.String("us-west-2")})))
	wantConfig(t, describe(t, west, id), types.MultiRegionKeyTypePrimary, "us-west-2", "eu-west-1", "us-east-1")
	wantConfig(t, describe(t, east, id), types.MultiRegionKeyTypeReplica, "us-west-2", "eu-west-1", "us-east-1")
	wantConfig(t, describe(t, eu, id), types.MultiRegionKeyTypeReplica, "us-west-2", "eu-west-1", "us-east-1")
	for _, c := range []*kms.Client{east, west, eu} {
		if md := describe(t, c, id); md.KeyState != types.KeyStateEnabled {
			t.Errorf("%s after the update: %s", *md.Arn, md.KeyState)
		}
		decryptMaterial(t, c, ct, "before")
	}
	// Now only the new primary replicates and rotates.
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("ap-south-1")})
	wantAPIError(t, err, "UnsupportedOperationException", "*")
	_, err = east.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})
	wantAPIError(t, err, "UnsupportedOperationException", arnOf("us-east-1", id)+" is a multi-Region replica key. Change the rotation of a multi-Region key on its primary key.")
	replicate(t, west, id, "ap-south-1")
	wantConfig(t, describe(t, east, id), types.MultiRegionKeyTypeReplica, "us-west-2", "eu-west-1", "us-east-1", "ap-south-1")
	decryptMaterial(t, n.client("ap-south-1"), ct, "before")
}

func TestMultiRegionRotation(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	n := startClockNodeIn(t, privateDir(t), clk)
	ctx := context.Background()
	east, west := n.client("us-east-1"), n.client("us-west-2")
	md := newMRK(t, east, nil)
	id := *md.KeyId
	old := encryptAs(t, east, id, "old")
	replicate(t, east, id, "us-west-2")

	// Rotation is managed on the primary only.
	_, err := west.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id})
	wantAPIError(t, err, "UnsupportedOperationException", arnOf("us-west-2", id)+" is a multi-Region replica key. Change the rotation of a multi-Region key on its primary key.")
	_, err = west.DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: &id})
	wantAPIError(t, err, "UnsupportedOperationException", "*")
	_, err = west.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})
	wantAPIError(t, err, "UnsupportedOperationException", "*")

	// On-demand rotation of the primary reaches the replica.
	mustOK(t, "RotateKeyOnDemand", second(east.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})))
	m1 := *describe(t, east, id).CurrentKeyMaterialId
	if m1 == *md.CurrentKeyMaterialId || *describe(t, west, id).CurrentKeyMaterialId != m1 {
		t.Fatalf("after rotation: primary %s, replica %s", m1, *describe(t, west, id).CurrentKeyMaterialId)
	}
	if rs := listRotations(t, west, &kms.ListKeyRotationsInput{KeyId: &id}); len(rs) != 1 || *rs[0].KeyMaterialId != m1 || rs[0].RotationType != types.RotationTypeOnDemand {
		t.Fatalf("replica rotations %+v", rs)
	}
	if got := decryptMaterial(t, west, encryptAs(t, east, id, "new"), "new"); got != m1 {
		t.Errorf("new ciphertext decrypts in the replica with %s, want %s", got, m1)
	}
	if got := decryptMaterial(t, west, old, "old"); got != *md.CurrentKeyMaterialId {
		t.Errorf("old ciphertext decrypts in the replica with %s", got)
	}

	// Automatic rotation: the setting is shared, the primary rotates, and
	// the replica follows.
	mustOK(t, "EnableKeyRotation", second(east.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: aws.Int32(90)})))
	st, err := west.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id})
	mustOK(t, "GetKeyRotationStatus replica", err)
	if !st.KeyRotationEnabled || *st.RotationPeriodInDays != 90 {
		t.Fatalf("replica rotation status %+v", st)
	}
	clk.Advance(91 * 24 * time.Hour)
	if got, err := n.srv.Service().RotateDueKeys(ctx); err != nil || got != 1 {
		t.Fatalf("RotateDueKeys = %d, %v; want 1 (the primary only)", got, err)
	}
	m2 := *describe(t, east, id).CurrentKeyMaterialId
	if *describe(t, west, id).CurrentKeyMaterialId != m2 || m2 == m1 {
		t.Fatalf("automatic rotation did not reach the replica")
	}
	if got, err := n.srv.Service().RotateDueKeys(ctx); err != nil || got != 0 {
		t.Fatalf("RotateDueKeys again = %d, %v; want 0", got, err)
	}
	// A replica made after rotations has every material.
	replicate(t, east, id, "eu-west-1")
	eu := n.client("eu-west-1")
	if rs := listRotations(t, eu, &kms.ListKeyRotationsInput{KeyId: &id, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial}); len(rs) != 3 {
		t.Fatalf("new replica has %d materials, want 3", len(rs))
	}
	decryptMaterial(t, eu, old, "old")
	mustOK(t, "DisableKeyRotation", second(east.DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: &id})))
	if st, _ := eu.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id}); st.KeyRotationEnabled {
		t.Errorf("replica rotation still enabled after DisableKeyRotation on the primary")
	}
}

// TestMultiRegionDeletion follows multi-region-keys-delete.md: a primary
// with replicas waits in PendingReplicaDeletion without a deletion date;
// when its last replica is deleted, its own waiting period begins.
func TestMultiRegionDeletion(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	n := startClockNodeIn(t, privateDir(t), clk)
	ctx := context.Background()
	east, west := n.client("us-east-1"), n.client("us-west-2")
	id := *newMRK(t, east, nil).KeyId
	replicate(t, east, id, "us-west-2")
	ct := encryptAs(t, east, id, "x")

	out, err := east.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, "ScheduleKeyDeletion primary", err)
	if out.KeyState != types.KeyStatePendingReplicaDeletion || out.DeletionDate != nil || *out.PendingWindowInDays != 7 {
		t.Fatalf("ScheduleKeyDeletion primary = %s, %v, %v", out.KeyState, out.DeletionDate, *out.PendingWindowInDays)
	}
	p := describe(t, east, id)
	if p.KeyState != types.KeyStatePendingReplicaDeletion || p.Enabled || p.DeletionDate != nil || p.PendingDeletionWindowInDays == nil || *p.PendingDeletionWindowInDays != 7 {
		t.Fatalf("primary pending replica deletion: %+v", p)
	}
	wantConfig(t, p, types.MultiRegionKeyTypePrimary, "us-east-1", "us-west-2")
	// It cannot be used, replicated or scheduled again; the replica can.
	_, err = east.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	wantAPIError(t, err, "KMSInvalidStateException", arnOf("us-east-1", id)+" is pending deletion.")
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("eu-west-1")})
	wantAPIError(t, err, "KMSInvalidStateException", "*")
	_, err = east.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id})
	wantAPIError(t, err, "KMSInvalidStateException", arnOf("us-east-1", id)+" is pending deletion.")
	_, err = east.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: &id, Description: aws.String("d")})
	wantAPIError(t, err, "KMSInvalidStateException", "*")
	decryptMaterial(t, west, ct, "x")
	// Cancelling leaves it Disabled, as for any key.
	mustOK(t, "CancelKeyDeletion", second(east.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: &id})))
	if p := describe(t, east, id); p.KeyState != types.KeyStateDisabled || p.PendingDeletionWindowInDays != nil {
		t.Fatalf("after cancel: %s, %v", p.KeyState, p.PendingDeletionWindowInDays)
	}
	_, err = east.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(10)})
	mustOK(t, "ScheduleKeyDeletion primary again", err)

	// The replica is deleted like any key; then the primary's window starts.
	ro, err := west.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, "ScheduleKeyDeletion replica", err)
	if ro.KeyState != types.KeyStatePendingDeletion || ro.DeletionDate == nil {
		t.Fatalf("replica deletion = %s, %v", ro.KeyState, ro.DeletionDate)
	}
	clk.Advance(7*24*time.Hour + time.Second)
	if got, err := n.srv.Service().DeleteExpiredKeys(ctx); err != nil || got != 1 {
		t.Fatalf("DeleteExpiredKeys = %d, %v; want 1 (the replica)", got, err)
	}
	_, err = west.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
	wantAPIError(t, err, "NotFoundException", "*")
	p = describe(t, east, id)
	if want := clk.Now().Add(10 * 24 * time.Hour); p.KeyState != types.KeyStatePendingDeletion || p.DeletionDate == nil || !p.DeletionDate.Equal(want) || p.PendingDeletionWindowInDays != nil {
		t.Fatalf("primary after its last replica: %s, %v (want %v)", p.KeyState, p.DeletionDate, want)
	}
	wantConfig(t, p, types.MultiRegionKeyTypePrimary, "us-east-1")
	clk.Advance(10*24*time.Hour + time.Second)
	if got, err := n.srv.Service().DeleteExpiredKeys(ctx); err != nil || got != 1 {
		t.Fatalf("DeleteExpiredKeys = %d, %v; want 1 (the primary)", got, err)
	}
	_, err = east.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
	wantAPIError(t, err, "NotFoundException", "*")
}

// TestReplicaDeletedAndReplicatedAgain: a deleted replica can be made
// again from the primary ("you can restore a replica key by replicating
// the primary key into the Region", multi-region-keys-delete.md).
func TestReplicaDeletedAndReplicatedAgain(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	n := startClockNodeIn(t, privateDir(t), clk)
	ctx := context.Background()
	east, west := n.client("us-east-1"), n.client("us-west-2")
	id := *newMRK(t, east, nil).KeyId
	ct := encryptAs(t, east, id, "kept")
	replicate(t, east, id, "us-west-2")
	_, err := west.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, "ScheduleKeyDeletion", err)
	// While it is pending deletion the region still holds it.
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("us-west-2")})
	wantAPIError(t, err, "AlreadyExistsException", "*")
	clk.Advance(8 * 24 * time.Hour)
	if got, err := n.srv.Service().DeleteExpiredKeys(ctx); err != nil || got != 1 {
		t.Fatalf("DeleteExpiredKeys = %d, %v", got, err)
	}
	wantConfig(t, describe(t, east, id), types.MultiRegionKeyTypePrimary, "us-east-1")
	replicate(t, east, id, "us-west-2")
	decryptMaterial(t, west, ct, "kept")
}

// TestReplicaCreatingAcrossRestart stops the server right after
// ReplicateKey, while the stored replica is still Creating: the restarted
// server finishes it on the first request that names it.
func TestReplicaCreatingAcrossRestart(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	dir := privateDir(t)
	ctx := context.Background()
	n := startNodeIn(t, dir)
	east := n.client("us-east-1")
	id := *newMRK(t, east, nil).KeyId
	ct := encryptAs(t, east, id, "across")
	if out := replicate(t, east, id, "us-west-2"); out.ReplicaKeyMetadata.KeyState != types.KeyStateCreating {
		t.Fatalf("replica state %s", out.ReplicaKeyMetadata.KeyState)
	}
	n.stop()

	n = startNodeIn(t, dir)
	west := n.client("us-west-2")
	keys, err := west.ListKeys(ctx, &kms.ListKeysInput{})
	mustOK(t, "ListKeys", err)
	if len(keys.Keys) != 1 || *keys.Keys[0].KeyId != id {
		t.Fatalf("ListKeys in us-west-2 = %+v", keys.Keys)
	}
	if md := describe(t, west, id); md.KeyState != types.KeyStateEnabled {
		t.Fatalf("replica after restart: %s", md.KeyState)
	}
	decryptMaterial(t, west, ct, "across")
	wantConfig(t, describe(t, n.client("us-east-1"), id), types.MultiRegionKeyTypePrimary, "us-east-1", "us-west-2")
}
