package seed_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/seed"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/wire"
)

const example = "../../docs/examples/seed.yaml"

func newService(t *testing.T) *kms.Service {
	t.Helper()
	db, err := embedded.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	root, err := keystore.GenerateMemoryRoot(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := kms.New(kms.Config{Store: db, Root: root, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestLoadExample(t *testing.T) {
	f, err := seed.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Accounts) != 1 || len(f.Accounts[0].Keys) != 3 || f.Accounts[0].AccessKeyID != "AKIATRENTSEEDEXAMPLE" {
		t.Fatalf("accounts = %+v", f.Accounts)
	}
	sym := f.Accounts[0].Keys[0]
	v1, v2 := seed.MaterialID(sym.KeyID, "v1"), seed.MaterialID(sym.KeyID, "v2")
	if sym.Materials[0].ID != v1 || sym.Materials[1].ID != v2 || sym.CurrentMaterialID != v2 {
		t.Fatalf("materials %v, current %s", sym.Materials, sym.CurrentMaterialID)
	}
	if len(sym.Materials[1].Raw) != 32 || sym.Materials[1].Raw[0] != 0x72 {
		t.Fatalf("base64 material decoded wrongly")
	}
	if rsa := f.Accounts[0].Keys[1]; rsa.KeySpec != "RSA_2048" || len(rsa.Materials) != 1 || rsa.CurrentMaterialID != seed.MaterialID(rsa.KeyID, "") {
		t.Fatalf("RSA key = %v", rsa)
	}
}

// TestMaterialIDDerivation pins the derivation: a changed formula would
// orphan every ciphertext made under a seeded key.
func TestMaterialIDDerivation(t *testing.T) {
	// sha256("trent/seed/material-id/v1\x00a9a3c657-8080-4ef6-9bfe-86a1f64324f0\x00v1\x00"), computed
	// independently with: printf 'trent/seed/material-id/v1\0a9a3c657-8080-4ef6-9bfe-86a1f64324f0\0v1\0' | sha256sum
	got := seed.MaterialID("a9a3c657-8080-4ef6-9bfe-86a1f64324f0", "v1")
	want, err := os.ReadFile("testdata/material-id-v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.TrimSpace(string(want)) {
		t.Fatalf("MaterialID = %s, want %s", got, want)
	}
}

func writeSeed(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadReportsEveryProblemWithItsLine(t *testing.T) {
	p := writeSeed(t, `version: 2
accounts:
  - id: "1234"
    users: [{name: a, trust_policy: x}]
    root_access_key:
      access_key_id: SHORT
      secret_access_key: x
    keys:
      - id: mrk-1234abcd12ab34cd56ef1234567890ab
        region: us-east-1
        materials:
          - hex: 00
      - id: 11111111-2222-4333-8444-555555555555
        region: Virginia
        colour: blue
        materials:
          - id: v1
            hex: zz
          - id: v2
            base64: "!!"
      - id: 11111111-2222-4333-8444-666666666666
        region: us-east-1
        spec: RSA_2048
        usage: SIGN_VERIFY
        private_key: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
      - id: 11111111-2222-4333-8444-777777777777
        region: us-east-1
        deletion_date: tomorrow
        materials:
          - {id: "a b", hex: "00", current: true}
          - {id: v2, hex: "00", base64: "AA==", current: true}
`)
	_, err := seed.Load(p)
	if err == nil {
		t.Fatal("Load accepted a bad file")
	}
	for _, want := range []string{
		"seed file " + p + ":",
		"line 4: user a: trust_policy, max_session_duration and description are fields of roles",
		`line 15: unknown field "colour"`,
		"line 1: version must be 1",
		`line 3: account id "1234" is not 12 digits`,
		"line 6: root_access_key.access_key_id must be 16 to 128 characters",
		"line 7: root_access_key.secret_access_key must be at least 16 characters",
		"line 9: key mrk-1234abcd12ab34cd56ef1234567890ab: multi-Region keys (mrk- ids) cannot be declared in a seed file yet; create them with CreateKey and ReplicateKey",
		`line 14: key 11111111-2222-4333-8444-555555555555: region "Virginia" is not a region name`,
		"line 18: key 11111111-2222-4333-8444-555555555555: material 1: hex: not valid hexadecimal",
		"line 20: key 11111111-2222-4333-8444-555555555555: material 2: base64: not valid standard base64",
		"line 16: key 11111111-2222-4333-8444-555555555555: materials: mark the current one of several materials with current: true",
		`line 25: key 11111111-2222-4333-8444-666666666666: PEM block "CERTIFICATE" is not a private key (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)`,
		`line 28: key 11111111-2222-4333-8444-777777777777: deletion_date "tomorrow" is not an RFC 3339 time such as 2030-01-02T15:04:05Z`,
		`line 30: key 11111111-2222-4333-8444-777777777777: material id "a b": want 64 lowercase hex characters, or a label of up to 64 of A-Z a-z 0-9 . _ -`,
		"line 31: key 11111111-2222-4333-8444-777777777777: material 2: give exactly one of hex and base64",
	} {
		if !strings.Contains(err.Error(), want+"\n") && !strings.HasSuffix(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestLoadRefusesSecretsInErrors(t *testing.T) {
	p := writeSeed(t, `version: 1
accounts:
  - id: "111122223333"
    keys:
      - id: 11111111-2222-4333-8444-555555555555
        region: us-east-1
        spec: ECC_NIST_P256
        usage: SIGN_VERIFY
        private_key: "-----BEGIN EC PRIVATE KEY-----\nU0VDUkVUU0VDUkVU\n-----END EC PRIVATE KEY-----\n"
      - id: 11111111-2222-4333-8444-666666666666
        region: us-east-1
        materials:
          - hex: SECRETSECRET
`)
	_, err := seed.Load(p)
	if err == nil || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "U0VD") {
		t.Fatalf("err = %v", err)
	}
}

func TestApplyExample(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	f, err := seed.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	r, err := seed.Apply(ctx, svc, nil, []*seed.File{f})
	if err != nil {
		t.Fatal(err)
	}
	if r != (seed.Result{Accounts: 1, Keys: 3, Created: 3}) {
		t.Fatalf("Result = %+v", r)
	}
	id, err := svc.Identity(ctx, "AKIATRENTSEEDEXAMPLE")
	if err != nil || id.AccountID != "111122223333" || id.Secret() != "trent-seed-example-secret-not-for-production" {
		t.Fatalf("root access key: %v, %v", id, err)
	}
	c := &kms.Caller{AccountID: "111122223333", Region: "us-east-1", Principal: "arn:aws:iam::111122223333:root"}
	al, err := svc.ListAliases(ctx, c, &wire.ListAliasesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range al.Aliases {
		names = append(names, *a.AliasName+"="+wire.Value(a.TargetKeyId))
	}
	want := "alias/app=a9a3c657-8080-4ef6-9bfe-86a1f64324f0 alias/app-data=a9a3c657-8080-4ef6-9bfe-86a1f64324f0 " +
		"alias/release-signing=172c944d-0217-4a68-b2dd-94f6fa66840c alias/webhook-mac=d088a08e-491a-400a-ae92-00deef1fa811"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("aliases = %s\nwant %s", got, want)
	}

	// Applying again changes nothing.
	if r, err := seed.Apply(ctx, svc, nil, []*seed.File{f}); err != nil || r.Created != 0 {
		t.Fatalf("second Apply = %+v, %v", r, err)
	}

	// A file that declares other material for the same key id and material
	// id is refused, with the file, the line, the key and the field, and
	// nothing is applied, not even its valid parts.
	other := strings.Replace(string(must(os.ReadFile(example))),
		"f762e99cdd2199662de4ee2b3c8825fac1f26ac886e2a0cc3a579d9223f22c82",
		"0000000000000000000000000000000000000000000000000000000000000000", 1)
	other = strings.Replace(other, "rsa-2048-signing.pem", filepath.Join(must(filepath.Abs("../../docs/examples")), "rsa-2048-signing.pem"), 1)
	other = strings.Replace(other, "alias/app-data", "alias/new", 1)
	p := writeSeed(t, other)
	f2, err := seed.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = seed.Apply(ctx, svc, nil, []*seed.File{f2})
	want = "seed file " + p + ":\nline 19: key arn:aws:kms:us-east-1:111122223333:key/a9a3c657-8080-4ef6-9bfe-86a1f64324f0: materials: material " +
		seed.MaterialID("a9a3c657-8080-4ef6-9bfe-86a1f64324f0", "v1") +
		" differs from the stored material of that id; a seed file never changes a stored key: change the declaration, or start from an empty store"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if _, err := svc.DescribeKey(ctx, c, &wire.DescribeKeyRequest{KeyId: wire.Ptr("alias/new")}); err == nil {
		t.Fatal("a refused file was partly applied")
	}
}

func TestCheckReportsEveryConflict(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	base := `version: 1
accounts:
  - id: "111122223333"
    root_access_key:
      access_key_id: AKIATRENTSEEDTEST001
      secret_access_key: %s
    keys:
      - id: 11111111-2222-4333-8444-555555555555
        region: us-east-1
        state: %s
        materials:
          - hex: "%s"
        aliases: [alias/a]
`
	first := writeSeed(t, fmt.Sprintf(base, "first-secret-0000000", "Enabled", strings.Repeat("11", 32)))
	f1 := must(seed.Load(first))
	if _, err := seed.Apply(ctx, svc, nil, []*seed.File{f1}); err != nil {
		t.Fatal(err)
	}
	second := writeSeed(t, fmt.Sprintf(base, "other-secret-0000000", "Disabled", strings.Repeat("11", 32)))
	err := seed.Check(ctx, svc, nil, []*seed.File{must(seed.Load(second))})
	for _, want := range []string{
		"line 5: access key AKIATRENTSEEDTEST001 exists with another secret; a seed file never changes a secret",
		`line 10: key arn:aws:kms:us-east-1:111122223333:key/11111111-2222-4333-8444-555555555555: state: the stored key has "Enabled", the seed file "Disabled"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	// The same key in two files is refused even when both agree.
	err = seed.Check(ctx, svc, nil, []*seed.File{f1, must(seed.Load(writeSeed(t, fmt.Sprintf(base, "first-secret-0000000", "Enabled", strings.Repeat("11", 32)))))})
	if err == nil || !strings.Contains(err.Error(), "line 8: key 11111111-2222-4333-8444-555555555555 in us-east-1 is also declared in "+first+" line 8") {
		t.Fatalf("err = %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
