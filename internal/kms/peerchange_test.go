package kms_test

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/wire"
)

// TestPeerCreateChecksTheReplica: a peer deployment that serves the
// primary's region may create a replica here, but only one a ReplicateKey
// could have made: a customer managed key of a key spec and usage that go
// together, with Origin AWS_KMS or EXTERNAL. A peer could otherwise plant
// an AWS managed key (which the account cannot schedule for deletion) or
// a key that claims a custom key store origin in any account here.
func TestPeerCreateChecksTheReplica(t *testing.T) {
	svc, _ := newService(t, kms.Config{Regions: []string{"us-east-1"}})
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, kms.DefaultAccountID, "", ""); err != nil {
		t.Fatal(err)
	}
	fromEU := func(r string) bool { return r == "eu-west-1" }
	good := kms.MemberCreate{KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT", Origin: "AWS_KMS", KeyManager: "CUSTOMER", Policy: "{}"}
	for name, c := range map[string]kms.MemberCreate{
		"AWS managed":        {KeySpec: good.KeySpec, KeyUsage: good.KeyUsage, Origin: good.Origin, KeyManager: "AWS", Policy: good.Policy},
		"no key manager":     {KeySpec: good.KeySpec, KeyUsage: good.KeyUsage, Origin: good.Origin, Policy: good.Policy},
		"CloudHSM origin":    {KeySpec: good.KeySpec, KeyUsage: good.KeyUsage, Origin: "AWS_CLOUDHSM", KeyManager: good.KeyManager, Policy: good.Policy},
		"external key store": {KeySpec: good.KeySpec, KeyUsage: good.KeyUsage, Origin: "EXTERNAL_KEY_STORE", KeyManager: good.KeyManager, Policy: good.Policy},
		"unknown spec":       {KeySpec: "AES_128", KeyUsage: good.KeyUsage, Origin: good.Origin, KeyManager: good.KeyManager, Policy: good.Policy},
		"spec and usage":     {KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "SIGN_VERIFY", Origin: good.Origin, KeyManager: good.KeyManager, Policy: good.Policy},
	} {
		id := "mrk-0123456789abcdef0123456789abcde0"
		raw := make([]byte, 32)
		rand.Read(raw)
		c := c
		err := svc.ApplyPeerChange(ctx, &kms.MemberChange{Region: "us-east-1", KeyID: id, AccountID: kms.DefaultAccountID, Create: &c,
			Config:    &kms.MemberConfig{Primary: "eu-west-1", Replicas: []string{"us-east-1"}},
			Materials: []kms.MemberMaterial{{ID: "00" + id[4:] + id[4:], Raw: raw}}}, fromEU)
		if wireCode(err) == "" {
			t.Errorf("%s: ApplyPeerChange = %v, want a refusal", name, err)
		}
		if _, err := svc.DescribeKey(ctx, testCaller, &wire.DescribeKeyRequest{KeyId: &id}); wireCode(err) != "NotFoundException" {
			t.Fatalf("%s: the replica exists (DescribeKey = %v)", name, err)
		}
	}
	// The same change with a customer managed key is applied.
	id := "mrk-0123456789abcdef0123456789abcde1"
	raw := make([]byte, 32)
	rand.Read(raw)
	if err := svc.ApplyPeerChange(ctx, &kms.MemberChange{Region: "us-east-1", KeyID: id, AccountID: kms.DefaultAccountID, Create: &good,
		Config:    &kms.MemberConfig{Primary: "eu-west-1", Replicas: []string{"us-east-1"}},
		Materials: []kms.MemberMaterial{{ID: "00" + id[4:] + id[4:], Raw: raw}}}, fromEU); err != nil {
		t.Fatal(err)
	}
}
