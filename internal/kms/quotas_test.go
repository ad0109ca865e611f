package kms_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/wire"
)

func wantWireError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != code || (msg != "*" && we.Message != msg) {
		t.Fatalf("err = %v, want %s %q", err, code, msg)
	}
}

func createKey(t *testing.T, svc *kms.Service, c *kms.Caller, in *wire.CreateKeyRequest) string {
	t.Helper()
	out, err := svc.CreateKey(context.Background(), c, in)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return *out.KeyMetadata.KeyId
}

func countKeys(t *testing.T, svc *kms.Service, c *kms.Caller) int {
	t.Helper()
	out, err := svc.ListKeys(context.Background(), c, &wire.ListKeysRequest{Limit: wire.Ptr(int32(1000))})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Keys)
}

func TestQuotaKeysPerRegion(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{Quotas: &kms.Quotas{KeysPerRegion: 3}})
	for range 3 {
		createKey(t, svc, testCaller, &wire.CreateKeyRequest{})
	}
	_, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
	wantWireError(t, err, "LimitExceededException", "Key quota for this account in this region is 3 but the current usage is 3.")
	if n := countKeys(t, svc, testCaller); n != 3 {
		t.Fatalf("%d keys after a refused CreateKey, want 3", n)
	}
	// The quota is per region.
	eu := *testCaller
	eu.Region = "eu-west-1"
	createKey(t, svc, &eu, &wire.CreateKeyRequest{})
	// A key pending deletion still counts, as in AWS.
	id := createKey(t, svc, &eu, &wire.CreateKeyRequest{})
	createKey(t, svc, &eu, &wire.CreateKeyRequest{})
	if _, err := svc.ScheduleKeyDeletion(ctx, &eu, &wire.ScheduleKeyDeletionRequest{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.CreateKey(ctx, &eu, &wire.CreateKeyRequest{})
	wantWireError(t, err, "LimitExceededException", "*")
}

// TestQuotaKeysConcurrent checks that one node never overshoots the key
// quota, however many CreateKey calls race.
func TestQuotaKeysConcurrent(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{Quotas: &kms.Quotas{KeysPerRegion: 5}})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for range 20 {
		wg.Go(func() {
			_, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{})
			mu.Lock()
			codes[wireCode(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[""] != 5 || codes["LimitExceededException"] != 15 {
		t.Fatalf("outcomes %v, want 5 successes and 15 LimitExceededException", codes)
	}
	if n := countKeys(t, svc, testCaller); n != 5 {
		t.Fatalf("%d keys, want 5", n)
	}
}

func TestQuotaAliasesPerKey(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{Quotas: &kms.Quotas{AliasesPerKey: 2}})
	k1 := createKey(t, svc, testCaller, &wire.CreateKeyRequest{})
	k2 := createKey(t, svc, testCaller, &wire.CreateKeyRequest{})
	alias := func(name, target string) error {
		return svc.CreateAlias(ctx, testCaller, &wire.CreateAliasRequest{AliasName: &name, TargetKeyId: &target})
	}
	for _, name := range []string{"alias/a", "alias/b"} {
		if err := alias(name, k1); err != nil {
			t.Fatal(err)
		}
	}
	wantWireError(t, alias("alias/c", k1), "LimitExceededException",
		"Aliases per key quota for this account in this region is 2, current usage is 2.")
	if _, err := svc.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: wire.Ptr("alias/c")}); wireCode(err) != "NotFoundException" {
		t.Fatalf("refused alias exists: %v", err)
	}
	// Another key has its own quota; moving an alias onto a full key is
	// refused, and moving it to the key it already names is not counted.
	if err := alias("alias/c", k2); err != nil {
		t.Fatal(err)
	}
	err := svc.UpdateAlias(ctx, testCaller, &wire.UpdateAliasRequest{AliasName: wire.Ptr("alias/c"), TargetKeyId: &k1})
	wantWireError(t, err, "LimitExceededException", "Aliases per key quota for this account in this region is 2, current usage is 2.")
	if err := svc.UpdateAlias(ctx, testCaller, &wire.UpdateAliasRequest{AliasName: wire.Ptr("alias/a"), TargetKeyId: &k1}); err != nil {
		t.Fatalf("UpdateAlias to the same full key: %v", err)
	}
	out, err := svc.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: wire.Ptr("alias/c")})
	if err != nil || *out.KeyMetadata.KeyId != k2 {
		t.Fatalf("alias/c after a refused UpdateAlias: %v, %v", out, err)
	}
	// Deleting an alias frees its place.
	if err := svc.DeleteAlias(ctx, testCaller, &wire.DeleteAliasRequest{AliasName: wire.Ptr("alias/b")}); err != nil {
		t.Fatal(err)
	}
	if err := svc.UpdateAlias(ctx, testCaller, &wire.UpdateAliasRequest{AliasName: wire.Ptr("alias/c"), TargetKeyId: &k1}); err != nil {
		t.Fatal(err)
	}
}

