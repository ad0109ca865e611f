package kms

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
)

// TestAuthorizeAllocatesNothing: with the default key policy, deciding
// Encrypt for the root user with an encryption context allocates nothing
// once the request has its Authorization.
func TestAuthorizeAllocatesNothing(t *testing.T) {
	s := &Service{now: nowFunc()}
	ck := &cachedKey{meta: store.Key{Region: "us-east-1", AccountID: DefaultAccountID, KeyID: "k", Policy: DefaultKeyPolicy("aws", DefaultAccountID),
		KeySpec: specSymmetric, KeyUsage: usageEncrypt}, arn: KeyARN("us-east-1", DefaultAccountID, "k")}
	s.log = discardLogger()
	s.compileKeyPolicy(context.Background(), ck)
	c := &Caller{AccountID: DefaultAccountID, Principal: "arn:aws:iam::111122223333:root", Region: "us-east-1", Authz: new(Authorization),
		Identity: policy.Principal{Type: policy.PrincipalAccount, ARN: "arn:aws:iam::111122223333:root", Account: DefaultAccountID, UserID: DefaultAccountID}}
	req := condReq{encCtx: map[string]string{"purpose": "bench"}, encAlg: algSymmetric}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.authorizeKey(ctx, c, "kms:Encrypt", ck, &req); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("authorize allocates %v times per call", allocs)
	}
	if ch := c.Authz.Checks(); len(ch) == 0 || ch[len(ch)-1].Decision.Sid != "Enable IAM User Permissions" {
		t.Fatalf("checks %+v", ch)
	}
}

func nowFunc() func() time.Time { return time.Now }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestKeyPoliciesShared: keys with the same policy text share one compiled
// policy, keys with another text get their own, and a text that does not
// parse denies everything and is not kept.
func TestKeyPoliciesShared(t *testing.T) {
	s := &Service{now: nowFunc(), log: discardLogger()}
	load := func(id, text string) *cachedKey {
		ck := &cachedKey{meta: store.Key{Region: "us-east-1", AccountID: DefaultAccountID, KeyID: id, Policy: text}}
		s.compileKeyPolicy(context.Background(), ck)
		return ck
	}
	def := DefaultKeyPolicy("aws", DefaultAccountID)
	a, b := load("a", def), load("b", def)
	if a.policy == nil || a.policy != b.policy {
		t.Fatal("two keys with the default policy do not share its compiled form")
	}
	other := load("c", DefaultKeyPolicy("aws", "444455556666"))
	if other.policy == a.policy || other.policy.Statements[0].Principal.AWS[0] != "arn:aws:iam::444455556666:root" {
		t.Fatalf("another account's policy: %+v", other.policy.Statements[0].Principal)
	}
	bad := load("d", `{"Statement":[`)
	if bad.policy != denyAllPolicy {
		t.Fatal("an unreadable policy does not deny everything")
	}
	if _, err := keyPolicies.compile(`{"Statement":[`); err == nil {
		t.Fatal("an unreadable policy was cached as compiled")
	}
}
