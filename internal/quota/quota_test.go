package quota_test

import (
	"sync"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/quota"
)

// clock is a fake monotonic clock in nanoseconds.
type clock struct{ ns int64 }

func (c *clock) now() int64              { return c.ns }
func (c *clock) advance(d time.Duration) { c.ns += int64(d) }

func newLimiter(rates map[string]float64) (*quota.Limiter, *clock) {
	c := &clock{ns: 1_000_000_000_000}
	return quota.New(quota.Config{Rates: rates, Now: c.now}), c
}

func mustLookup(t *testing.T, name string) quota.ID {
	t.Helper()
	id, ok := quota.Lookup(name)
	if !ok {
		t.Fatalf("no quota %q", name)
	}
	return id
}

// allowed counts how many of n requests at the current time pass.
func allowed(l *quota.Limiter, account, region string, id quota.ID, n int) int {
	ok := 0
	for range n {
		if l.Allow(account, region, id) {
			ok++
		}
	}
	return ok
}

func TestBucketBurstAndRefill(t *testing.T) {
	l, c := newLimiter(nil)
	create := mustLookup(t, "create_key")
	// AWS's default: "CreateKey request rate | 5".
	if got := allowed(l, "111122223333", "us-east-1", create, 20); got != 5 {
		t.Fatalf("burst: %d of 20 allowed, want 5", got)
	}
	if l.Throttled(create) != 15 {
		t.Errorf("Throttled = %d, want 15", l.Throttled(create))
	}
	c.advance(199 * time.Millisecond)
	if l.Allow("111122223333", "us-east-1", create) {
		t.Fatal("allowed before a token was refilled (one per 200ms)")
	}
	c.advance(time.Millisecond)
	if !l.Allow("111122223333", "us-east-1", create) {
		t.Fatal("not allowed after 200ms")
	}
	if l.Allow("111122223333", "us-east-1", create) {
		t.Fatal("two requests allowed after one refill")
	}
	// Idle for a long time: the bucket holds one second's worth, no more.
	c.advance(time.Hour)
	if got := allowed(l, "111122223333", "us-east-1", create, 20); got != 5 {
		t.Fatalf("after an idle hour: %d allowed, want 5", got)
	}
	// A steady 5/s passes indefinitely.
	for i := range 50 {
		c.advance(200 * time.Millisecond)
		if !l.Allow("111122223333", "us-east-1", create) {
			t.Fatalf("steady rate: request %d throttled", i)
		}
	}
}

func TestRatesConfiguredRegionalAndUnlimited(t *testing.T) {
	sym := quota.Symmetric
	l, c := newLimiter(map[string]float64{"list_keys": 2, "cryptographic_rsa": 0})
	if got := allowed(l, "a", "eu-west-3", mustLookup(t, "list_keys"), 10); got != 2 {
		t.Errorf("configured list_keys 2/s: %d allowed", got)
	}
	if got := allowed(l, "a", "eu-west-3", quota.RSA, 5000); got != 5000 {
		t.Errorf("rate 0 must be unlimited: %d of 5000 allowed", got)
	}
	// Default symmetric: 10,000 in most regions, 100,000 in us-east-1.
	if r := l.Rate(sym, "eu-west-3"); r != 10_000 {
		t.Errorf("symmetric rate in eu-west-3 = %v", r)
	}
	if r := l.Rate(sym, "us-east-1"); r != 100_000 {
		t.Errorf("symmetric rate in us-east-1 = %v", r)
	}
	if r := l.Rate(sym, "ap-northeast-1"); r != 20_000 {
		t.Errorf("symmetric rate in ap-northeast-1 = %v", r)
	}
	if got := allowed(l, "a", "eu-west-3", sym, 10_001); got != 10_000 {
		t.Errorf("symmetric burst in eu-west-3: %d", got)
	}
	// Fractional rates: RSA_4096 data key pairs in China, 0.1/s.
	rsa4096 := mustLookup(t, "generate_data_key_pair_rsa_4096")
	if got := allowed(l, "a", "cn-north-1", rsa4096, 3); got != 1 {
		t.Errorf("0.1/s burst: %d", got)
	}
	c.advance(9 * time.Second)
	if l.Allow("a", "cn-north-1", rsa4096) {
		t.Error("0.1/s allowed a second request after 9s")
	}
	c.advance(time.Second)
	if !l.Allow("a", "cn-north-1", rsa4096) {
		t.Error("0.1/s refused a request after 10s")
	}
}

