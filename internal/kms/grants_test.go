package kms_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/wire"
)

func roleOf(acct, role, session string) *kms.Caller {
	arn := "arn:aws:sts::" + acct + ":assumed-role/" + role + "/" + session
	return &kms.Caller{AccountID: acct, Principal: arn, Region: "us-east-1", SessionName: session,
		Identity: policy.Principal{Type: policy.PrincipalAssumedRole, ARN: arn, Account: acct,
			RoleARN: "arn:aws:iam::" + acct + ":role/" + role, UserID: "AROA" + strings.ToUpper(role) + ":" + session},
		Authz: new(kms.Authorization)}
}

func userARN(acct, name string) string { return "arn:aws:iam::" + acct + ":user/" + name }

// grant creates a grant on key as the root of A and returns its id and
// token.
func (e *authzEnv) grant(t *testing.T, key string, in wire.CreateGrantRequest) (string, string) {
	t.Helper()
	in.KeyId = &key
	out, err := e.svc.CreateGrant(context.Background(), fresh(e.rootA), &in)
	if err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	return *out.GrantId, *out.GrantToken
}

func encryptAs(svc *kms.Service, c *kms.Caller, key string, encCtx map[string]string, tokens ...string) error {
	_, err := svc.Encrypt(context.Background(), c, &wire.EncryptRequest{KeyId: &key, Plaintext: []byte("x"), EncryptionContext: encCtx, GrantTokens: tokens})
	return err
}

func describeAs(svc *kms.Service, c *kms.Caller, key string, tokens ...string) error {
	_, err := svc.DescribeKey(context.Background(), c, &wire.DescribeKeyRequest{KeyId: &key, GrantTokens: tokens})
	return err
}

// lastCheck returns the last authorization check of c.
func lastCheck(t *testing.T, c *kms.Caller) kms.Check {
	t.Helper()
	chs := c.Authz.Checks()
	if len(chs) == 0 {
		t.Fatal("no check recorded")
	}
	return chs[len(chs)-1]
}

// TestGrantAllowsExactlyItsOperations: a grant allows its operations, for
// its grantee, on its key, and the decision names the grant.
func TestGrantAllowsExactlyItsOperations(t *testing.T) {
	e := newAuthzEnv(t)
	key := e.key(t, keyPolicy(rootAll))
	other := e.key(t, keyPolicy(rootAll))
	alice, bob := userOf(acctA, "alice"), userOf(acctA, "bob")
	wantDenied(t, encryptAs(e.svc, fresh(alice), key, nil), "*")

	id, _ := e.grant(t, key, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr(userARN(acctA, "alice")), Operations: []string{"Encrypt", "DescribeKey"}})
	c := fresh(alice)
	if err := encryptAs(e.svc, c, key, nil); err != nil {
		t.Fatalf("Encrypt with the grant: %v", err)
	}
	if ch := lastCheck(t, c); !ch.Decision.Allowed || ch.GrantID != id || ch.Decision.Reason != kms.ReasonGrant {
		t.Errorf("check = %+v, want allowed by grant %s", ch, id)
	}
	if err := describeAs(e.svc, fresh(alice), key); err != nil {
		t.Errorf("DescribeKey with the grant: %v", err)
	}
	_, err := e.svc.GenerateDataKey(context.Background(), fresh(alice), &wire.GenerateDataKeyRequest{KeyId: &key, NumberOfBytes: wire.Ptr(int32(16))})
	wantDenied(t, err, "*")
	wantDenied(t, encryptAs(e.svc, fresh(bob), key, nil), "*")
	wantDenied(t, encryptAs(e.svc, fresh(alice), other, nil), "*")
	// A policy that allows still decides: the root's check names no grant.
	c = fresh(e.rootA)
	if err := encryptAs(e.svc, c, key, nil); err != nil || lastCheck(t, c).GrantID != "" {
		t.Errorf("root Encrypt: %v, grant %q", err, lastCheck(t, c).GrantID)
	}
}