// policyOf returns a valid key policy document of exactly n characters
// (padded in its Sid) that lets everyone do everything.
func policyOf(n int) string {
	const head, tail = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Sid":"`, `"}]}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

func TestQuotaKeyPolicySize(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{Quotas: &kms.Quotas{KeyPolicySize: 200}})
	_, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{Policy: wire.Ptr(policyOf(201))})
	wantWireError(t, err, "LimitExceededException", "The key policy is 201 characters, which exceeds the key policy size quota of 200.")
	if n := countKeys(t, svc, testCaller); n != 0 {
		t.Fatalf("%d keys after a refused CreateKey", n)
	}
	// Characters, not UTF-8 bytes: 200 characters of which some are
	// Latin-1 (two bytes each in UTF-8) fit.
	latin := strings.Replace(policyOf(200), "aaaa", "éééé", 1)
	id := createKey(t, svc, testCaller, &wire.CreateKeyRequest{Policy: &latin})
	err = svc.PutKeyPolicy(ctx, testCaller, &wire.PutKeyPolicyRequest{KeyId: &id, Policy: wire.Ptr(policyOf(201))})
	wantWireError(t, err, "LimitExceededException", "*")
	got, err := svc.GetKeyPolicy(ctx, testCaller, &wire.GetKeyPolicyRequest{KeyId: &id})
	if err != nil || *got.Policy != latin {
		t.Fatalf("policy after a refused PutKeyPolicy: %v, %v", got, err)
	}
	if err := svc.PutKeyPolicy(ctx, testCaller, &wire.PutKeyPolicyRequest{KeyId: &id, Policy: wire.Ptr(policyOf(200))}); err != nil {
		t.Fatal(err)
	}
}

func tags(n int, prefix string) []wire.Tag {
	out := make([]wire.Tag, n)
	for i := range out {
		out[i] = wire.Tag{TagKey: wire.Ptr(fmt.Sprint(prefix, i)), TagValue: wire.Ptr("v")}
	}
	return out
}

func TestQuotaTagsPerKey(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{Quotas: &kms.Quotas{TagsPerKey: 3}})
	_, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{Tags: tags(4, "k")})
	wantWireError(t, err, "TagException", "Too many tags")
	id := createKey(t, svc, testCaller, &wire.CreateKeyRequest{Tags: tags(2, "k")})
	err = svc.TagResource(ctx, testCaller, &wire.TagResourceRequest{KeyId: &id, Tags: tags(2, "new")})
	wantWireError(t, err, "LimitExceededException", "Tags per key quota for this account in this region is 3, current usage is 2.")
	// Overwriting existing tags adds none.
	if err := svc.TagResource(ctx, testCaller, &wire.TagResourceRequest{KeyId: &id, Tags: append(tags(2, "k"), tags(1, "new")...)}); err != nil {
		t.Fatal(err)
	}
	out, err := svc.ListResourceTags(ctx, testCaller, &wire.ListResourceTagsRequest{KeyId: &id})
	if err != nil || len(out.Tags) != 3 {
		t.Fatalf("ListResourceTags = %v, %v", out, err)
	}
}

// TestQuotasZeroMeansUnlimited checks that a quota of 0 lifts the limit:
// more keys, aliases and tags than AWS's defaults, and a policy longer
// than 32 KB, all succeed.
func TestQuotasZeroMeansUnlimited(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{Quotas: &kms.Quotas{}})
	id := createKey(t, svc, testCaller, &wire.CreateKeyRequest{Tags: tags(60, "k"), Policy: wire.Ptr(policyOf(40_000))})
	if err := svc.TagResource(ctx, testCaller, &wire.TagResourceRequest{KeyId: &id, Tags: tags(60, "more")}); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		name := fmt.Sprintf("alias/u%02d", i)
		if err := svc.CreateAlias(ctx, testCaller, &wire.CreateAliasRequest{AliasName: &name, TargetKeyId: &id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.PutKeyPolicy(ctx, testCaller, &wire.PutKeyPolicyRequest{KeyId: &id, Policy: wire.Ptr(policyOf(100_000))}); err != nil {
		t.Fatal(err)
	}
}

// TestDefaultQuotasAreAWSs checks that a Service without Quotas enforces
// AWS's defaults.
func TestDefaultQuotasAreAWSs(t *testing.T) {
	if kms.DefaultQuotas != (kms.Quotas{KeysPerRegion: 100_000, AliasesPerKey: 50, KeyPolicySize: 32_768, TagsPerKey: 50, GrantsPerKey: 50_000,
		CustomKeyStoresPerRegion: 10}) {
		t.Fatalf("DefaultQuotas = %+v", kms.DefaultQuotas)
	}
	ctx := context.Background()
	svc, _ := newService(t, kms.Config{})
	_, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{Policy: wire.Ptr(policyOf(32_769))})
	wantWireError(t, err, "LimitExceededException", "The key policy is 32769 characters, which exceeds the key policy size quota of 32768.")
	createKey(t, svc, testCaller, &wire.CreateKeyRequest{Policy: wire.Ptr(policyOf(32_768))})
}
