package kms_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/wire"
)

const (
	acctA = kms.DefaultAccountID // 111122223333
	acctB = "444455556666"
)

// identities is a PolicySource over identity policies written in the
// test, by caller ARN: a stand-in for the IAM store.
type identities map[string][]*policy.Policy

func (p identities) IdentityPolicies(_ context.Context, c *kms.Caller) ([]*policy.Policy, error) {
	return p[c.Identity.ARN], nil
}

func mustIdentity(t testing.TB, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse(doc, policy.IdentityPolicy)
	if err != nil {
		t.Fatalf("identity policy: %v", err)
	}
	return p
}

func rootOf(acct string) *kms.Caller {
	arn := "arn:aws:iam::" + acct + ":root"
	return &kms.Caller{AccountID: acct, Principal: arn, Region: "us-east-1",
		Identity: policy.Principal{Type: policy.PrincipalAccount, ARN: arn, Account: acct, UserID: acct},
		Authz:    new(kms.Authorization)}
}

func userOf(acct, name string, tags ...policy.Tag) *kms.Caller {
	arn := "arn:aws:iam::" + acct + ":user/" + name
	return &kms.Caller{AccountID: acct, Principal: arn, Region: "us-east-1",
		Identity: policy.Principal{Type: policy.PrincipalUser, ARN: arn, Account: acct, UserID: "AIDA" + strings.ToUpper(name), Username: name, Tags: tags},
		Authz:    new(kms.Authorization)}
}

// fresh returns c with a new Authorization, for one request.
func fresh(c *kms.Caller) *kms.Caller {
	cc := *c
	cc.Authz = new(kms.Authorization)
	return &cc
}

// authzEnv is a service with two accounts, A and B, and identity policies
// for IAM users of both.
type authzEnv struct {
	svc   *kms.Service
	ids   identities
	rootA *kms.Caller
	rootB *kms.Caller
}