// TestGrantGrantee: a grant to a role applies to its sessions; a grant to
// a session to that session only; a grant to an account root to the root
// only (not to the account's users); a grant crosses accounts.
func TestGrantGrantee(t *testing.T) {
	e := newAuthzEnv(t)
	key := e.key(t, keyPolicy(rootAll))
	e.grant(t, key, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr("arn:aws:iam::" + acctA + ":role/app"), Operations: []string{"DescribeKey"}})
	if err := describeAs(e.svc, roleOf(acctA, "app", "s1"), key); err != nil {
		t.Errorf("session of the granted role: %v", err)
	}
	wantDenied(t, describeAs(e.svc, roleOf(acctA, "other", "s1"), key), "*")

	key2 := e.key(t, keyPolicy(rootAll))
	e.grant(t, key2, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr("arn:aws:sts::" + acctA + ":assumed-role/app/s1"), Operations: []string{"DescribeKey"}})
	if err := describeAs(e.svc, roleOf(acctA, "app", "s1"), key2); err != nil {
		t.Errorf("granted session: %v", err)
	}
	wantDenied(t, describeAs(e.svc, roleOf(acctA, "app", "s2"), key2), "*")

	key3 := e.key(t, keyPolicy(rootAll))
	e.grant(t, key3, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr("arn:aws:iam::" + acctB + ":root"), Operations: []string{"Encrypt"}})
	if err := encryptAs(e.svc, fresh(e.rootB), key3, nil); err != nil {
		t.Errorf("root of B with a grant on A's key: %v", err)
	}
	wantDenied(t, encryptAs(e.svc, userOf(acctB, "carol"), key3, nil), "*")
}

// TestGrantConstraints: encryption context constraints match exactly and
// case-sensitively, and do not apply to DescribeKey.
func TestGrantConstraints(t *testing.T) {
	e := newAuthzEnv(t)
	alice := userOf(acctA, "alice")
	mk := func(c *wire.GrantConstraints) string {
		key := e.key(t, keyPolicy(rootAll))
		e.grant(t, key, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr(userARN(acctA, "alice")), Operations: []string{"Encrypt", "DescribeKey"}, Constraints: c})
		return key
	}
	equals := mk(&wire.GrantConstraints{EncryptionContextEquals: map[string]string{"Dept": "IT"}})
	subset := mk(&wire.GrantConstraints{EncryptionContextSubset: map[string]string{"Dept": "IT"}})
	for _, tc := range []struct {
		name string
		key  string
		ctx  map[string]string
		ok   bool
	}{
		{"equals/match", equals, map[string]string{"Dept": "IT"}, true},
		{"equals/extra-pair", equals, map[string]string{"Dept": "IT", "Team": "a"}, false},
		{"equals/key-case", equals, map[string]string{"dept": "IT"}, false},
		{"equals/value-case", equals, map[string]string{"Dept": "it"}, false},
		{"equals/none", equals, nil, false},
		{"subset/match", subset, map[string]string{"Dept": "IT"}, true},
		{"subset/extra-pair", subset, map[string]string{"Dept": "IT", "Team": "a"}, true},
		{"subset/key-case", subset, map[string]string{"DEPT": "IT"}, false},
		{"subset/missing", subset, map[string]string{"Team": "a"}, false},
		{"subset/none", subset, nil, false},
	} {
		err := encryptAs(e.svc, fresh(alice), tc.key, tc.ctx)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && wireCode(err) != "AccessDeniedException" {
			t.Errorf("%s: err = %v, want AccessDeniedException", tc.name, err)
		}
	}
	for _, key := range []string{equals, subset} {
		if err := describeAs(e.svc, fresh(alice), key); err != nil {
			t.Errorf("DescribeKey under a context constraint: %v", err)
		}
	}
}