func TestQuotasAreIndependent(t *testing.T) {
	l, _ := newLimiter(map[string]float64{"create_key": 1, "create_alias": 1})
	ck, ca := mustLookup(t, "create_key"), mustLookup(t, "create_alias")
	if !l.Allow("a", "us-east-1", ck) || l.Allow("a", "us-east-1", ck) {
		t.Fatal("create_key 1/s")
	}
	// "requests for the CreateKey operation have no effect on the request
	// quota for the CreateAlias operation"; each account and region is
	// counted on its own.
	for _, tc := range []struct {
		account, region string
		id              quota.ID
	}{
		{"a", "us-east-1", ca}, {"b", "us-east-1", ck}, {"a", "us-west-2", ck},
	} {
		if !l.Allow(tc.account, tc.region, tc.id) {
			t.Errorf("%+v throttled by another account, region or quota", tc)
		}
	}
}

func TestConcurrentAllowNeverExceedsTheBurst(t *testing.T) {
	l, _ := newLimiter(map[string]float64{"describe_key": 100})
	id := mustLookup(t, "describe_key")
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := allowed(l, "a", "us-east-1", id, 100)
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != 100 {
		t.Fatalf("%d requests allowed at one instant, want 100", total)
	}
}

func TestForKey(t *testing.T) {
	for _, tc := range []struct {
		action, spec, pair string
		want               string // quota name, "" for none
	}{
		{"kms:Encrypt", "SYMMETRIC_DEFAULT", "", "cryptographic_symmetric"},
		{"kms:GenerateMac", "HMAC_256", "", "cryptographic_symmetric"},
		{"kms:Decrypt", "RSA_2048", "", "cryptographic_rsa"},
		{"kms:Sign", "ECC_NIST_P256", "", "cryptographic_ecc"},
		{"kms:Decrypt", "SM2", "", "cryptographic_ecc"},
		{"kms:DeriveSharedSecret", "ECC_SECG_P256K1", "", "cryptographic_ecc"},
		{"kms:Verify", "ML_DSA_65", "", "cryptographic_ml_dsa"},
		{"kms:Decapsulate", "ML_KEM_768", "", "cryptographic_ml_kem"},
		{"kms:ReEncryptFrom", "SYMMETRIC_DEFAULT", "", "cryptographic_symmetric"},
		{"kms:ReEncryptTo", "SYMMETRIC_DEFAULT", "", ""}, // ReEncrypt counts once
		{"kms:GenerateDataKeyPair", "SYMMETRIC_DEFAULT", "RSA_3072", "generate_data_key_pair_rsa_3072"},
		{"kms:GenerateDataKeyPairWithoutPlaintext", "SYMMETRIC_DEFAULT", "ECC_NIST_EDWARDS25519", "generate_data_key_pair_ecc_nist_edwards25519"},
		{"kms:DescribeKey", "SYMMETRIC_DEFAULT", "", ""}, // counted by operation
		{"kms:GetPublicKey", "RSA_2048", "", ""},
	} {
		id, ok := quota.ForKey(tc.action, tc.spec, tc.pair)
		got := ""
		if ok {
			got = quota.Defs[id].Name
		}
		if got != tc.want {
			t.Errorf("ForKey(%s, %s, %s) = %q, want %q", tc.action, tc.spec, tc.pair, got, tc.want)
		}
	}
	for op, want := range map[string]string{"CreateKey": "create_key", "GenerateRandom": "cryptographic_symmetric", "ListResourceTags": "list_resource_tags",
		"GetParametersForImport": "get_parameters_for_import", "ImportKeyMaterial": "import_key_material"} {
		id, ok := quota.ForOperation(op)
		if !ok || quota.Defs[id].Name != want {
			t.Errorf("ForOperation(%s) = %v %v, want %s", op, id, ok, want)
		}
	}
	if _, ok := quota.ForOperation("Encrypt"); ok {
		t.Error("Encrypt has no quota of its own")
	}
}

func TestDefsAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for i, d := range quota.Defs {
		if d.Name == "" || d.Default <= 0 || d.AppliesTo == "" {
			t.Errorf("Defs[%d] = %+v is incomplete", i, d)
		}
		if seen[d.Name] {
			t.Errorf("duplicate quota name %s", d.Name)
		}
		seen[d.Name] = true
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	l, c := newLimiter(nil)
	account, region := "111122223333", "us-east-1"
	l.Allow(account, region, quota.Symmetric) // creates the buckets
	if n := testing.AllocsPerRun(1000, func() {
		c.advance(time.Millisecond)
		l.Allow(account, region, quota.Symmetric)
	}); n != 0 {
		t.Errorf("Allow allocates %v times per call", n)
	}
}

func BenchmarkAllow(b *testing.B) {
	l := quota.New(quota.Config{Rates: map[string]float64{"cryptographic_symmetric": 0.0000001}})
	l.Allow("111122223333", "us-east-1", quota.Symmetric)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow("111122223333", "us-east-1", quota.Symmetric)
		}
	})
}
