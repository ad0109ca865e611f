package server_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// The expected messages below come from /tmp/aws-kms-facts.md (sections
// 1.2, 1.3, 1.10 and 2.4).

// noMessage is what aws-sdk-go-v2 reports as the message of an error shape
// it does not model (NotAuthorizedException) when the body has none.
const noMessage = "UnknownError"

const aliasPrefixMsg = `Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html`

func TestCreateAlias(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	other := newKey(t, c)

	newAlias(t, c, "alias/by-id", *md.KeyId)
	mustOK(t, "CreateAlias by ARN", second(c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/by-arn"), TargetKeyId: md.Arn})))
	newAlias(t, c, "alias/Mixed_Case:chars/and-more", *md.KeyId)
	for _, a := range []string{"alias/by-id", "alias/by-arn", "alias/Mixed_Case:chars/and-more"} {
		if got := describe(t, c, a); *got.KeyId != *md.KeyId {
			t.Errorf("%s resolves to %s", a, *got.KeyId)
		}
	}
	// Alias names are case-sensitive: alias/BY-ID is another name.
	_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/BY-ID")})
	wantAPIError(t, err, "NotFoundException", "Alias "+aliasARNOf("us-east-1", "alias/BY-ID")+" is not found.")

	const missing = "0f0e0d0c-0b0a-4909-8807-060504030201"
	cases := []struct {
		name, alias, target, code, msg string
	}{
		{"duplicate", "alias/by-id", *other.KeyId, "AlreadyExistsException",
			"An alias with the name " + aliasARNOf("us-east-1", "alias/by-id") + " already exists"},
		{"no-prefix", "by-id", *md.KeyId, "ValidationException", aliasPrefixMsg},
		{"prefix-only", "alias/", *md.KeyId, "ValidationException", aliasPrefixMsg},
		{"alias-arn-as-name", aliasARNOf("us-east-1", "alias/x"), *md.KeyId, "ValidationException", aliasPrefixMsg},
		{"reserved", "alias/aws/s3", *md.KeyId, "NotAuthorizedException", noMessage},
		{"bad-chars", "alias/has space", *md.KeyId, "ValidationException",
			"1 validation error detected: Value 'alias/has space' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"},
		{"target-missing", "alias/new", missing, "NotFoundException", "Key '" + arnOf("us-east-1", missing) + "' does not exist"},
		{"target-alias-name", "alias/new", "alias/by-id", "NotFoundException", "Invalid keyId 'alias/by-id'"},
		{"target-alias-arn", "alias/new", aliasARNOf("us-east-1", "alias/by-id"), "InvalidArnException", "Key Aliases are not supported for this operation."},
		{"target-other-region", "alias/new", arnOf("us-west-2", *md.KeyId), "NotFoundException", "Invalid arn us-west-2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(tc.alias), TargetKeyId: aws.String(tc.target)})
			wantAPIError(t, err, tc.code, tc.msg)
		})
	}
	if got := describe(t, c, "alias/by-id"); *got.KeyId != *md.KeyId {
		t.Error("a failed duplicate CreateAlias moved the alias")
	}
}

func TestUpdateAlias(t *testing.T) {
	n, clk := startNodeWithClock(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	a := newKey(t, c)
	b := newKey(t, c)
	created := clk.Now()
	newAlias(t, c, "alias/moving", *a.KeyId)

	clk.Advance(time.Hour)
	mustOK(t, "UpdateAlias", second(c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/moving"), TargetKeyId: b.Arn})))
	if got := describe(t, c, "alias/moving"); *got.KeyId != *b.KeyId {
		t.Fatalf("alias points at %s after UpdateAlias", *got.KeyId)
	}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/moving"), Plaintext: []byte("x")})
	mustOK(t, "Encrypt via alias", err)
	if *enc.KeyId != *b.Arn {
		t.Errorf("Encrypt via the updated alias used %s", *enc.KeyId)
	}
	al, err := c.ListAliases(ctx, &kms.ListAliasesInput{})
	mustOK(t, "ListAliases", err)
	if len(al.Aliases) != 1 {
		t.Fatalf("aliases: %+v", al.Aliases)
	}
	e := al.Aliases[0]
	if *e.TargetKeyId != *b.KeyId || !e.CreationDate.Equal(created) || !e.LastUpdatedDate.Equal(created.Add(time.Hour)) {
		t.Errorf("after UpdateAlias: target %s, created %v (want %v), updated %v (want %v)",
			*e.TargetKeyId, e.CreationDate, created, e.LastUpdatedDate, created.Add(time.Hour))
	}

	const missing = "0f0e0d0c-0b0a-4909-8807-060504030201"
	_, err = c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/none"), TargetKeyId: a.KeyId})
	wantAPIError(t, err, "NotFoundException", "Alias "+aliasARNOf("us-east-1", "alias/none")+" is not found.")
	_, err = c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/moving"), TargetKeyId: aws.String(missing)})
	wantAPIError(t, err, "NotFoundException", "Key '"+arnOf("us-east-1", missing)+"' does not exist")
	_, err = c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/aws/ebs"), TargetKeyId: a.KeyId})
	wantAPIError(t, err, "NotAuthorizedException", noMessage)
	_, err = c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("moving"), TargetKeyId: a.KeyId})
	wantAPIError(t, err, "ValidationException", aliasPrefixMsg)
	_, err = c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/moving"), TargetKeyId: aws.String("alias/moving")})
	wantAPIError(t, err, "NotFoundException", "Invalid keyId 'alias/moving'")
}

func TestDeleteAlias(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	md := newKey(t, c)
	newAlias(t, c, "alias/short-lived", *md.KeyId)
	mustOK(t, "DeleteAlias", second(c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/short-lived")})))

	gone := "Alias " + aliasARNOf("us-east-1", "alias/short-lived") + " is not found."
	_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/short-lived")})
	wantAPIError(t, err, "NotFoundException", gone)
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/short-lived"), Plaintext: []byte("x")})
	wantAPIError(t, err, "NotFoundException", gone)
	_, err = c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/short-lived")})
	wantAPIError(t, err, "NotFoundException", gone)
	_, err = c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/aws/s3")})
	wantAPIError(t, err, "NotAuthorizedException", noMessage)
	_, err = c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("short-lived")})
	wantAPIError(t, err, "ValidationException", aliasPrefixMsg)
	// The key itself is untouched, and the name can be used again.
	if d := describe(t, c, *md.KeyId); d.KeyState != types.KeyStateEnabled {
		t.Errorf("key is %s after DeleteAlias", d.KeyState)
	}
	newAlias(t, c, "alias/short-lived", *md.KeyId)
}

func TestListAliases(t *testing.T) {
	n, clk := startNodeWithClock(t)
	ctx := context.Background()
	c := n.client("us-east-1")
	a := newKey(t, c)
	b := newKey(t, c)
	var wantA, wantAll []string
	for i := range 5 {
		name := fmt.Sprintf("alias/a-%d", i)
		newAlias(t, c, name, *a.KeyId)
		wantA = append(wantA, name)
	}
	for i := range 3 {
		newAlias(t, c, fmt.Sprintf("alias/b-%d", i), *b.KeyId)
	}
	wantAll = append(slices.Clone(wantA), "alias/b-0", "alias/b-1", "alias/b-2")

	out, err := c.ListAliases(ctx, &kms.ListAliasesInput{})
	mustOK(t, "ListAliases", err)
	if out.Truncated || out.NextMarker != nil {
		t.Errorf("single page: truncated %v, marker %v", out.Truncated, out.NextMarker)
	}
	var names []string
	for _, e := range out.Aliases {
		names = append(names, *e.AliasName)
		target := *a.KeyId
		if e.AliasName != nil && (*e.AliasName)[6] == 'b' {
			target = *b.KeyId
		}
		// TargetKeyId is a bare key id, not an ARN.
		if *e.AliasArn != aliasARNOf("us-east-1", *e.AliasName) || *e.TargetKeyId != target ||
			!e.CreationDate.Equal(clk.Now()) || !e.LastUpdatedDate.Equal(clk.Now()) {
			t.Errorf("entry %+v", e)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, wantAll) {
		t.Errorf("ListAliases = %v, want %v", names, wantAll)
	}

	for _, keyID := range []string{*a.KeyId, *a.Arn} {
		got := listAliasNames(t, c, &keyID, 0)
		if !slices.Equal(got, wantA) {
			t.Errorf("ListAliases(KeyId %s) = %v, want %v", keyID, got, wantA)
		}
	}
	for _, limit := range []int32{1, 2, 3, 8, 100} {
		if got := listAliasNames(t, c, nil, limit); !slices.Equal(got, wantAll) {
			t.Errorf("limit %d: %v", limit, got)
		}
		if got := listAliasNames(t, c, a.KeyId, limit); !slices.Equal(got, wantA) {
			t.Errorf("KeyId, limit %d: %v", limit, got)
		}
	}
	if got := listAliasNames(t, c, newKey(t, c).KeyId, 0); len(got) != 0 {
		t.Errorf("aliases of a key without any: %v", got)
	}

	const missing = "0f0e0d0c-0b0a-4909-8807-060504030201"
	_, err = c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: aws.String(missing)})
	wantAPIError(t, err, "NotFoundException", "Key '"+arnOf("us-east-1", missing)+"' does not exist")
	_, err = c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: aws.String("alias/a-1")})
	wantAPIError(t, err, "NotFoundException", "Invalid keyId 'alias/a-1'")
	_, err = c.ListAliases(ctx, &kms.ListAliasesInput{Limit: aws.Int32(0)})
	wantAPIError(t, err, "ValidationException",
		"1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
	_, err = c.ListAliases(ctx, &kms.ListAliasesInput{Marker: aws.String("%%%")})
	wantAPIError(t, err, "InvalidMarkerException", "*")
}