// TestExplicitDenyBeatsGrant: a Deny in the caller's identity policy or
// in the key policy refuses what a grant allows.
func TestExplicitDenyBeatsGrant(t *testing.T) {
	e := newAuthzEnv(t)
	denyAlice := `{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*"}`
	key := e.key(t, keyPolicy(rootAll, denyAlice))
	e.grant(t, key, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr(userARN(acctA, "alice")), Operations: []string{"Encrypt", "DescribeKey"}})
	c := fresh(userOf(acctA, "alice"))
	wantDenied(t, encryptAs(e.svc, c, key, nil), "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: "+key+" with an explicit deny in a resource-based policy")
	if lastCheck(t, c).GrantID != "" {
		t.Error("denied check names a grant")
	}

	key2 := e.key(t, keyPolicy(rootAll))
	e.grant(t, key2, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr(userARN(acctA, "bob")), Operations: []string{"Encrypt"}})
	e.ids[userARN(acctA, "bob")] = []*policy.Policy{mustIdentity(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}`)}
	wantDenied(t, encryptAs(e.svc, fresh(userOf(acctA, "bob")), key2, nil), "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Encrypt on resource: "+key2+" with an explicit deny in an identity-based policy")
}

// twoNodes returns two Services over one store and root key, with a
// cache TTL and a clock the test moves.
func twoNodes(t *testing.T, ttl time.Duration) (a, b *kms.Service, now *atomic.Int64) {
	t.Helper()
	dir := t.TempDir()
	root, err := keystore.OpenFileRoot(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := embedded.Open(filepath.Join(dir, "trent.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now = new(atomic.Int64)
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	mk := func() *kms.Service {
		s, err := kms.New(kms.Config{Store: db, Root: root, Rand: rand.Reader, Now: clock, CacheTTL: ttl, Policies: identities{}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b = mk(), mk()
	for _, acct := range []string{acctA, acctB} {
		if err := a.EnsureAccount(context.Background(), acct); err != nil {
			t.Fatal(err)
		}
	}
	return a, b, now
}

// TestGrantTokenBeforeVisibleAndRevokeAcrossNodes: node B has the key and
// its (empty) grants cached; a grant created on node A is usable on B at
// once with its token, and without it once B's cache expires; a revoke on
// A stops the grant on B within the TTL, and its token at once.
func TestGrantTokenBeforeVisibleAndRevokeAcrossNodes(t *testing.T) {
	const ttl = time.Minute
	nodeA, nodeB, now := twoNodes(t, ttl)
	ctx := context.Background()
	out, err := nodeA.CreateKey(ctx, fresh(rootOf(acctA)), &wire.CreateKeyRequest{Policy: keyPolicy(rootAll), BypassPolicyLockoutSafetyCheck: wire.Ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	key := *out.KeyMetadata.Arn
	alice := userOf(acctA, "alice")
	wantDenied(t, encryptAs(nodeB, fresh(alice), key, nil), "*") // B caches the key with no grants

	g, err := nodeA.CreateGrant(ctx, fresh(rootOf(acctA)), &wire.CreateGrantRequest{KeyId: &key, GranteePrincipal: wire.Ptr(userARN(acctA, "alice")), Operations: []string{"Encrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := encryptAs(nodeA, fresh(alice), key, nil); err != nil {
		t.Errorf("node A, no token: %v", err)
	}
	wantDenied(t, encryptAs(nodeB, fresh(alice), key, nil), "*")
	c := fresh(alice)
	if err := encryptAs(nodeB, c, key, nil, *g.GrantToken); err != nil {
		t.Fatalf("node B with the token: %v", err)
	}
	if lastCheck(t, c).GrantID != *g.GrantId {
		t.Errorf("check names grant %q, want %s", lastCheck(t, c).GrantID, *g.GrantId)
	}
	now.Add(int64(ttl))
	if err := encryptAs(nodeB, fresh(alice), key, nil); err != nil {
		t.Errorf("node B after the TTL, no token: %v", err)
	}

	if err := nodeA.RevokeGrant(ctx, fresh(rootOf(acctA)), &wire.RevokeGrantRequest{KeyId: &key, GrantId: g.GrantId}); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, encryptAs(nodeA, fresh(alice), key, nil, *g.GrantToken), "*") // the token reads the store: the grant is gone
	if err := encryptAs(nodeB, fresh(alice), key, nil); err != nil {
		t.Errorf("node B within the TTL still trusts its cache: %v", err)
	}
	now.Add(int64(ttl))
	wantDenied(t, encryptAs(nodeB, fresh(alice), key, nil), "*")
	wantDenied(t, encryptAs(nodeB, fresh(alice), key, nil, *g.GrantToken), "*")
}

// TestGrantTokensValidated: a token this server did not issue, or one
// that was changed, is InvalidGrantTokenException on every operation
// that takes tokens; a token is never logged.
func TestGrantTokensValidated(t *testing.T) {
	logs := &logBuffer{}
	ids := identities{}
	svc, _ := newService(t, kms.Config{Policies: ids, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	e := &authzEnv{svc: svc, ids: ids, rootA: rootOf(acctA), rootB: rootOf(acctB)}
	ctx := context.Background()
	if err := svc.EnsureAccount(ctx, acctA); err != nil {
		t.Fatal(err)
	}
	key := e.key(t, nil)
	_, tok := e.grant(t, key, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr(userARN(acctA, "alice")), Operations: []string{"Encrypt"}})
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		t.Fatalf("token is not base64: %v", err)
	}
	raw[len(raw)-1] ^= 1
	flipped := base64.StdEncoding.EncodeToString(raw)
	other, _ := newService(t, kms.Config{}) // another server: another root key
	if err := other.EnsureAccount(ctx, acctA); err != nil {
		t.Fatal(err)
	}
	otherKey := createKey(t, other, fresh(rootOf(acctA)), &wire.CreateKeyRequest{})
	og, err := other.CreateGrant(ctx, fresh(rootOf(acctA)), &wire.CreateGrantRequest{KeyId: &otherKey, GranteePrincipal: wire.Ptr(userARN(acctA, "alice")), Operations: []string{"Encrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	const msg = "The request was rejected because the specified grant token is not valid."
	for name, bad := range map[string]string{"changed": flipped, "not-base64": "!!", "other-server": *og.GrantToken, "random": base64.StdEncoding.EncodeToString(make([]byte, 80))} {
		wantWireError(t, encryptAs(svc, fresh(e.rootA), key, nil, tok, bad), "InvalidGrantTokenException", msg)
		wantWireError(t, describeAs(svc, fresh(e.rootA), key, bad), "InvalidGrantTokenException", msg)
		_, err := svc.GenerateDataKey(ctx, fresh(e.rootA), &wire.GenerateDataKeyRequest{KeyId: &key, NumberOfBytes: wire.Ptr(int32(16)), GrantTokens: []string{bad}})
		wantWireError(t, err, "InvalidGrantTokenException", msg)
		_, err = svc.CreateGrant(ctx, fresh(e.rootA), &wire.CreateGrantRequest{KeyId: &key, GranteePrincipal: wire.Ptr(userARN(acctA, "bob")), Operations: []string{"Decrypt"}, GrantTokens: []string{bad}})
		wantWireError(t, err, "InvalidGrantTokenException", msg)
		err = svc.RetireGrant(ctx, fresh(e.rootA), &wire.RetireGrantRequest{GrantToken: &bad})
		wantWireError(t, err, "InvalidGrantTokenException", msg)
		_ = name
	}
	if err := encryptAs(svc, fresh(e.rootA), key, nil, tok); err != nil {
		t.Errorf("a valid token: %v", err)
	}
	if strings.Contains(logs.String(), tok) || len(logs.records(t, "INFO", "grant created")) != 1 {
		t.Errorf("logs: %s", logs.String())
	}
}

// TestChildGrants: a grantee that has CreateGrant from a grant may create
// grants with a subset of its operations and constraints at least as
// strict.
func TestChildGrants(t *testing.T) {
	e := newAuthzEnv(t)
	ctx := context.Background()
	key := e.key(t, keyPolicy(rootAll))
	alice := userOf(acctA, "alice")
	e.grant(t, key, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr(userARN(acctA, "alice")),
		Operations: []string{"Decrypt", "Encrypt", "CreateGrant"}, Constraints: &wire.GrantConstraints{EncryptionContextSubset: map[string]string{"Dept": "IT"}}})
	create := func(ops []string, c *wire.GrantConstraints) error {
		_, err := e.svc.CreateGrant(ctx, fresh(alice), &wire.CreateGrantRequest{KeyId: &key, GranteePrincipal: wire.Ptr(userARN(acctA, "bob")), Operations: ops, Constraints: c})
		return err
	}
	for _, tc := range []struct {
		name string
		ops  []string
		c    *wire.GrantConstraints
		ok   bool
	}{
		{"subset-ops/more-pairs", []string{"Decrypt"}, &wire.GrantConstraints{EncryptionContextSubset: map[string]string{"Dept": "IT", "Team": "a"}}, true},
		{"subset-to-equals", []string{"Encrypt", "Decrypt"}, &wire.GrantConstraints{EncryptionContextEquals: map[string]string{"Dept": "IT"}}, true},
		{"other-op", []string{"Decrypt", "GenerateDataKey"}, &wire.GrantConstraints{EncryptionContextSubset: map[string]string{"Dept": "IT"}}, false},
		{"no-constraint", []string{"Decrypt"}, nil, false},
		{"pair-removed", []string{"Decrypt"}, &wire.GrantConstraints{EncryptionContextSubset: map[string]string{"Team": "a"}}, false},
		{"other-value", []string{"Decrypt"}, &wire.GrantConstraints{EncryptionContextEquals: map[string]string{"Dept": "HR"}}, false},
	} {
		err := create(tc.ops, tc.c)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && wireCode(err) != "AccessDeniedException" {
			t.Errorf("%s: err = %v, want AccessDeniedException", tc.name, err)
		}
	}
	// An Equals parent admits only the same Equals.
	key2 := e.key(t, keyPolicy(rootAll))
	e.grant(t, key2, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr(userARN(acctA, "alice")),
		Operations: []string{"Decrypt", "CreateGrant"}, Constraints: &wire.GrantConstraints{EncryptionContextEquals: map[string]string{"Dept": "IT"}}})
	_, err := e.svc.CreateGrant(ctx, fresh(alice), &wire.CreateGrantRequest{KeyId: &key2, GranteePrincipal: wire.Ptr(userARN(acctA, "bob")), Operations: []string{"Decrypt"},
		Constraints: &wire.GrantConstraints{EncryptionContextSubset: map[string]string{"Dept": "IT"}}})
	wantDenied(t, err, "*")
	if _, err := e.svc.CreateGrant(ctx, fresh(alice), &wire.CreateGrantRequest{KeyId: &key2, GranteePrincipal: wire.Ptr(userARN(acctA, "bob")), Operations: []string{"Decrypt"},
		Constraints: &wire.GrantConstraints{EncryptionContextEquals: map[string]string{"Dept": "IT"}}}); err != nil {
		t.Errorf("same Equals: %v", err)
	}
}

// TestRetireAndRevoke: who may retire and revoke.
func TestRetireAndRevoke(t *testing.T) {
	e := newAuthzEnv(t)
	ctx := context.Background()
	key := e.key(t, keyPolicy(rootAll))
	alice, bob, carol := userOf(acctA, "alice"), userOf(acctA, "bob"), userOf(acctA, "carol")
	newGrant := func(ops ...string) (string, string) {
		return e.grant(t, key, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr(userARN(acctA, "alice")), RetiringPrincipal: wire.Ptr(userARN(acctA, "carol")), Operations: ops})
	}
	retire := func(c *kms.Caller, id string) error {
		return e.svc.RetireGrant(ctx, fresh(c), &wire.RetireGrantRequest{KeyId: &key, GrantId: &id})
	}
	exists := func(id string) bool {
		out, err := e.svc.ListGrants(ctx, fresh(e.rootA), &wire.ListGrantsRequest{KeyId: &key, GrantId: &id})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Grants) == 1
	}

	id, _ := newGrant("Decrypt")
	wantDenied(t, retire(bob, id), "*")
	wantDenied(t, retire(alice, id), "*") // grantee without RetireGrant
	wantDenied(t, retire(e.rootB, id), "*")
	if err := e.svc.RetireGrant(ctx, fresh(alice), &wire.RetireGrantRequest{KeyId: &key, GrantId: &id, DryRun: wire.Ptr(true)}); wireCode(err) != "AccessDeniedException" {
		t.Errorf("DryRun by a party that may not retire: %v", err)
	}
	err := e.svc.RetireGrant(ctx, fresh(carol), &wire.RetireGrantRequest{KeyId: &key, GrantId: &id, DryRun: wire.Ptr(true)})
	wantWireError(t, err, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	if !exists(id) {
		t.Fatal("DryRun retired the grant")
	}
	if err := retire(carol, id); err != nil {
		t.Errorf("retiring principal: %v", err)
	}
	if exists(id) {
		t.Error("grant still listed after RetireGrant")
	}
	wantWireError(t, retire(carol, id), "NotFoundException", "*")

	id, _ = newGrant("Decrypt", "RetireGrant")
	c := fresh(alice)
	if err := e.svc.RetireGrant(ctx, c, &wire.RetireGrantRequest{KeyId: &key, GrantId: &id}); err != nil {
		t.Errorf("grantee with RetireGrant: %v", err)
	}
	if lastCheck(t, c).GrantID != id {
		t.Errorf("retire by grantee: check %+v does not name the grant", lastCheck(t, c))
	}

	id, tok := newGrant("Decrypt")
	if err := e.svc.RetireGrant(ctx, fresh(e.rootA), &wire.RetireGrantRequest{GrantToken: &tok}); err != nil {
		t.Errorf("issuing account's root, by token: %v", err)
	}
	if exists(id) {
		t.Error("grant still listed after RetireGrant by token")
	}

	// An IAM user of the issuing account needs kms:RetireGrant in its
	// policies; an explicit Deny refuses even the retiring principal.
	id, _ = newGrant("Decrypt")
	e.ids[userARN(acctA, "bob")] = []*policy.Policy{mustIdentity(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:RetireGrant","Resource":"*"}]}`)}
	e.ids[userARN(acctA, "carol")] = []*policy.Policy{mustIdentity(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:RetireGrant","Resource":"*"}]}`)}
	wantDenied(t, retire(carol, id), "*")
	if err := retire(bob, id); err != nil {
		t.Errorf("IAM user of the issuing account allowed kms:RetireGrant: %v", err)
	}

	// Revoke: key administrators with kms:RevokeGrant, not the grantee.
	id, _ = newGrant("Decrypt", "Encrypt", "DescribeKey", "RetireGrant", "CreateGrant")
	err = e.svc.RevokeGrant(ctx, fresh(alice), &wire.RevokeGrantRequest{KeyId: &key, GrantId: &id})
	wantDenied(t, err, "*")
	err = e.svc.RevokeGrant(ctx, fresh(e.rootA), &wire.RevokeGrantRequest{KeyId: &key, GrantId: &id, DryRun: wire.Ptr(true)})
	wantWireError(t, err, "DryRunOperationException", "*")
	if !exists(id) {
		t.Fatal("DryRun revoked the grant")
	}
	if err := e.svc.RevokeGrant(ctx, fresh(e.rootA), &wire.RevokeGrantRequest{KeyId: &key, GrantId: &id}); err != nil {
		t.Errorf("RevokeGrant by the key's administrator: %v", err)
	}
	if exists(id) {
		t.Error("grant still listed after RevokeGrant")
	}
	err = e.svc.RevokeGrant(ctx, fresh(e.rootA), &wire.RevokeGrantRequest{KeyId: &key, GrantId: wire.Ptr("not-a-grant-id")})
	wantWireError(t, err, "InvalidGrantIdException", "*")
}

// TestCreateGrantValidation: operations the key does not support, the
// model's rules on principals, AWS's CreateGrant-only rule, unknown
// principals, the quota, DryRun, and Name idempotency.
func TestCreateGrantValidation(t *testing.T) {
	ids := identities{}
	svc, _ := newService(t, kms.Config{Policies: ids, Quotas: &kms.Quotas{GrantsPerKey: 2}})
	e := &authzEnv{svc: svc, ids: ids, rootA: rootOf(acctA), rootB: rootOf(acctB)}
	ctx := context.Background()
	if err := svc.EnsureAccount(ctx, acctA); err != nil {
		t.Fatal(err)
	}
	key := e.key(t, nil)
	alice := wire.Ptr(userARN(acctA, "alice"))
	create := func(in wire.CreateGrantRequest) (*wire.CreateGrantResponse, error) {
		if in.KeyId == nil {
			in.KeyId = &key
		}
		return svc.CreateGrant(ctx, fresh(e.rootA), &in)
	}
	_, err := create(wire.CreateGrantRequest{GranteePrincipal: alice, Operations: []string{"Sign"}})
	wantWireError(t, err, "ValidationException", "Grant operations [Sign] are not supported for a KMS key with KeySpec SYMMETRIC_DEFAULT and KeyUsage ENCRYPT_DECRYPT.")
	_, err = create(wire.CreateGrantRequest{GranteePrincipal: alice, Operations: []string{"CreateGrant"}})
	wantWireError(t, err, "ValidationException", "Grants must not contain only the CreateGrant operation.")
	_, err = create(wire.CreateGrantRequest{Operations: []string{"Decrypt"}})
	wantWireError(t, err, "ValidationException", "You must specify either GranteePrincipal or GranteeServicePrincipal, but not both.")
	_, err = create(wire.CreateGrantRequest{GranteeServicePrincipal: wire.Ptr("logs.us-east-1.amazonaws.com"), RetiringPrincipal: alice, Operations: []string{"Decrypt"}})
	wantWireError(t, err, "ValidationException", "A grant for a GranteeServicePrincipal must have a SourceArn constraint.")
	_, err = create(wire.CreateGrantRequest{GranteePrincipal: wire.Ptr("arn:aws:iam::999988887777:user/x"), Operations: []string{"Decrypt"}})
	wantWireError(t, err, "InvalidArnException", "ARN does not refer to a valid principal: arn:aws:iam::999988887777:user/x")
	_, err = create(wire.CreateGrantRequest{GranteePrincipal: wire.Ptr("arn:aws:iam::111122223333:group/devs"), Operations: []string{"Decrypt"}})
	wantWireError(t, err, "InvalidArnException", "*")
	signKey := createKey(t, svc, fresh(e.rootA), &wire.CreateKeyRequest{KeySpec: wire.Ptr("ECC_NIST_P256"), KeyUsage: wire.Ptr("SIGN_VERIFY")})
	if _, err := create(wire.CreateGrantRequest{KeyId: &signKey, GranteePrincipal: alice, Operations: []string{"Sign", "Verify", "GetPublicKey", "DescribeKey"}}); err != nil {
		t.Errorf("sign key grant: %v", err)
	}
	_, err = create(wire.CreateGrantRequest{KeyId: &signKey, GranteePrincipal: alice, Operations: []string{"GenerateDataKey"}})
	wantWireError(t, err, "ValidationException", "*")
	_, err = create(wire.CreateGrantRequest{KeyId: &signKey, GranteePrincipal: alice, Operations: []string{"Sign"}, Constraints: &wire.GrantConstraints{EncryptionContextSubset: map[string]string{"a": "b"}}})
	wantWireError(t, err, "ValidationException", "*")

	_, err = create(wire.CreateGrantRequest{GranteePrincipal: alice, Operations: []string{"Decrypt"}, DryRun: wire.Ptr(true)})
	wantWireError(t, err, "DryRunOperationException", "*")
	list, err := svc.ListGrants(ctx, fresh(e.rootA), &wire.ListGrantsRequest{KeyId: &key})
	if err != nil || len(list.Grants) != 0 {
		t.Fatalf("after DryRun: %v, %d grants", err, len(list.Grants))
	}

	g1, err := create(wire.CreateGrantRequest{Name: wire.Ptr("app"), GranteePrincipal: alice, Operations: []string{"Decrypt", "Encrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	g2, err := create(wire.CreateGrantRequest{Name: wire.Ptr("app"), GranteePrincipal: alice, Operations: []string{"Encrypt", "Decrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	if *g1.GrantId != *g2.GrantId || *g1.GrantToken == *g2.GrantToken {
		t.Errorf("retry with the same name: ids %s %s, tokens equal %v", *g1.GrantId, *g2.GrantId, *g1.GrantToken == *g2.GrantToken)
	}
	g3, err := create(wire.CreateGrantRequest{Name: wire.Ptr("app"), GranteePrincipal: alice, Operations: []string{"Decrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	if *g3.GrantId == *g1.GrantId {
		t.Error("same name, other operations: same grant")
	}
	_, err = create(wire.CreateGrantRequest{GranteePrincipal: alice, Operations: []string{"Decrypt"}})
	wantWireError(t, err, "LimitExceededException", "Grants per key quota for this account in this region is 2, current usage is 2.")
	// The retry of an existing grant is not a new grant: the quota does not refuse it.
	if _, err := create(wire.CreateGrantRequest{Name: wire.Ptr("app"), GranteePrincipal: alice, Operations: []string{"Decrypt"}}); err != nil {
		t.Errorf("retry at the quota: %v", err)
	}
}

// TestGrantConditionKeys: kms:GrantOperations, kms:GranteePrincipal,
// kms:RetiringPrincipal, kms:GrantConstraintType and
// kms:GrantIsForAWSResource govern who may create grants.
func TestGrantConditionKeys(t *testing.T) {
	e := newAuthzEnv(t)
	ctx := context.Background()
	adminStmt := `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/admin"},"Action":"kms:CreateGrant","Resource":"*","Condition":{
		"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","DescribeKey"]},
		"StringEquals":{"kms:GranteePrincipal":"arn:aws:iam::111122223333:user/alice","kms:GrantConstraintType":"EncryptionContextSubset"},
		"StringEqualsIfExists":{"kms:RetiringPrincipal":"arn:aws:iam::111122223333:user/carol"},
		"Bool":{"kms:GrantIsForAWSResource":"false"}}}`
	key := e.key(t, keyPolicy(rootAll, adminStmt))
	admin := userOf(acctA, "admin")
	subset := &wire.GrantConstraints{EncryptionContextSubset: map[string]string{"a": "b"}}
	for _, tc := range []struct {
		name              string
		grantee, retiring string
		ops               []string
		c                 *wire.GrantConstraints
		ok                bool
	}{
		{"allowed", "alice", "", []string{"Decrypt"}, subset, true},
		{"allowed/retiring", "alice", "carol", []string{"Decrypt", "DescribeKey"}, subset, true},
		{"operation", "alice", "", []string{"Decrypt", "Encrypt"}, subset, false},
		{"grantee", "bob", "", []string{"Decrypt"}, subset, false},
		{"retiring", "alice", "bob", []string{"Decrypt"}, subset, false},
		{"constraint-type", "alice", "", []string{"Decrypt"}, &wire.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "b"}}, false},
		{"no-constraint", "alice", "", []string{"Decrypt"}, nil, false},
	} {
		in := &wire.CreateGrantRequest{KeyId: &key, GranteePrincipal: wire.Ptr(userARN(acctA, tc.grantee)), Operations: tc.ops, Constraints: tc.c}
		if tc.retiring != "" {
			in.RetiringPrincipal = wire.Ptr(userARN(acctA, tc.retiring))
		}
		_, err := e.svc.CreateGrant(ctx, fresh(admin), in)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && wireCode(err) != "AccessDeniedException" {
			t.Errorf("%s: err = %v, want AccessDeniedException", tc.name, err)
		}
	}
}

// TestDisabledKeyGrantsGiveNoUse: a disabled key's grants remain but give
// nothing until it is enabled again.
func TestDisabledKeyGrantsGiveNoUse(t *testing.T) {
	e := newAuthzEnv(t)
	ctx := context.Background()
	key := e.key(t, keyPolicy(rootAll))
	e.grant(t, key, wire.CreateGrantRequest{GranteePrincipal: wire.Ptr(userARN(acctA, "alice")), Operations: []string{"DescribeKey"}})
	alice := userOf(acctA, "alice")
	if err := e.svc.DisableKey(ctx, fresh(e.rootA), &wire.DisableKeyRequest{KeyId: &key}); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, describeAs(e.svc, fresh(alice), key), "*")
	out, err := e.svc.ListGrants(ctx, fresh(e.rootA), &wire.ListGrantsRequest{KeyId: &key})
	if err != nil || len(out.Grants) != 1 {
		t.Fatalf("grants of the disabled key: %v, %v", err, out)
	}
	if err := e.svc.EnableKey(ctx, fresh(e.rootA), &wire.EnableKeyRequest{KeyId: &key}); err != nil {
		t.Fatal(err)
	}
	if err := describeAs(e.svc, fresh(alice), key); err != nil {
		t.Errorf("after EnableKey: %v", err)
	}
}

// TestListGrants: entries carry every field, paging works, and
// ListRetirableGrants finds grants by retiring principal.
func TestListGrants(t *testing.T) {
	e := newAuthzEnv(t)
	ctx := context.Background()
	key := e.key(t, nil)
	carol := userARN(acctA, "carol")
	var ids []string
	for i := range 3 {
		in := wire.CreateGrantRequest{GranteePrincipal: wire.Ptr(userARN(acctA, "alice")), Operations: []string{"Decrypt"}, RetiringPrincipal: &carol}
		if i == 0 {
			in.Name = wire.Ptr("first")
			in.Constraints = &wire.GrantConstraints{EncryptionContextEquals: map[string]string{"k": "v"}}
		}
		id, _ := e.grant(t, key, in)
		ids = append(ids, id)
	}
	out, err := e.svc.ListGrants(ctx, fresh(e.rootA), &wire.ListGrantsRequest{KeyId: &key, GrantId: &ids[0]})
	if err != nil || len(out.Grants) != 1 {
		t.Fatalf("ListGrants by id: %v, %+v", err, out)
	}
	g := out.Grants[0]
	if *g.KeyId != key || *g.GrantId != ids[0] || wire.Value(g.Name) != "first" || g.CreationDate == nil ||
		*g.GranteePrincipal != userARN(acctA, "alice") || *g.RetiringPrincipal != carol ||
		*g.IssuingAccount != "arn:aws:iam::111122223333:root" || len(g.Operations) != 1 || g.Constraints.EncryptionContextEquals["k"] != "v" {
		t.Errorf("entry = %+v", g)
	}
	var all []string
	var marker *string
	for {
		out, err := e.svc.ListGrants(ctx, fresh(e.rootA), &wire.ListGrantsRequest{KeyId: &key, Limit: wire.Ptr(int32(2)), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range out.Grants {
			all = append(all, *g.GrantId)
		}
		if !*out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	if len(all) != 3 {
		t.Errorf("paged ListGrants: %v", all)
	}
	r, err := e.svc.ListRetirableGrants(ctx, fresh(e.rootA), &wire.ListRetirableGrantsRequest{RetiringPrincipal: &carol, Limit: wire.Ptr(int32(1))})
	if err != nil || len(r.Grants) != 1 || !*r.Truncated {
		t.Fatalf("ListRetirableGrants: %v, %+v", err, r)
	}
	r2, err := e.svc.ListRetirableGrants(ctx, fresh(e.rootA), &wire.ListRetirableGrantsRequest{RetiringPrincipal: &carol, Marker: r.NextMarker})
	if err != nil || len(r2.Grants) != 2 {
		t.Fatalf("ListRetirableGrants page 2: %v, %+v", err, r2)
	}
	_, err = e.svc.ListRetirableGrants(ctx, fresh(e.rootB), &wire.ListRetirableGrantsRequest{RetiringPrincipal: &carol})
	wantDenied(t, err, "*")
}
