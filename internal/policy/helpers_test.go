package policy_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/policy"
)

const (
	acct    = "111122223333"
	other   = "444455556666"
	keyARN  = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	keyARN2 = "arn:aws:kms:us-east-1:444455556666:key/0987dcba-09fe-87dc-65ba-ab0987654321"
)

func root(a string) policy.Principal {
	return policy.Principal{Type: policy.PrincipalAccount, ARN: "arn:aws:iam::" + a + ":root", Account: a, UserID: a}
}

func user(a, name string) policy.Principal {
	return policy.Principal{Type: policy.PrincipalUser, ARN: "arn:aws:iam::" + a + ":user/" + name, Account: a,
		UserID: "AIDAEXAMPLE" + name, Username: name}
}

func session(a, role, sess string) policy.Principal {
	return policy.Principal{Type: policy.PrincipalAssumedRole, ARN: "arn:aws:sts::" + a + ":assumed-role/" + role + "/" + sess,
		Account: a, RoleARN: "arn:aws:iam::" + a + ":role/" + role, UserID: "AROAEXAMPLE:" + sess}
}

func service(name string) policy.Principal {
	return policy.Principal{Type: policy.PrincipalService, Service: name}
}

func webIdentity(provider string) policy.Principal {
	return policy.Principal{Type: policy.PrincipalWebIdentity, Federated: provider}
}

var testTime = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

// req builds a kms:Encrypt request on keyARN by alice in acct.
func req(mods ...func(*policy.Request)) *policy.Request {
	r := &policy.Request{
		Action: "kms:Encrypt", Resource: keyARN, ResourceAccount: acct,
		Principal: user(acct, "alice"), SourceIP: netip.MustParseAddr("203.0.113.7"),
		SecureTransport: true, Time: testTime,
	}
	for _, m := range mods {
		m(r)
	}
	return r
}

func as(p policy.Principal) func(*policy.Request) {
	return func(r *policy.Request) { r.Principal = p }
}

func action(a string) func(*policy.Request) { return func(r *policy.Request) { r.Action = a } }

func on(res, owner string) func(*policy.Request) {
	return func(r *policy.Request) { r.Resource, r.ResourceAccount = res, owner }
}

func keys(kv map[string]policy.Values) func(*policy.Request) {
	return func(r *policy.Request) {
		ck := &policy.ContextKeys{}
		for k, v := range kv {
			ck.Set(k, v)
		}
		r.Keys = ck
	}
}

func ec(m map[string]string) func(*policy.Request) {
	return func(r *policy.Request) {
		ck, _ := r.Keys.(*policy.ContextKeys)
		if ck == nil {
			ck = &policy.ContextKeys{}
			r.Keys = ck
		}
		ck.SetEncryptionContext(m)
	}
}

func mustParse(t testing.TB, doc string, k policy.Kind) *policy.Policy {
	t.Helper()
	p, err := policy.Parse(doc, k)
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return p
}

func errAs(err error, target **policy.Error) bool {
	e, ok := err.(*policy.Error)
	if ok {
		*target = e
	}
	return ok
}