// listAliasNames follows ListAliases pages and returns the names in order.
func listAliasNames(t *testing.T, c *kms.Client, keyID *string, limit int32) []string {
	t.Helper()
	in := &kms.ListAliasesInput{KeyId: keyID}
	if limit > 0 {
		in.Limit = &limit
	}
	var names []string
	for {
		out, err := c.ListAliases(context.Background(), in)
		mustOK(t, "ListAliases", err)
		if limit > 0 && len(out.Aliases) > int(limit) {
			t.Fatalf("page of %d aliases, limit %d", len(out.Aliases), limit)
		}
		for _, e := range out.Aliases {
			names = append(names, *e.AliasName)
		}
		if !out.Truncated {
			if out.NextMarker != nil {
				t.Fatal("NextMarker on the last page")
			}
			return names
		}
		if out.NextMarker == nil {
			t.Fatal("truncated page without NextMarker")
		}
		in.Marker = out.NextMarker
	}
}

func TestAliasARNInOtherRegion(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client("eu-west-1")
	newKey(t, c)
	// An alias ARN is scoped to its region, like a key ARN: an endpoint
	// answers for its own region only, whether or not the alias exists
	// elsewhere.
	for _, arn := range []string{aliasARNOf("us-east-1", "alias/nowhere"), aliasARNOf("ap-southeast-1", "alias/nowhere")} {
		_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)})
		wantAPIError(t, err, "NotFoundException", "Invalid arn "+arn[len("arn:aws:kms:"):len(arn)-len(":111122223333:alias/nowhere")])
	}
}
