package server_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/seed"
	"github.com/trent-kms/trent/internal/server"
)

// exampleSeed is the seed file shown in the docs; the tests apply it as
// it is.
const exampleSeed = "../../docs/examples/seed.yaml"

const (
	seededSymmetric = "a9a3c657-8080-4ef6-9bfe-86a1f64324f0"
	seededRSA       = "172c944d-0217-4a68-b2dd-94f6fa66840c"
	seededHMAC      = "d088a08e-491a-400a-ae92-00deef1fa811"
)

func withSeeds(files ...string) func(*server.Config) {
	return func(c *server.Config) { c.SeedFiles = files }
}

// TestSeedEndToEnd seeds the example file into a persistent node and uses
// the keys through the AWS SDK: fixed ids and aliases, ciphertexts made
// once and kept in testdata, an RSA signature that OpenSSL verifies, a
// disabled HMAC key; then restarts it (nothing changes), and refuses a
// declaration that conflicts with the stored key.
func TestSeedEndToEnd(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	ctx := context.Background()
	dir := privateDir(t)
	n := startNodeIn(t, dir, withSeeds(exampleSeed))
	c := n.client("us-east-1")

	md := describe(t, c, "alias/app")
	wantMaterial := seed.MaterialID(seededSymmetric, "v2")
	if *md.KeyId != seededSymmetric || aws.ToString(md.CurrentKeyMaterialId) != wantMaterial || md.KeyState != types.KeyStateEnabled ||
		aws.ToString(md.Description) != "app data (fixture)" {
		t.Fatalf("alias/app: %+v", md)
	}
	created := *md.CreationDate
	if md := describe(t, c, seededHMAC); md.KeyState != types.KeyStateDisabled || md.KeySpec != types.KeySpecHmac256 {
		t.Fatalf("HMAC key: %+v", md)
	}
	tags, err := c.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: aws.String(seededSymmetric)})
	mustOK(t, "ListResourceTags", err)
	if len(tags.Tags) != 1 || *tags.Tags[0].TagKey != "team" || *tags.Tags[0].TagValue != "payments" {
		t.Fatalf("tags = %+v", tags.Tags)
	}
	al, err := c.ListAliases(ctx, &kms.ListAliasesInput{})
	mustOK(t, "ListAliases", err)
	var got []string
	for _, a := range al.Aliases {
		got = append(got, *a.AliasName+"="+aws.ToString(a.TargetKeyId))
	}
	want := "alias/app=" + seededSymmetric + " alias/app-data=" + seededSymmetric +
		" alias/release-signing=" + seededRSA + " alias/webhook-mac=" + seededHMAC
	if strings.Join(got, " ") != want {
		t.Fatalf("aliases = %v\nwant %s", got, want)
	}

	// Ciphertexts made once (with the AWS CLI against a --dev server
	// seeded with this key, under each of its materials) decrypt on every
	// run.
	for _, f := range []struct{ file, plaintext string }{
		{"app-v1.ciphertext", "made once under material v1"},
		{"app-v2.ciphertext", "made once under material v2"},
	} {
		blob, err := os.ReadFile(filepath.Join("testdata", "seed", f.file))
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"purpose": "fixture"}})
		mustOK(t, "Decrypt "+f.file, err)
		if string(out.Plaintext) != f.plaintext || *out.KeyId != arnOf("us-east-1", seededSymmetric) {
			t.Fatalf("%s: %q under %s", f.file, out.Plaintext, *out.KeyId)
		}
	}

	// The RSA key signs with the seeded private key: OpenSSL verifies the
	// signature with the public key from GetPublicKey, and that public key
	// is the PEM file's.
	msg := []byte("release 1.2.3")
	sig, err := c.Sign(ctx, &kms.SignInput{KeyId: aws.String("alias/release-signing"), Message: msg,
		MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPssSha256})
	mustOK(t, "Sign", err)
	pub, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(seededRSA)})
	mustOK(t, "GetPublicKey", err)
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not found in PATH; this test needs it to verify the seeded key's signature independently")
	}
	tmp := t.TempDir()
	files := map[string][]byte{
		"msg": msg, "msg.sig": sig.Signature,
		"pub.pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub.PublicKey}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) []byte {
		cmd := exec.Command(openssl, args...)
		cmd.Dir = tmp
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if out := run("dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
		"-verify", "pub.pem", "-signature", "msg.sig", "msg"); !bytes.Contains(out, []byte("Verified OK")) {
		t.Fatalf("openssl: %s", out)
	}
	fromPEM := run("pkey", "-in", must(filepath.Abs("../../docs/examples/rsa-2048-signing.pem")), "-pubout")
	if !bytes.Equal(fromPEM, files["pub.pem"]) {
		t.Fatalf("GetPublicKey is not the seeded PEM's public key:\n%s\n%s", fromPEM, files["pub.pem"])
	}

	// A disabled seeded key is disabled.
	_, err = c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: aws.String("alias/webhook-mac"), Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	wantAPIError(t, err, "DisabledException", "*")

	// A restart applies the same file again and leaves everything alone.
	n.stop()
	n = startNodeIn(t, dir, withSeeds(exampleSeed))
	c = n.client("us-east-1")
	if md := describe(t, c, "alias/app"); !md.CreationDate.Equal(created) {
		t.Fatalf("the restart re-created the key: creation date %v, was %v", md.CreationDate, created)
	}

	// Other material under the same key id and material id is refused at
	// start, naming the file, line, key and field; nothing is replaced.
	conflicting := strings.Replace(string(must(os.ReadFile(exampleSeed))),
		"f762e99cdd2199662de4ee2b3c8825fac1f26ac886e2a0cc3a579d9223f22c82",
		"f762e99cdd2199662de4ee2b3c8825fac1f26ac886e2a0cc3a579d9223f22c83", 1)
	conflicting = strings.Replace(conflicting, "private_key_file: rsa-2048-signing.pem",
		"private_key_file: "+must(filepath.Abs("../../docs/examples/rsa-2048-signing.pem")), 1)
	bad := filepath.Join(t.TempDir(), "conflict.yaml")
	if err := os.WriteFile(bad, []byte(conflicting), 0o600); err != nil {
		t.Fatal(err)
	}
	n.stop()
	cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir, LogLevel: "error", SeedFiles: []string{bad}}
	cfg.Defaults()
	_, err = server.New(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard)
	wantErr := "seed file " + bad + ":\nline 19: key arn:aws:kms:us-east-1:111122223333:key/" + seededSymmetric +
		": materials: material " + seed.MaterialID(seededSymmetric, "v1") +
		" differs from the stored material of that id; a seed file never changes a stored key: change the declaration, or start from an empty store"
	if err == nil || err.Error() != wantErr {
		t.Fatalf("New = %v\nwant %s", err, wantErr)
	}

	// A key changed through the API since it was seeded is a conflict too.
	n = startNodeIn(t, dir, withSeeds(exampleSeed))
	_, err = n.client("us-east-1").DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(seededSymmetric)})
	mustOK(t, "DisableKey", err)
	n.stop()
	cfg.SeedFiles = []string{exampleSeed}
	_, err = server.New(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `line 13: key arn:aws:kms:us-east-1:111122223333:key/`+seededSymmetric+
		`: state: the stored key has "Disabled", the seed file "Enabled"`) {
		t.Fatalf("New = %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDevWritesNothing runs a --dev server from an empty working directory
// with TMPDIR pointing at another empty directory, uses it through the SDK
// with the well-known credentials (seeded keys, new keys, encryption), stops
// it, and checks that both directories are still empty.
func TestDevWritesNothing(t *testing.T) {
	cwd, tmp := t.TempDir(), t.TempDir()
	t.Chdir(cwd)
	t.Setenv("TMPDIR", tmp)
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", "")
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", "")
	cfg := &server.Config{Dev: true, Listen: "127.0.0.1:0", LogLevel: "error", SeedFiles: []string{devSeedPath}}
	cfg.Defaults()
	var banner bytes.Buffer
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler), &banner)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	for _, want := range []string{"NOT FOR PRODUCTION", "export AWS_ENDPOINT_URL=" + srv.URL() + "\n",
		"export AWS_ACCESS_KEY_ID=" + server.DevAccessKeyID + "\n", "export AWS_SECRET_ACCESS_KEY=" + server.DevSecretAccessKey + "\n",
		"every region, 3 keys from 1 seed files"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
		}
	}
	for _, region := range []string{"us-east-1", "eu-central-1", "cn-north-1"} {
		c := kms.New(kms.Options{Region: region, BaseEndpoint: aws.String(srv.URL()),
			Credentials: credentials.NewStaticCredentialsProvider(server.DevAccessKeyID, server.DevSecretAccessKey, "")})
		k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		mustOK(t, "CreateKey in "+region, err)
		enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: bytes.Repeat([]byte("x"), 4096)})
		mustOK(t, "Encrypt", err)
		_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		mustOK(t, "Decrypt", err)
		if region == "us-east-1" {
			blob := must(os.ReadFile(filepath.Join(testdataDir, "seed", "app-v1.ciphertext")))
			out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"purpose": "fixture"}})
			mustOK(t, "Decrypt the stored ciphertext", err)
			if string(out.Plaintext) != "made once under material v1" {
				t.Fatalf("plaintext %q", out.Plaintext)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{cwd, tmp} {
		for _, e := range must(os.ReadDir(d)) {
			t.Errorf("%s: %s was written by a --dev server", d, e.Name())
		}
	}
}

