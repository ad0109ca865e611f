package server_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	trentkms "github.com/trent-kms/trent/internal/kms"
)

// The expected messages below come from /tmp/aws-kms-facts.md (sections
// 1.11, 1.12, 2.4 and 2.5).

func tagsOf(pairs ...string) []types.Tag {
	var out []types.Tag
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, types.Tag{TagKey: aws.String(pairs[i]), TagValue: aws.String(pairs[i+1])})
	}
	return out
}

// listTags follows ListResourceTags pages of limit entries (0: the
// default) and returns the tags as a map.
func listTags(t *testing.T, c *kms.Client, keyID string, limit int32) map[string]string {
	t.Helper()
	in := &kms.ListResourceTagsInput{KeyId: &keyID}
	if limit > 0 {
		in.Limit = &limit
	}
	got := map[string]string{}
	for {
		out, err := c.ListResourceTags(context.Background(), in)
		mustOK(t, "ListResourceTags", err)
		if limit > 0 && len(out.Tags) > int(limit) {
			t.Fatalf("page of %d tags, limit %d", len(out.Tags), limit)
		}
		for _, tag := range out.Tags {
			if _, dup := got[*tag.TagKey]; dup {
				t.Fatalf("tag %s listed twice", *tag.TagKey)
			}
			got[*tag.TagKey] = *tag.TagValue
		}
		if !out.Truncated {
			if out.NextMarker != nil {
				t.Fatal("NextMarker on the last page")
			}
			return got
		}
		in.Marker = out.NextMarker
	}
}

func TestTags(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	id := *md.KeyId

	if got := listTags(t, c, id, 0); len(got) != 0 {
		t.Fatalf("new key has tags %v", got)
	}
	mustOK(t, "TagResource", second(c.TagResource(ctx, &kms.TagResourceInput{KeyId: &id,
		Tags: tagsOf("Purpose", "test", "CostCenter", "87654", "CreatedBy", "ExampleUser", "empty", "")})))
	want := map[string]string{"Purpose": "test", "CostCenter": "87654", "CreatedBy": "ExampleUser", "empty": ""}
	if got := listTags(t, c, id, 0); !maps.Equal(got, want) {
		t.Fatalf("tags = %v, want %v", got, want)
	}
	// Tagging an existing key overwrites its value; tag keys are case-sensitive.
	mustOK(t, "TagResource overwrite", second(c.TagResource(ctx, &kms.TagResourceInput{KeyId: md.Arn,
		Tags: tagsOf("Purpose", "production", "purpose", "lower")})))
	want["Purpose"], want["purpose"] = "production", "lower"
	if got := listTags(t, c, id, 0); !maps.Equal(got, want) {
		t.Fatalf("after overwrite: %v, want %v", got, want)
	}
	for _, limit := range []int32{1, 2, 5, 50} {
		if got := listTags(t, c, *md.Arn, limit); !maps.Equal(got, want) {
			t.Errorf("limit %d: %v", limit, got)
		}
	}
	// Untagging a key that is not set is not an error.
	mustOK(t, "UntagResource", second(c.UntagResource(ctx, &kms.UntagResourceInput{KeyId: &id, TagKeys: []string{"CostCenter", "never-set"}})))
	delete(want, "CostCenter")
	if got := listTags(t, c, id, 0); !maps.Equal(got, want) {
		t.Fatalf("after untag: %v, want %v", got, want)
	}
	mustOK(t, "UntagResource all", second(c.UntagResource(ctx, &kms.UntagResourceInput{KeyId: &id, TagKeys: []string{"Purpose", "purpose", "CreatedBy", "empty"}})))
	if got := listTags(t, c, id, 0); len(got) != 0 {
		t.Fatalf("after untagging all: %v", got)
	}

	_, err := c.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: &id, Limit: aws.Int32(0)})
	wantAPIError(t, err, "ValidationException",
		"1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
	_, err = c.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: &id, Marker: aws.String("%%%")})
	wantAPIError(t, err, "InvalidMarkerException", "*")
}

