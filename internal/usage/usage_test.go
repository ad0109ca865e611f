package usage_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/usage"
)

const (
	accessKeyID = "AKIATRENTTESTKEY0001"
	secret      = "trent-test-secret-access-key-0000000000"
	account     = "111122223333"
	seededKey   = "a9a3c657-8080-4ef6-9bfe-86a1f64324f0"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// seed declares a symmetric key with four material versions: three
// rotations, of which the first two are billed.
const seed = `version: 1
accounts:
  - id: "111122223333"
    keys:
      - id: a9a3c657-8080-4ef6-9bfe-86a1f64324f0
        region: us-east-1
        materials:
          - {id: v1, hex: f762e99cdd2199662de4ee2b3c8825fac1f26ac886e2a0cc3a579d9223f22c82}
          - {id: v2, hex: 0762e99cdd2199662de4ee2b3c8825fac1f26ac886e2a0cc3a579d9223f22c82}
          - {id: v3, hex: 1762e99cdd2199662de4ee2b3c8825fac1f26ac886e2a0cc3a579d9223f22c82}
          - {id: v4, hex: 2762e99cdd2199662de4ee2b3c8825fac1f26ac886e2a0cc3a579d9223f22c82, current: true}
`

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fixture runs real requests against a server whose clock moves across
// November 2026, stops it, and returns its data directory and the time
// the report is made.
func fixture(t *testing.T) (dir string, arns map[string]string, now time.Time) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", accessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", secret)
	dir = t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	seedFile := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(seedFile, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: at("2026-10-31T22:30:00Z")}
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir, LogLevel: "error", RequestQuotas: server.UnlimitedRequestQuotas(),
		SeedFiles: []string{seedFile}}
	cfg.Defaults()
	cfg.Now = clk.Now
	cfg.DeletionInterval = 24 * time.Hour // the test deletes expired keys itself
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server: %v", err)
			}
		}
	}
	t.Cleanup(stop)

	c := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(accessKeyID, secret, ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second}})
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	create := func(spec types.KeySpec, use types.KeyUsageType) string {
		t.Helper()
		out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: use})
		if err != nil {
			t.Fatal(err)
		}
		return *out.KeyMetadata.Arn
	}
	times := func(n int, f func()) {
		for range n {
			f()
		}
	}
	arns = map[string]string{"S": "arn:aws:kms:us-east-1:" + account + ":key/" + seededKey}

	key := func(name string) *string { v := arns[name]; return &v }
	encrypt := func(name string) func() {
		return func() { must(c.Encrypt(ctx, &kms.EncryptInput{KeyId: key(name), Plaintext: []byte("x")})) }
	}

	// October 31, 22:30: key A exists before the month; its requests
	// are October's.
	arns["A"] = create(types.KeySpecSymmetricDefault, types.KeyUsageTypeEncryptDecrypt)
	times(10, encrypt("A"))

	// November 2, 10:15: an RSA_2048 and an ECC signing key, an HMAC key,
	// and requests of every class.
	clk.Set(at("2026-11-02T10:15:00Z"))
	arns["B"] = create(types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)
	arns["C"] = create(types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	arns["H"] = create(types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac)
	sign := func(name string, alg types.SigningAlgorithmSpec) func() {
		return func() {
			must(c.Sign(ctx, &kms.SignInput{KeyId: key(name), Message: []byte("m"), SigningAlgorithm: alg}))
		}
	}
	times(5, sign("B", types.SigningAlgorithmSpecRsassaPssSha256))
	times(3, sign("C", types.SigningAlgorithmSpecEcdsaSha256))
	times(2, func() {
		must(c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: key("H"), Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256}))
	})
	times(4, encrypt("A"))
	times(2, func() {
		must(c.GenerateDataKeyPair(ctx, &kms.GenerateDataKeyPairInput{KeyId: key("A"), KeyPairSpec: types.DataKeyPairSpecRsa2048}))
	})
	must(c.GenerateDataKeyPairWithoutPlaintext(ctx, &kms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: key("A"), KeyPairSpec: types.DataKeyPairSpecEccNistP256}))
	must(c.ListKeys(ctx, &kms.ListKeysInput{}))
	// Failed requests are not billed.
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: bytes.Repeat([]byte{1}, 64)}); err == nil {
		t.Fatal("Decrypt of garbage succeeded")
	}

	// November 10, 06:30: B and C are scheduled for deletion; C's is
	// cancelled on the 12th, so C is billed as if never scheduled.
	clk.Set(at("2026-11-10T06:30:00Z"))
	week := int32(7)
	must(c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: key("B"), PendingWindowInDays: &week}))
	must(c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: key("C"), PendingWindowInDays: &week}))
	clk.Set(at("2026-11-12T00:00:00Z"))
	must(c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: key("C")}))

	// November 20: B's window has ended and the deleter removes it from
	// the store; D lives for 20 minutes.
	clk.Set(at("2026-11-20T12:00:00Z"))
	if n, err := srv.Service().DeleteExpiredKeys(ctx); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredKeys = %d, %v; want 1 key deleted", n, err)
	}
	arns["D"] = create(types.KeySpecSymmetricDefault, types.KeyUsageTypeEncryptDecrypt)
	clk.Set(at("2026-11-20T12:20:00Z"))
	must(c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: key("D"), PendingWindowInDays: &week}))
	clk.Set(at("2026-11-28T00:00:00Z"))
	if n, err := srv.Service().DeleteExpiredKeys(ctx); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredKeys = %d, %v; want 1 key deleted", n, err)
	}

	// December 1, 03:00: a request of December.
	now = at("2026-12-01T03:00:00Z")
	clk.Set(now)
	times(1, encrypt("A"))
	stop()
	return dir, arns, now
}