func newAuthzEnv(t *testing.T) *authzEnv {
	t.Helper()
	ids := identities{}
	svc, _ := newService(t, kms.Config{Policies: ids})
	ctx := context.Background()
	for _, a := range []string{acctA, acctB} {
		if err := svc.EnsureAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	return &authzEnv{svc: svc, ids: ids, rootA: rootOf(acctA), rootB: rootOf(acctB)}
}

// key creates a symmetric key in A with the policy (nil: the default).
func (e *authzEnv) key(t *testing.T, pol *string, tags ...wire.Tag) string {
	t.Helper()
	out, err := e.svc.CreateKey(context.Background(), fresh(e.rootA), &wire.CreateKeyRequest{Policy: pol, Tags: tags, BypassPolicyLockoutSafetyCheck: wire.Ptr(pol != nil)})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return *out.KeyMetadata.Arn
}

// keyPolicy returns a key policy with the statements given (JSON objects).
func keyPolicy(stmts ...string) *string {
	s := `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	return &s
}

const aliasAdmin = `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:CreateAlias","Resource":"*"}`

const rootAll = `{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`

func wantDenied(t *testing.T, err error, msg string) {
	t.Helper()
	wantWireError(t, err, "AccessDeniedException", msg)
}

// TestAuthorizeActionsAndResources: every operation is authorized through
// the one step, with its IAM action, on the key's ARN (never the alias),
// on "*" for operations without a key, and on both resources where AWS
// checks two.
func TestAuthorizeActionsAndResources(t *testing.T) {
	e := newAuthzEnv(t)
	ctx := context.Background()
	arn := e.key(t, nil)
	other := e.key(t, nil)
	id := arn[strings.LastIndex(arn, "/")+1:]
	aliasARN := "arn:aws:kms:us-east-1:" + acctA + ":alias/app"
	if err := e.svc.CreateAlias(ctx, fresh(e.rootA), &wire.CreateAliasRequest{AliasName: wire.Ptr("alias/app"), TargetKeyId: &id}); err != nil {
		t.Fatal(err)
	}
	enc, err := e.svc.Encrypt(ctx, fresh(e.rootA), &wire.EncryptRequest{KeyId: &id, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	type check struct{ action, resource string }
	cases := []struct {
		name string
		call func(c *kms.Caller) error
		want []check
	}{
		{"Encrypt/alias", func(c *kms.Caller) error {
			_, err := e.svc.Encrypt(ctx, c, &wire.EncryptRequest{KeyId: wire.Ptr("alias/app"), Plaintext: []byte("x")})
			return err
		}, []check{{"kms:Encrypt", arn}}},
		{"Decrypt/without-KeyId", func(c *kms.Caller) error {
			_, err := e.svc.Decrypt(ctx, c, &wire.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
			return err
		}, []check{{"kms:Decrypt", arn}}},
		{"ReEncrypt", func(c *kms.Caller) error {
			_, err := e.svc.ReEncrypt(ctx, c, &wire.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: &other})
			return err
		}, []check{{"kms:ReEncryptFrom", arn}, {"kms:ReEncryptTo", other}}},
		{"GenerateDataKey", func(c *kms.Caller) error {
			_, err := e.svc.GenerateDataKey(ctx, c, &wire.GenerateDataKeyRequest{KeyId: &id, NumberOfBytes: wire.Ptr(int32(16))})
			return err
		}, []check{{"kms:GenerateDataKey", arn}}},
		{"DescribeKey", func(c *kms.Caller) error {
			_, err := e.svc.DescribeKey(ctx, c, &wire.DescribeKeyRequest{KeyId: &aliasARN})
			return err
		}, []check{{"kms:DescribeKey", arn}}},
		{"CreateKey", func(c *kms.Caller) error {
			_, err := e.svc.CreateKey(ctx, c, &wire.CreateKeyRequest{})
			return err
		}, []check{{"kms:CreateKey", "*"}}},
		{"CreateKey/tags", func(c *kms.Caller) error {
			_, err := e.svc.CreateKey(ctx, c, &wire.CreateKeyRequest{Tags: []wire.Tag{{TagKey: wire.Ptr("k"), TagValue: wire.Ptr("v")}}})
			return err
		}, []check{{"kms:CreateKey", "*"}, {"kms:TagResource", "*"}}},
		{"ListKeys", func(c *kms.Caller) error {
			_, err := e.svc.ListKeys(ctx, c, &wire.ListKeysRequest{})
			return err
		}, []check{{"kms:ListKeys", "*"}}},
		{"ListAliases", func(c *kms.Caller) error {
			_, err := e.svc.ListAliases(ctx, c, &wire.ListAliasesRequest{KeyId: &id})
			return err
		}, []check{{"kms:ListAliases", "*"}}},
		{"GenerateRandom", func(c *kms.Caller) error {
			_, err := e.svc.GenerateRandom(ctx, c, &wire.GenerateRandomRequest{NumberOfBytes: wire.Ptr(int32(8))})
			return err
		}, []check{{"kms:GenerateRandom", "*"}}},
		{"UpdateAlias", func(c *kms.Caller) error {
			return e.svc.UpdateAlias(ctx, c, &wire.UpdateAliasRequest{AliasName: wire.Ptr("alias/app"), TargetKeyId: &other})
		}, []check{{"kms:UpdateAlias", aliasARN}, {"kms:UpdateAlias", other}, {"kms:UpdateAlias", arn}}},
		{"DeleteAlias", func(c *kms.Caller) error {
			return e.svc.DeleteAlias(ctx, c, &wire.DeleteAliasRequest{AliasName: wire.Ptr("alias/app")})
		}, []check{{"kms:DeleteAlias", aliasARN}, {"kms:DeleteAlias", other}}},
		{"CreateAlias", func(c *kms.Caller) error {
			return e.svc.CreateAlias(ctx, c, &wire.CreateAliasRequest{AliasName: wire.Ptr("alias/app"), TargetKeyId: &id})
		}, []check{{"kms:CreateAlias", aliasARN}, {"kms:CreateAlias", arn}}},
		{"PutKeyPolicy", func(c *kms.Caller) error {
			return e.svc.PutKeyPolicy(ctx, c, &wire.PutKeyPolicyRequest{KeyId: &id, Policy: keyPolicy(rootAll)})
		}, []check{{"kms:PutKeyPolicy", arn}}},
		{"TagResource", func(c *kms.Caller) error {
			return e.svc.TagResource(ctx, c, &wire.TagResourceRequest{KeyId: &id, Tags: []wire.Tag{{TagKey: wire.Ptr("t"), TagValue: wire.Ptr("v")}}})
		}, []check{{"kms:TagResource", arn}}},
		{"ScheduleKeyDeletion", func(c *kms.Caller) error {
			_, err := e.svc.ScheduleKeyDeletion(ctx, c, &wire.ScheduleKeyDeletionRequest{KeyId: &other})
			return err
		}, []check{{"kms:ScheduleKeyDeletion", other}}},
	}
	for _, tc := range cases { // in order: UpdateAlias moves the alias that DeleteAlias then deletes
		c := fresh(e.rootA)
		if err := tc.call(c); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []check
		for _, ch := range c.Authz.Checks() {
			if !ch.Decision.Allowed {
				t.Errorf("%s: %s on %s not allowed: %s", tc.name, ch.Action, ch.Resource, ch.Decision.Reason)
			}
			got = append(got, check{ch.Action, ch.Resource})
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: checks %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestAuthorizeDecisions is the evaluation table as KMS fills the
// request: key policies, identity policies, cross-account, explicit
// denies and condition keys.
func TestAuthorizeDecisions(t *testing.T) {
	ctx := context.Background()
	const userA = "arn:aws:iam::111122223333:user/alice"
	const userB = "arn:aws:iam::444455556666:user/bob"
	type env struct {
		*authzEnv
		arn, id string
	}
	encrypt := func(c *kms.Caller, keyID string, ec map[string]string) func(e env) error {
		return func(e env) error {
			if keyID == "" {
				keyID = e.arn
			}
			_, err := e.svc.Encrypt(ctx, c, &wire.EncryptRequest{KeyId: &keyID, Plaintext: []byte("x"), EncryptionContext: ec})
			return err
		}
	}
	cases := []struct {
		name     string
		pol      *string           // key policy; nil: default
		tags     []wire.Tag        // of the key
		alias    string            // an alias of the key
		identity map[string]string // caller ARN -> identity policy
		call     func(c *kms.Caller) func(env) error
		caller   *kms.Caller
		want     string // "" allowed, else the AccessDenied message with KEY for the key ARN
	}{
		{name: "root/default-policy", caller: rootOf(acctA), want: ""},
		{name: "root/not-exempt", pol: keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}`),
			caller: rootOf(acctA), want: "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Encrypt on resource: KEY because no resource-based policy allows the kms:Encrypt action"},
		{name: "root/explicit-deny", pol: keyPolicy(rootAll, `{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"}`),
			caller: rootOf(acctA), want: "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Encrypt on resource: KEY with an explicit deny in a resource-based policy"},
		{name: "user/delegated-no-identity-policy", caller: userOf(acctA, "alice"),
			want: "User: " + userA + " is not authorized to perform: kms:Encrypt on resource: KEY because no identity-based policy allows the kms:Encrypt action"},
		{name: "user/delegated-identity-allows", caller: userOf(acctA, "alice"),
			identity: map[string]string{userA: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}]}`}},
		{name: "user/identity-explicit-deny", caller: userOf(acctA, "alice"),
			identity: map[string]string{userA: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}`},
			want:     "User: " + userA + " is not authorized to perform: kms:Encrypt on resource: KEY with an explicit deny in an identity-based policy"},
		{name: "user/identity-allows-other-key-only", caller: userOf(acctA, "alice"),
			identity: map[string]string{userA: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000"}]}`},
			want:     "User: " + userA + " is not authorized to perform: kms:Encrypt on resource: KEY because no identity-based policy allows the kms:Encrypt action"},
		{name: "user/named-in-key-policy", caller: userOf(acctA, "alice"),
			pol: keyPolicy(rootAll, `{"Effect":"Allow","Principal":{"AWS":"`+userA+`"},"Action":"kms:Encrypt","Resource":"*"}`)},
		{name: "cross-account/root-allowed-by-key-policy", caller: rootOf(acctB),
			pol: keyPolicy(rootAll, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}`)},
		{name: "cross-account/not-in-key-policy", caller: rootOf(acctB),
			want: "User: arn:aws:iam::444455556666:root is not authorized to perform: kms:Encrypt on this resource because the resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly denies access"},
		{name: "cross-account/user-needs-identity-policy", caller: userOf(acctB, "bob"),
			pol:  keyPolicy(rootAll, `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:Encrypt","Resource":"*"}`),
			want: "User: " + userB + " is not authorized to perform: kms:Encrypt on resource: KEY because no identity-based policy allows the kms:Encrypt action"},
		{name: "cross-account/user-with-identity-policy", caller: userOf(acctB, "bob"),
			pol:      keyPolicy(rootAll, `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:Encrypt","Resource":"*"}`),
			identity: map[string]string{userB: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:kms:*:111122223333:key/*"}]}`}},
		{name: "cross-account/named-user-still-needs-identity-policy", caller: userOf(acctB, "bob"),
			pol:  keyPolicy(rootAll, `{"Effect":"Allow","Principal":{"AWS":"`+userB+`"},"Action":"kms:Encrypt","Resource":"*"}`),
			want: "User: " + userB + " is not authorized to perform: kms:Encrypt on resource: KEY because no identity-based policy allows the kms:Encrypt action"},

		// Condition keys as KMS fills them.
		{name: "cond/encryption-context-match", caller: rootOf(acctA),
			pol:  keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:Purpose":"billing"}}}`),
			call: func(c *kms.Caller) func(env) error { return encrypt(c, "", map[string]string{"purpose": "billing"}) }},
		{name: "cond/encryption-context-mismatch", caller: rootOf(acctA),
			pol:  keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:purpose":"billing"}}}`),
			call: func(c *kms.Caller) func(env) error { return encrypt(c, "", map[string]string{"purpose": "payroll"}) },
			want: "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Encrypt on resource: KEY because no resource-based policy allows the kms:Encrypt action"},
		{name: "cond/encryption-context-keys-null", caller: rootOf(acctA),
			pol:  keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Encrypt","Resource":"*","Condition":{"Null":{"kms:EncryptionContextKeys":"false"}}}`),
			want: "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Encrypt on resource: KEY because no resource-based policy allows the kms:Encrypt action"},
		{name: "cond/encryption-algorithm-default", caller: rootOf(acctA),
			pol: keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT","kms:KeySpec":"SYMMETRIC_DEFAULT","kms:KeyUsage":"ENCRYPT_DECRYPT","kms:KeyOrigin":"AWS_KMS","kms:CallerAccount":"111122223333"},"Bool":{"kms:MultiRegion":"false"}}}`)},
		{name: "cond/request-alias-used", caller: rootOf(acctA), alias: "alias/finance",
			pol: keyPolicy(aliasAdmin, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:RequestAlias":"alias/finance"}}}`),
			call: func(c *kms.Caller) func(env) error {
				return encrypt(c, "arn:aws:kms:us-east-1:111122223333:alias/finance", nil)
			}},
		{name: "cond/request-alias-key-id", caller: rootOf(acctA), alias: "alias/finance",
			pol:  keyPolicy(aliasAdmin, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:RequestAlias":"alias/finance"}}}`),
			want: "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Encrypt on resource: KEY because no resource-based policy allows the kms:Encrypt action"},
		{name: "cond/resource-aliases", caller: userOf(acctA, "alice"), alias: "alias/finance-key",
			identity: map[string]string{userA: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/finance-key"}}}]}`}},
		{name: "cond/resource-aliases-none", caller: userOf(acctA, "alice"),
			identity: map[string]string{userA: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/finance-key"}}}]}`},
			want:     "User: " + userA + " is not authorized to perform: kms:Encrypt on resource: KEY because no identity-based policy allows the kms:Encrypt action"},
		{name: "cond/resource-tag-abac", caller: userOf(acctA, "alice", policy.Tag{Key: "team", Value: "blue"}),
			tags:     []wire.Tag{{TagKey: wire.Ptr("Team"), TagValue: wire.Ptr("blue")}},
			identity: map[string]string{userA: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}}]}`}},
		{name: "cond/resource-tag-other-team", caller: userOf(acctA, "alice", policy.Tag{Key: "team", Value: "red"}),
			tags:     []wire.Tag{{TagKey: wire.Ptr("team"), TagValue: wire.Ptr("blue")}},
			identity: map[string]string{userA: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}}]}`},
			want:     "User: " + userA + " is not authorized to perform: kms:Encrypt on resource: KEY because no identity-based policy allows the kms:Encrypt action"},
		{name: "cond/source-ip-deny", caller: func() *kms.Caller { c := rootOf(acctA); c.SourceIP = netip.MustParseAddr("203.0.113.9"); return c }(),
			pol:  keyPolicy(rootAll, `{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`),
			want: "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Encrypt on resource: KEY with an explicit deny in a resource-based policy"},
		{name: "cond/source-ip-allowed", caller: func() *kms.Caller { c := rootOf(acctA); c.SourceIP = netip.MustParseAddr("10.1.2.3"); return c }(),
			pol: keyPolicy(rootAll, `{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`)},
		{name: "cond/secure-transport", caller: rootOf(acctA),
			pol:  keyPolicy(rootAll, `{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`),
			want: "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Encrypt on resource: KEY with an explicit deny in a resource-based policy"},
		{name: "cond/secure-transport-tls", caller: func() *kms.Caller { c := rootOf(acctA); c.SecureTransport = true; return c }(),
			pol: keyPolicy(rootAll, `{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newAuthzEnv(t)
			for arn, doc := range tc.identity {
				e.ids[arn] = []*policy.Policy{mustIdentity(t, doc)}
			}
			arn := e.key(t, tc.pol, tc.tags...)
			id := arn[strings.LastIndex(arn, "/")+1:]
			if tc.alias != "" {
				if err := e.svc.CreateAlias(ctx, rootOf(acctA), &wire.CreateAliasRequest{AliasName: &tc.alias, TargetKeyId: &id}); err != nil {
					t.Fatal(err)
				}
			}
			call := tc.call
			if call == nil {
				call = func(c *kms.Caller) func(env) error { return encrypt(c, "", nil) }
			}
			c := fresh(tc.caller)
			err := call(c)(env{e, arn, id})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("denied: %v; checks %+v", err, c.Authz.Checks())
				}
				return
			}
			wantDenied(t, err, strings.ReplaceAll(tc.want, "KEY", arn))
			if ch, ok := c.Authz.Denied(); !ok || ch.Resource != arn || ch.Decision.Reason == "" {
				t.Fatalf("denial not recorded: %+v", c.Authz.Checks())
			}
		})
	}
}

// TestAuthorizeTwoResources: an operation on two resources needs both.
func TestAuthorizeTwoResources(t *testing.T) {
	ctx := context.Background()
	e := newAuthzEnv(t)
	src := e.key(t, nil)
	noTo := e.key(t, keyPolicy(rootAll, `{"Effect":"Deny","Principal":"*","Action":["kms:ReEncryptTo","kms:CreateAlias","kms:DeleteAlias","kms:UpdateAlias"],"Resource":"*"}`))
	enc, err := e.svc.Encrypt(ctx, e.rootA, &wire.EncryptRequest{KeyId: &src, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	root := "arn:aws:iam::111122223333:root"
	_, err = e.svc.ReEncrypt(ctx, fresh(e.rootA), &wire.ReEncryptRequest{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: &noTo})
	wantDenied(t, err, "User: "+root+" is not authorized to perform: kms:ReEncryptTo on resource: "+noTo+" with an explicit deny in a resource-based policy")

	// ReEncryptFrom denied on the source named by the ciphertext only.
	encNoTo, err := e.svc.Encrypt(ctx, e.rootA, &wire.EncryptRequest{KeyId: &noTo, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	noFrom := e.key(t, keyPolicy(rootAll, `{"Effect":"Deny","Principal":"*","Action":"kms:ReEncryptFrom","Resource":"*"}`))
	encNoFrom, err := e.svc.Encrypt(ctx, e.rootA, &wire.EncryptRequest{KeyId: &noFrom, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ReEncrypt(ctx, fresh(e.rootA), &wire.ReEncryptRequest{CiphertextBlob: encNoFrom.CiphertextBlob, DestinationKeyId: &src})
	wantDenied(t, err, "User: "+root+" is not authorized to perform: kms:ReEncryptFrom on the resource associated with this ciphertext with an explicit deny in a resource-based policy")
	if _, err := e.svc.ReEncrypt(ctx, fresh(e.rootA), &wire.ReEncryptRequest{CiphertextBlob: encNoTo.CiphertextBlob, DestinationKeyId: &src}); err != nil {
		t.Fatalf("ReEncrypt from a key that denies only ReEncryptTo: %v", err)
	}

	// Aliases: the key's policy decides, even though the alias is allowed.
	noToID := noTo[strings.LastIndex(noTo, "/")+1:]
	err = e.svc.CreateAlias(ctx, fresh(e.rootA), &wire.CreateAliasRequest{AliasName: wire.Ptr("alias/x"), TargetKeyId: &noToID})
	wantDenied(t, err, "User: "+root+" is not authorized to perform: kms:CreateAlias on resource: "+noTo+" with an explicit deny in a resource-based policy")
	srcID := src[strings.LastIndex(src, "/")+1:]
	if err := e.svc.CreateAlias(ctx, fresh(e.rootA), &wire.CreateAliasRequest{AliasName: wire.Ptr("alias/x"), TargetKeyId: &srcID}); err != nil {
		t.Fatal(err)
	}
	err = e.svc.UpdateAlias(ctx, fresh(e.rootA), &wire.UpdateAliasRequest{AliasName: wire.Ptr("alias/x"), TargetKeyId: &noToID})
	wantDenied(t, err, "User: "+root+" is not authorized to perform: kms:UpdateAlias on resource: "+noTo+" with an explicit deny in a resource-based policy")

	// DeleteAlias resolves the key the alias points to.
	if err := e.svc.PutKeyPolicy(ctx, fresh(e.rootA), &wire.PutKeyPolicyRequest{KeyId: &srcID, Policy: keyPolicy(rootAll, `{"Effect":"Deny","Principal":"*","Action":"kms:DeleteAlias","Resource":"*"}`)}); err != nil {
		t.Fatal(err)
	}
	err = e.svc.DeleteAlias(ctx, fresh(e.rootA), &wire.DeleteAliasRequest{AliasName: wire.Ptr("alias/x")})
	wantDenied(t, err, "User: "+root+" is not authorized to perform: kms:DeleteAlias on resource: "+src+" with an explicit deny in a resource-based policy")

	// The alias resource itself needs an identity policy for IAM users.
	alice := userOf(acctA, "alice")
	e.ids[alice.Identity.ARN] = []*policy.Policy{mustIdentity(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateAlias","Resource":"arn:aws:kms:*:*:key/*"}]}`)}
	err = e.svc.CreateAlias(ctx, fresh(alice), &wire.CreateAliasRequest{AliasName: wire.Ptr("alias/y"), TargetKeyId: &srcID})
	wantDenied(t, err, "User: "+alice.Principal+" is not authorized to perform: kms:CreateAlias on resource: arn:aws:kms:us-east-1:111122223333:alias/y because no identity-based policy allows the kms:CreateAlias action")
}

// TestAuthorizeKeylessOperations: CreateKey, ListKeys and GenerateRandom
// need an identity policy; the resource is "*", and CreateKey with Tags
// also needs kms:TagResource (the form without a resource).
func TestAuthorizeKeylessOperations(t *testing.T) {
	ctx := context.Background()
	e := newAuthzEnv(t)
	alice := userOf(acctA, "alice")
	_, err := e.svc.CreateKey(ctx, fresh(alice), &wire.CreateKeyRequest{})
	wantDenied(t, err, "User: "+alice.Principal+" is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action")
	_, err = e.svc.ListKeys(ctx, fresh(alice), &wire.ListKeysRequest{})
	wantDenied(t, err, "User: "+alice.Principal+" is not authorized to perform: kms:ListKeys on resource: * because no identity-based policy allows the kms:ListKeys action")

	e.ids[alice.Identity.ARN] = []*policy.Policy{mustIdentity(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*","Condition":{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"}}},
		{"Effect":"Allow","Action":"kms:GenerateRandom","Resource":"*"}]}`)}
	if _, err := e.svc.GenerateRandom(ctx, fresh(alice), &wire.GenerateRandomRequest{NumberOfBytes: wire.Ptr(int32(4))}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.CreateKey(ctx, fresh(alice), &wire.CreateKeyRequest{KeySpec: wire.Ptr("RSA_2048"), KeyUsage: wire.Ptr("SIGN_VERIFY")})
	wantDenied(t, err, "*")
	_, err = e.svc.CreateKey(ctx, fresh(alice), &wire.CreateKeyRequest{Tags: []wire.Tag{{TagKey: wire.Ptr("k"), TagValue: wire.Ptr("v")}}})
	wantDenied(t, err, "User: "+alice.Principal+" is not authorized to perform: kms:TagResource because no identity-based policy allows the kms:TagResource action")
	// Symmetric (the default spec) without tags: allowed by the identity
	// policy; the default key policy delegates to IAM, but alice's
	// identity policy does not allow kms:DescribeKey on the new key.
	out, err := e.svc.CreateKey(ctx, fresh(alice), &wire.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.DescribeKey(ctx, fresh(alice), &wire.DescribeKeyRequest{KeyId: out.KeyMetadata.KeyId})
	wantDenied(t, err, "User: "+alice.Principal+" is not authorized to perform: kms:DescribeKey on resource: "+*out.KeyMetadata.Arn+" because no identity-based policy allows the kms:DescribeKey action")
}

// TestAuthorizeManagementOperationsAreNotCrossAccount: a key policy that
// names another account does not let it manage the key: those operations
// have no cross-account use.
func TestAuthorizeManagementOperationsAreNotCrossAccount(t *testing.T) {
	ctx := context.Background()
	e := newAuthzEnv(t)
	arn := e.key(t, keyPolicy(rootAll, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:*","Resource":"*"}`))
	if _, err := e.svc.DescribeKey(ctx, fresh(e.rootB), &wire.DescribeKeyRequest{KeyId: &arn}); err != nil {
		t.Fatalf("DescribeKey across accounts: %v", err)
	}
	err := e.svc.DisableKey(ctx, fresh(e.rootB), &wire.DisableKeyRequest{KeyId: &arn})
	wantDenied(t, err, "User: arn:aws:iam::444455556666:root is not authorized to perform: kms:DisableKey on this resource because the resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly denies access")
}

// TestDryRunAuthorizesFirst: a denied DryRun is AccessDeniedException; an
// allowed one is DryRunOperationException and changes nothing.
func TestDryRunAuthorizesFirst(t *testing.T) {
	ctx := context.Background()
	e := newAuthzEnv(t)
	alice := userOf(acctA, "alice")
	arn := e.key(t, nil)
	dry := wire.Ptr(true)
	_, err := e.svc.Encrypt(ctx, fresh(alice), &wire.EncryptRequest{KeyId: &arn, Plaintext: []byte("x"), DryRun: dry})
	wantDenied(t, err, "User: "+alice.Principal+" is not authorized to perform: kms:Encrypt on resource: "+arn+" because no identity-based policy allows the kms:Encrypt action")
	_, err = e.svc.GenerateDataKey(ctx, fresh(alice), &wire.GenerateDataKeyRequest{KeyId: &arn, NumberOfBytes: wire.Ptr(int32(8)), DryRun: dry})
	wantDenied(t, err, "*")
	c := fresh(e.rootA)
	_, err = e.svc.Encrypt(ctx, c, &wire.EncryptRequest{KeyId: &arn, Plaintext: []byte("x"), DryRun: dry})
	wantWireError(t, err, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	if ch := c.Authz.Checks(); len(ch) != 1 || !ch[0].Decision.Allowed || ch[0].Decision.Sid != "Enable IAM User Permissions" {
		t.Fatalf("DryRun decision not recorded with the deciding statement: %+v", ch)
	}
}

// TestKeyPolicyValidation: CreateKey and PutKeyPolicy refuse malformed
// policies with AWS's messages, and the lockout safety check.
func TestKeyPolicyValidation(t *testing.T) {
	ctx := context.Background()
	var checked []string
	ids := identities{}
	svc, _ := newService(t, kms.Config{Policies: ids, PrincipalExists: func(_ context.Context, arn string) (bool, error) {
		checked = append(checked, arn)
		return arn == "arn:aws:iam::111122223333:role/Admin", nil
	}})
	if err := svc.EnsureAccount(ctx, acctA); err != nil {
		t.Fatal(err)
	}
	root := rootOf(acctA)
	out, err := svc.CreateKey(ctx, fresh(root), &wire.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := *out.KeyMetadata.KeyId
	cases := []struct {
		name, doc string
		bypass    bool
		msg       string
	}{
		{"not-json", "not a real policy statement", false, ""},
		{"no-statement", `{"Version":"2012-10-17"}`, false, ""},
		{"bad-effect", `{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}`, false, ""},
		{"unknown-account", *keyPolicy(rootAll, `{"Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"kms:Decrypt","Resource":"*"}`), false, policy.MsgInvalidPrincipals},
		{"unknown-account-root", *keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"kms:*","Resource":"*"}`), true, policy.MsgInvalidPrincipals},
		{"unknown-user", *keyPolicy(rootAll, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/nobody"},"Action":"kms:Decrypt","Resource":"*"}`), false, policy.MsgInvalidPrincipals},
		{"other-partition", *keyPolicy(rootAll, `{"Effect":"Allow","Principal":{"AWS":"arn:aws-cn:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*"}`), false, policy.MsgInvalidPrincipals},
		{"for-all-values-encryption-context", *keyPolicy(rootAll, `{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContext:app":"x"}}}`), false, policy.MsgOverlyPermissiveEncryptionContext},
		{"lockout", *keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Admin"},"Action":"kms:*","Resource":"*"}`), false, policy.MsgLockout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := svc.PutKeyPolicy(ctx, fresh(root), &wire.PutKeyPolicyRequest{KeyId: &id, Policy: &tc.doc, BypassPolicyLockoutSafetyCheck: &tc.bypass})
			wantWireError(t, err, "MalformedPolicyDocumentException", tc.msg)
			_, err = svc.CreateKey(ctx, fresh(root), &wire.CreateKeyRequest{Policy: &tc.doc, BypassPolicyLockoutSafetyCheck: &tc.bypass})
			wantWireError(t, err, "MalformedPolicyDocumentException", tc.msg)
		})
	}
	if fmt.Sprint(checked) == "[]" || !strings.Contains(fmt.Sprint(checked), "user/nobody") {
		t.Fatalf("PrincipalExists asked about %v", checked)
	}
	// The policy is unchanged after every refusal; bypassing the check
	// stores a policy that locks the root user out.
	got, err := svc.GetKeyPolicy(ctx, fresh(root), &wire.GetKeyPolicyRequest{KeyId: &id})
	if err != nil || *got.Policy != kms.DefaultKeyPolicy("aws", acctA) {
		t.Fatalf("policy after refusals: %v %v", got, err)
	}
	lockout := cases[len(cases)-1].doc
	if err := svc.PutKeyPolicy(ctx, fresh(root), &wire.PutKeyPolicyRequest{KeyId: &id, Policy: &lockout, BypassPolicyLockoutSafetyCheck: wire.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.GetKeyPolicy(ctx, fresh(root), &wire.GetKeyPolicyRequest{KeyId: &id})
	wantDenied(t, err, "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:GetKeyPolicy on resource: arn:aws:kms:us-east-1:111122223333:key/"+id+" because no resource-based policy allows the kms:GetKeyPolicy action")

	// The lockout check counts the caller's identity policies: a user
	// named by account delegation keeps PutKeyPolicy only through them.
	alice := userOf(acctA, "alice")
	ids[alice.Identity.ARN] = []*policy.Policy{mustIdentity(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:CreateKey","kms:PutKeyPolicy"],"Resource":"*"}]}`)}
	if _, err := svc.CreateKey(ctx, fresh(alice), &wire.CreateKeyRequest{Policy: keyPolicy(rootAll)}); err != nil {
		t.Fatalf("CreateKey by a user whose IAM policy keeps PutKeyPolicy: %v", err)
	}
	ids[alice.Identity.ARN] = []*policy.Policy{mustIdentity(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*"}]}`)}
	_, err = svc.CreateKey(ctx, fresh(alice), &wire.CreateKeyRequest{Policy: keyPolicy(rootAll)})
	wantWireError(t, err, "MalformedPolicyDocumentException", policy.MsgLockout)
}

// TestKeyPolicyTakesEffect: a policy put is enforced on the next request,
// on this node, without waiting for the cache.
func TestKeyPolicyTakesEffect(t *testing.T) {
	ctx := context.Background()
	e := newAuthzEnv(t)
	arn := e.key(t, nil)
	enc, err := e.svc.Encrypt(ctx, e.rootA, &wire.EncryptRequest{KeyId: &arn, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	deny := keyPolicy(rootAll, `{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*"}`)
	if err := e.svc.PutKeyPolicy(ctx, fresh(e.rootA), &wire.PutKeyPolicyRequest{KeyId: &arn, Policy: deny}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Decrypt(ctx, fresh(e.rootA), &wire.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
	wantDenied(t, err, "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext with an explicit deny in a resource-based policy")
	_, err = e.svc.Decrypt(ctx, fresh(e.rootA), &wire.DecryptRequest{CiphertextBlob: enc.CiphertextBlob, KeyId: &arn})
	wantDenied(t, err, "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Decrypt on resource: "+arn+" with an explicit deny in a resource-based policy")
}

// TestCallerWithoutPolicyPrincipalFailsClosed: a caller naming a user but
// carrying no policy principal is never taken for its account's root.
func TestCallerWithoutPolicyPrincipalFailsClosed(t *testing.T) {
	ctx := context.Background()
	e := newAuthzEnv(t)
	arn := e.key(t, nil)
	bare := &kms.Caller{AccountID: acctA, Principal: "arn:aws:iam::" + acctA + ":user/alice", Region: "us-east-1"}
	_, err := e.svc.DescribeKey(ctx, bare, &wire.DescribeKeyRequest{KeyId: &arn})
	wantDenied(t, err, "User: arn:aws:iam::"+acctA+":user/alice is not authorized to perform: kms:DescribeKey")
	_, err = e.svc.ListKeys(ctx, bare, &wire.ListKeysRequest{})
	wantDenied(t, err, "User: arn:aws:iam::"+acctA+":user/alice is not authorized to perform: kms:ListKeys")
	// A root caller without one is its account's root, as before.
	root := &kms.Caller{AccountID: acctA, Principal: "arn:aws:iam::" + acctA + ":root", Region: "us-east-1"}
	if _, err := e.svc.DescribeKey(ctx, root, &wire.DescribeKeyRequest{KeyId: &arn}); err != nil {
		t.Fatal(err)
	}
}