func TestTagErrors(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	id := *md.KeyId

	fifty := make([]string, 0, 100)
	for i := range 50 {
		fifty = append(fifty, fmt.Sprintf("k%02d", i), "v")
	}
	long := strings.Repeat("k", 129)
	cases := []struct {
		name      string
		tags      []types.Tag
		code, msg string
	}{
		{"reserved-lower", tagsOf("ok", "1", "aws:created", "x"), "TagException", "Tags beginning with aws: are reserved"},
		{"reserved-upper", tagsOf("AWS:key1", "x"), "TagException", "Tags beginning with aws: are reserved"},
		{"duplicate", tagsOf("dup", "1", "other", "2", "dup", "3"), "TagException", "Duplicate tag keys"},
		{"too-many", tagsOf(append(slicesClone(fifty), "k50", "v")...), "TagException", "Too many tags"},
		{"key-too-long", tagsOf("fine", "1", long, "v"), "ValidationException",
			"1 validation error detected: Value '" + long + "' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"value-too-long", tagsOf("k", strings.Repeat("v", 257)), "ValidationException",
			"1 validation error detected: Value '" + strings.Repeat("v", 257) + "' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256"},
	}
	for _, tc := range cases {
		t.Run("TagResource/"+tc.name, func(t *testing.T) {
			_, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: &id, Tags: tc.tags})
			wantAPIError(t, err, tc.code, tc.msg)
		})
		t.Run("CreateKey/"+tc.name, func(t *testing.T) {
			_, err := c.CreateKey(ctx, &kms.CreateKeyInput{Tags: tc.tags})
			wantAPIError(t, err, tc.code, tc.msg)
		})
	}
	if got := listTags(t, c, id, 0); len(got) != 0 {
		t.Fatalf("failed TagResource calls left tags %v", got)
	}
	if keys := listAllKeys(t, c, 0); len(keys) != 1 {
		t.Fatalf("failed CreateKey calls left %d keys", len(keys))
	}

	// Fifty tags fit; a fifty-first (existing plus new) does not, but
	// overwriting one of the fifty does.
	mustOK(t, "TagResource 50", second(c.TagResource(ctx, &kms.TagResourceInput{KeyId: &id, Tags: tagsOf(fifty...)})))
	_, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: &id, Tags: tagsOf("k50", "v")})
	wantAPIError(t, err, "LimitExceededException", "Tags per key quota for this account in this region is 50, current usage is 50.")
	mustOK(t, "TagResource overwrite", second(c.TagResource(ctx, &kms.TagResourceInput{KeyId: &id, Tags: tagsOf("k07", "new")})))
	got := listTags(t, c, id, 0)
	if len(got) != 50 || got["k07"] != "new" {
		t.Errorf("%d tags, k07=%q", len(got), got["k07"])
	}
	ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{Tags: tagsOf(fifty...)})
	mustOK(t, "CreateKey with 50 tags", err)
	if got := listTags(t, c, *ck.KeyMetadata.KeyId, 7); len(got) != 50 {
		t.Errorf("CreateKey kept %d of 50 tags", len(got))
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// awsDefaultPolicy is AWS's default key policy as GetKeyPolicy returns it
// (AWS's own GetKeyPolicy example output), for account 111122223333.
const awsDefaultPolicy = "{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : \"arn:aws:iam::111122223333:root\"\n    },\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  } ]\n}"

func TestKeyPolicies(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	id := *md.KeyId

	if trentkms.DefaultKeyPolicy("aws", testAccount) != awsDefaultPolicy {
		t.Fatalf("kms.DefaultKeyPolicy differs from AWS's:\n%s", trentkms.DefaultKeyPolicy("aws", testAccount))
	}
	for _, name := range []*string{nil, aws.String("default")} {
		out, err := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &id, PolicyName: name})
		mustOK(t, "GetKeyPolicy", err)
		if *out.Policy != awsDefaultPolicy || *out.PolicyName != "default" {
			t.Fatalf("default policy (%v):\n%s", *out.PolicyName, *out.Policy)
		}
	}
	cn := n.client("cn-north-1")
	cnKey := newKey(t, cn)
	out, err := cn.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: cnKey.KeyId})
	mustOK(t, "GetKeyPolicy cn", err)
	if want := strings.Replace(awsDefaultPolicy, "arn:aws:iam", "arn:aws-cn:iam", 1); *out.Policy != want {
		t.Fatalf("China default policy:\n%s", *out.Policy)
	}

	// PutKeyPolicy stores the document byte for byte: odd spacing, tabs,
	// CRLF, key order and Latin-1 characters survive.
	policy := "{\r\n\t\"Statement\":[{\"Sid\":\"Caf\u00e9 \u00bd\",  \"Resource\" :\"*\",\"Action\":\"kms:*\",\"Effect\":\"Allow\"," +
		"\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"}}],\n\"Version\":\"2012-10-17\"   }"
	mustOK(t, "PutKeyPolicy", second(c.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: md.Arn, Policy: &policy})))
	out, err = c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: md.Arn})
	mustOK(t, "GetKeyPolicy", err)
	if *out.Policy != policy {
		t.Fatalf("policy round trip:\n got %q\nwant %q", *out.Policy, policy)
	}
	ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{Policy: &policy})
	mustOK(t, "CreateKey with policy", err)
	out, err = c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: ck.KeyMetadata.KeyId, PolicyName: aws.String("default")})
	mustOK(t, "GetKeyPolicy", err)
	if *out.Policy != policy {
		t.Fatalf("CreateKey policy round trip:\n got %q\nwant %q", *out.Policy, policy)
	}

	for _, bad := range []string{"{not json", "[]", `"a string"`, `{"Statement":[]} trailing`} {
		_, err := c.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &id, Policy: aws.String(bad)})
		wantAPIError(t, err, "MalformedPolicyDocumentException", "*")
	}
	if out, _ := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &id}); *out.Policy != policy {
		t.Fatal("a rejected PutKeyPolicy changed the policy")
	}
	_, err = c.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &id, Policy: aws.String(`{"Sid":"` + strings.Repeat("x", 131073) + `"}`)})
	wantAPIError(t, err, "ValidationException", "*")
	if msg := apiMessage(err); !strings.Contains(msg, "at 'policy' failed to satisfy constraint: Member must have length less than or equal to 131072") {
		t.Errorf("oversized policy message = %q", msg)
	}

	// "default" is the only policy name.
	_, err = c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &id, PolicyName: aws.String("other")})
	wantAPIError(t, err, "NotFoundException", "No such policy exists")
	_, err = c.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &id, PolicyName: aws.String("other"), Policy: &policy})
	wantAPIError(t, err, "NotFoundException", "No such policy exists")
	_, err = c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &id, PolicyName: aws.String("not valid!")})
	wantAPIError(t, err, "ValidationException",
		"1 validation error detected: Value 'not valid!' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+")

	lp, err := c.ListKeyPolicies(ctx, &kms.ListKeyPoliciesInput{KeyId: &id})
	mustOK(t, "ListKeyPolicies", err)
	if len(lp.PolicyNames) != 1 || lp.PolicyNames[0] != "default" || lp.Truncated || lp.NextMarker != nil {
		t.Errorf("ListKeyPolicies = %+v", lp)
	}
	lp, err = c.ListKeyPolicies(ctx, &kms.ListKeyPoliciesInput{KeyId: md.Arn, Limit: aws.Int32(1)})
	mustOK(t, "ListKeyPolicies limit 1", err)
	if len(lp.PolicyNames) != 1 || lp.Truncated {
		t.Errorf("ListKeyPolicies limit 1 = %+v", lp)
	}
	_, err = c.ListKeyPolicies(ctx, &kms.ListKeyPoliciesInput{KeyId: &id, Limit: aws.Int32(0)})
	wantAPIError(t, err, "ValidationException",
		"1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
}