// Absolute paths, taken before a test changes its working directory.
var (
	testdataDir = must(filepath.Abs("testdata"))
	devSeedPath = must(filepath.Abs(exampleSeed))
)

func TestDevConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  server.Config
		want string // "" = valid
	}{
		{"loopback", server.Config{Dev: true, Listen: "127.0.0.1:8400"}, ""},
		{"non-loopback-once", server.Config{Dev: true, Listen: "192.0.2.1:8400", InsecureListenAcks: 1, AllowInsecureListen: true},
			"listen: 192.0.2.1:8400 is not a loopback address; a --dev server hands its well-known credentials and keys to anyone who reaches it: give --allow-insecure-listen twice to listen there anyway"},
		{"non-loopback-config-key", server.Config{Dev: true, Listen: "192.0.2.1:8400", AllowInsecureListen: true}, "give --allow-insecure-listen twice"},
		{"non-loopback-tls", server.Config{Dev: true, Listen: "192.0.2.1:8400", TLSCert: "c", TLSKey: "k"}, "give --allow-insecure-listen twice"},
		{"non-loopback-twice", server.Config{Dev: true, Listen: "192.0.2.1:8400", InsecureListenAcks: 2}, ""},
		{"normal-once", server.Config{Listen: "192.0.2.1:8400", InsecureListenAcks: 1}, ""},
		{"data-dir", server.Config{Dev: true, Listen: "127.0.0.1:8400", DataDir: "d"}, "data_dir: a --dev server keeps everything in memory and takes no data directory"},
		{"database", server.Config{Dev: true, Listen: "127.0.0.1:8400", DatabaseURL: "postgres://x"}, "database_url: a --dev server keeps everything in memory and takes no database"},
		{"credentials-file", server.Config{Dev: true, Listen: "127.0.0.1:8400", RootCredentialsFile: "f"}, "root_credentials_file: a --dev server writes no file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Defaults()
			err := cfg.Validate()
			if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want %q", err, c.want)
			}
		})
	}
}

// TestDevHasNoRequestQuotasByDefault: a --dev server does not throttle
// unless its configuration sets request_quotas; a normal server keeps
// AWS's defaults.
func TestDevHasNoRequestQuotasByDefault(t *testing.T) {
	dev := server.Config{Dev: true}
	dev.Defaults()
	if len(dev.RequestQuotas) == 0 {
		t.Fatal("a --dev server has AWS's request quotas")
	}
	for name, rate := range dev.RequestQuotas {
		if rate != 0 {
			t.Errorf("--dev quota %s = %v, want 0 (unlimited)", name, rate)
		}
	}
	set := server.Config{Dev: true, RequestQuotas: map[string]float64{"create_key": 5}}
	set.Defaults()
	if len(set.RequestQuotas) != 1 || set.RequestQuotas["create_key"] != 5 {
		t.Errorf("--dev with request_quotas = %v, want them kept", set.RequestQuotas)
	}
	normal := server.Config{}
	normal.Defaults()
	if normal.RequestQuotas != nil {
		t.Errorf("a normal server's request quotas = %v, want AWS's defaults (nil)", normal.RequestQuotas)
	}
}
