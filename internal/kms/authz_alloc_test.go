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