// build makes the report of November 2026 from the fixture's store and
// audit directory.
func build(t *testing.T, dir string, now time.Time, p *usage.Prices) *usage.Report {
	t.Helper()
	db, err := embedded.Open(filepath.Join(dir, server.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := usage.Build(context.Background(), usage.Input{Store: db, Regions: []string{"us-east-1"},
		AuditDir: filepath.Join(dir, "audit"), Month: at("2026-11-01T00:00:00Z"), Now: now, Prices: p})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

type want struct {
	kind                       string
	keyHours, rotHours         int64
	sym, rsa, asym, pecc, prsa int64
	keyCost, rotCost, reqCost  string
}

func TestReport(t *testing.T) {
	dir, arns, now := fixture(t)
	rep := build(t, dir, now, nil)

	// Hours: Nov 2 10:00 to Dec 1 00:00 is 686 clock hours; B from Nov 2
	// 10:00 to its schedule on Nov 10 06:30 (hour 06 included) is 189.
	wants := map[string]want{
		"":  {kind: "", sym: 1, keyCost: "0.000000", rotCost: "0.000000", reqCost: "0.000003"}, // ListKeys
		"A": {kind: "symmetric", keyHours: 720, sym: 4, prsa: 2, pecc: 1, keyCost: "1.000000", rotCost: "0.000000", reqCost: "0.002422"},
		"B": {kind: "asymmetric", keyHours: 189, sym: 2, rsa: 5, keyCost: "0.262500", rotCost: "0.000000", reqCost: "0.000021"},
		"C": {kind: "asymmetric", keyHours: 686, sym: 3, asym: 3, keyCost: "0.952778", rotCost: "0.000000", reqCost: "0.000054"},
		"D": {kind: "symmetric", keyHours: 1, sym: 2, keyCost: "0.001389", rotCost: "0.000000", reqCost: "0.000006"},
		"H": {kind: "hmac", keyHours: 686, sym: 3, keyCost: "0.952778", rotCost: "0.000000", reqCost: "0.000009"},
		"S": {kind: "symmetric", keyHours: 720, rotHours: 1440, keyCost: "1.000000", rotCost: "2.000000", reqCost: "0.000000"},
	}
	if len(rep.Keys) != len(wants) {
		t.Fatalf("%d rows, want %d: %+v", len(rep.Keys), len(wants), rep.Keys)
	}
	byARN := map[string]string{"": ""}
	for name, arn := range arns {
		byARN[arn] = name
	}
	for _, k := range rep.Keys {
		name, ok := byARN[k.KeyARN]
		if !ok {
			t.Fatalf("unexpected row %+v", k)
		}
		w := wants[name]
		got := want{k.Kind, k.KeyHours, k.RotationHours, k.Requests[usage.ClassSymmetric], k.Requests[usage.ClassRSA2048],
			k.Requests[usage.ClassAsymmetric], k.Requests[usage.ClassPairECC], k.Requests[usage.ClassPairRSA],
			k.KeyCost.String(), k.RotationCost.String(), k.RequestCost.String()}
		if got != w {
			t.Errorf("key %s: got %+v\nwant %+v", name, got, w)
		}
		if k.AccountID != account {
			t.Errorf("key %s: account %s", name, k.AccountID)
		}
	}
	if len(rep.Accounts) != 1 {
		t.Fatalf("accounts = %+v", rep.Accounts)
	}
	a := rep.Accounts[0]
	// 15 symmetric-class requests, all inside the free tier.
	if a.FreeRequests != 15 || a.FreeTierCredit.String() != "0.000045" || a.KeyHours != 3002 || a.RotationHours != 1440 {
		t.Errorf("account = %+v", a)
	}
	// Keys 1 + 1 + 189/720 + 2*686/720 + 1/720, rotations 2, requests
	// 0.000045 + 0.000015 + 0.000045 + 0.0024 + 0.00001, less 0.000045.
	if a.Total.String() != "6.171914" || rep.Total.String() != "6.171914" {
		t.Errorf("total = %s, report total %s; want 6.171914", a.Total, rep.Total)
	}
	if rep.HoursInMonth != 720 || !rep.Until.Equal(at("2026-12-01T00:00:00Z")) {
		t.Errorf("hours %d until %s", rep.HoursInMonth, rep.Until)
	}

	t.Run("for-account", func(t *testing.T) {
		own := rep.ForAccount(account)
		if len(own.Keys) != len(rep.Keys) || len(own.Accounts) != 1 || own.Total.String() != "6.171914" {
			t.Errorf("the report for its only account: %d rows, %d accounts, total %s", len(own.Keys), len(own.Accounts), own.Total)
		}
		other := rep.ForAccount("444455556666")
		if len(other.Keys) != 0 || len(other.Accounts) != 0 || other.Total.String() != "0.000000" || len(rep.Keys) != len(wants) {
			t.Errorf("the report for another account: %+v (and the original now has %d rows)", other, len(rep.Keys))
		}
	})

	t.Run("prices-file", func(t *testing.T) {
		p, err := usage.ParsePrices([]byte("currency: EUR\nkey_month: {symmetric: 2}\nbilled_rotations: 1\nper_10000_requests: {symmetric: \"10000\"}\nfree_requests: 5\n"))
		if err != nil {
			t.Fatal(err)
		}
		rep := build(t, dir, now, p)
		a := rep.Accounts[0]
		// Symmetric requests cost 1 each, the first 5 are free.
		if rep.Currency != "EUR" || a.FreeRequests != 5 || a.FreeTierCredit.String() != "5.000000" || a.RequestCost.String() != "15.002470" {
			t.Errorf("account = %+v", a)
		}
		for _, k := range rep.Keys {
			if byARN[k.KeyARN] == "S" && (k.KeyCost.String() != "2.000000" || k.RotationHours != 720 || k.RotationCost.String() != "1.000000") {
				t.Errorf("seeded key = %+v", k)
			}
		}
	})

	t.Run("csv", func(t *testing.T) {
		var b bytes.Buffer
		if err := rep.WriteCSV(&b); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1+len(wants)+1 || strings.Join(rows[0], ",") != strings.Join(usage.CSVHeader, ",") {
			t.Fatalf("rows = %q", rows)
		}
		last := rows[len(rows)-1]
		if got := strings.Join(last, ","); got != "account,"+account+",,,,,3002,1440,15,5,3,1,2,15,4.169444,2.000000,0.002515,0.000045,6.171914" {
			t.Errorf("account row = %s", got)
		}
		for _, r := range rows[1 : len(rows)-1] {
			if r[0] != "key" || len(r) != len(usage.CSVHeader) {
				t.Errorf("key row = %q", r)
			}
			if byARN[r[2]] == "B" && strings.Join(r, ",") != "key,"+account+","+arns["B"]+",asymmetric,RSA_2048,CUSTOMER,189,0,2,5,0,0,0,,0.262500,0.000000,0.000021,,0.262521" {
				t.Errorf("row of B = %s", strings.Join(r, ","))
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		var b bytes.Buffer
		if err := rep.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Month    string
			Currency string
			Total    json.Number
			Keys     []map[string]any
			Accounts []struct {
				AccountID      string
				FreeRequests   int64
				FreeTierCredit json.Number
				Requests       map[string]int64
			}
		}
		dec := json.NewDecoder(&b)
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc.Month != "2026-11" || doc.Currency != "USD" || doc.Total != "6.171914" || len(doc.Keys) != len(wants) ||
			doc.Accounts[0].FreeTierCredit != "0.000045" || doc.Accounts[0].Requests["generate_data_key_pair_rsa"] != 2 {
			t.Errorf("json = %+v", doc)
		}
		for _, k := range doc.Keys {
			if k["keyArn"] == arns["C"] && (k["keyHours"] != json.Number("686") || k["keySpec"] != "ECC_NIST_P256") {
				t.Errorf("C = %v", k)
			}
		}
	})

	t.Run("table", func(t *testing.T) {
		var b bytes.Buffer
		if err := rep.WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"Usage for 2026-11: 2026-11-01T00:00:00Z to 2026-12-01T00:00:00Z (720 hours in the month), prices in USD",
			"(no key)", arns["S"], "-0.000045", "6.171914"} {
			if !strings.Contains(b.String(), s) {
				t.Errorf("table lacks %q:\n%s", s, b.String())
			}
		}
	})

	t.Run("before-the-end-of-the-month", func(t *testing.T) {
		// Made on November 10 at 06:00, the report counts hours up to then.
		rep := build(t, dir, at("2026-11-10T06:00:00Z"), nil)
		for _, k := range rep.Keys {
			if byARN[k.KeyARN] == "A" && k.KeyHours != 9*24+6 {
				t.Errorf("A = %d key-hours, want %d", k.KeyHours, 9*24+6)
			}
		}
	})
}

func TestParsePricesErrors(t *testing.T) {
	for _, in := range []string{
		"key_month: {rsa: 1}",
		"per_10000_requests: {sign: 1}",
		"per_10000_requests: {symmetric: -1}",
		"per_10000_requests: {symmetric: 1e3}",
		"free_tier_classes: [everything]",
		"free_requests: -1",
		"billed_rotations: -1",
		"rotation: 1",
	} {
		if _, err := usage.ParsePrices([]byte(in)); err == nil {
			t.Errorf("ParsePrices(%q) succeeded", in)
		}
	}
	p, err := usage.ParsePrices(nil)
	if err != nil || p.Requests[usage.ClassPairRSA].String() != "12" || p.FreeRequests != 20000 || p.BilledRotations != 2 {
		t.Errorf("defaults = %+v, %v", p, err)
	}
}

// TestDocumentedDefaults: the price table docs/operations.md shows is the
// default one.
func TestDocumentedDefaults(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "```yaml\ncurrency: USD\n")
	if i < 0 {
		t.Fatal("docs/operations.md shows no default price table")
	}
	block := doc[i+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	p, err := usage.ParsePrices([]byte(block))
	if err != nil {
		t.Fatal(err)
	}
	d := usage.DefaultPrices()
	same := p.Currency == d.Currency && p.BilledRotations == d.BilledRotations && p.FreeRequests == d.FreeRequests &&
		p.RotationMonth.Rat().Cmp(d.RotationMonth.Rat()) == 0 && strings.Join(p.FreeTierClasses, ",") == strings.Join(d.FreeTierClasses, ",")
	for k, v := range d.KeyMonth {
		same = same && p.KeyMonth[k].Rat().Cmp(v.Rat()) == 0
	}
	for k, v := range d.Requests {
		same = same && p.Requests[k].Rat().Cmp(v.Rat()) == 0
	}
	if !same {
		t.Errorf("documented prices %+v differ from the defaults %+v", p, d)
	}
}
