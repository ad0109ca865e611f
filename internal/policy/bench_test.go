package policy_test

import (
	"testing"

	"github.com/trent-kms/trent/internal/policy"
)

const typicalUserPolicy = `{"Version":"2012-10-17","Statement":[
 {"Sid":"UseAppKeys","Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],
  "Resource":"arn:aws:kms:us-east-1:111122223333:key/*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"billing"},"Bool":{"aws:SecureTransport":"true"}}},
 {"Sid":"NoDeletion","Effect":"Deny","Action":["kms:ScheduleKeyDeletion","kms:DisableKey"],"Resource":"*"}]}`

func benchEval(b *testing.B, r *policy.Request, res *policy.Policy, ids ...*policy.Policy) {
	if d := policy.Evaluate(r, res, ids...); !d.Allowed {
		b.Fatalf("denied: %+v", d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		policy.Evaluate(r, res, ids...)
	}
}

func BenchmarkEvaluateDefaultKeyPolicyRoot(b *testing.B) {
	kp := mustParse(b, defaultKeyPolicy, policy.KeyPolicy)
	benchEval(b, req(as(root(acct))), kp)
}

func BenchmarkEvaluateDefaultKeyPolicyWithUserPolicy(b *testing.B) {
	kp := mustParse(b, defaultKeyPolicy, policy.KeyPolicy)
	up := mustParse(b, typicalUserPolicy, policy.IdentityPolicy)
	benchEval(b, req(ec(map[string]string{"app": "billing", "tenant": "acme"})), kp, up)
}

func BenchmarkParseDefaultKeyPolicy(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := policy.Parse(defaultKeyPolicy, policy.KeyPolicy); err != nil {
			b.Fatal(err)
		}
	}
}

// Evaluation allocates nothing; this is a test, not only a benchmark, so
// a regression fails the suite.
func TestEvaluateAllocatesNothing(t *testing.T) {
	kp := mustParse(t, defaultKeyPolicy, policy.KeyPolicy)
	up := mustParse(t, typicalUserPolicy, policy.IdentityPolicy)
	r := req(ec(map[string]string{"app": "billing"}))
	if n := testing.AllocsPerRun(200, func() { policy.Evaluate(r, kp, up) }); n != 0 {
		t.Errorf("Evaluate allocates %v times", n)
	}
	den := req(action("kms:ScheduleKeyDeletion"))
	if n := testing.AllocsPerRun(200, func() { policy.Evaluate(den, kp, up) }); n != 0 {
		t.Errorf("Evaluate (deny) allocates %v times", n)
	}
}
