package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/server"
)

// The XKS proxy compliance tests reproduce, as Go tests, the test cases of
// the public compliance suite for XKS proxies,
// aws-samples/aws-kms-xksproxy-test-client (version 1.0.5): the scripts
// test_get_health_status, test_get_key_metadata, test_encrypt_decrypt,
// test_encrypt_only_key, test_decrypt_only_key and test_impotent_key, with
// utils/test_utils.sh and utils/test_encrypt_decrypt_utils.sh for the
// request bodies. Each subtest names the suite's test label. Its default
// names are kept: URI prefix "example/uri/path/prefix", key ids "foo",
// "encrypt_only_key", "decrypt_only_key" and "impotent_key", region
// us-east-1.

const (
	xksAccessKeyID  = "AKIA4GBY3I6JCE5M2HPM"
	xksSecret       = "1234567890123456789012345678901234567890123="
	xksAccessKeyID2 = "BKIA4GBY3I6JCE5M2HPMROTATED"
	xksSecret2      = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba0123456789+/"
	xksPrefix       = "/example/uri/path/prefix"
)

// xksTarget is a Trent node serving the XKS proxy, and how to call it.
type xksTarget struct {
	n      *node
	url    string
	prefix string
	ak     string
	secret string
	region string
}

// startXKSProxy starts a node with an XKS proxy key store at xksPrefix and
// the keys of the suite: foo (an ENCRYPT_DECRYPT key), encrypt_only_key,
// decrypt_only_key and impotent_key (the same Trent key with its usage
// limited), and hmac_key (an HMAC key). It returns the target and the
// Trent key ids.
func startXKSProxy(t *testing.T, opts ...func(*server.Config)) (*xksTarget, map[string]string) {
	t.Helper()
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	xcfg := &server.XKSConfig{Listen: "127.0.0.1:0", KeyStores: []server.XKSKeyStore{{
		Name: "suite", PathPrefix: xksPrefix,
		Credentials: []server.XKSCredential{{AccessKeyID: xksAccessKeyID, SecretAccessKey: xksSecret}},
	}}}
	n := startNodeIn(t, privateDir(t), append([]func(*server.Config){func(c *server.Config) { c.XKS = xcfg }}, opts...)...)
	ctx := context.Background()
	c := n.client("us-east-1")
	ids := map[string]string{}
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	mustNil(t, "CreateKey", err)
	ids["foo"] = *k.KeyMetadata.KeyId
	h, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	mustNil(t, "CreateKey HMAC", err)
	ids["hmac_key"] = *h.KeyMetadata.KeyId
	d, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	mustNil(t, "CreateKey", err)
	ids["disabled_key"] = *d.KeyMetadata.KeyId
	_, err = c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: d.KeyMetadata.KeyId})
	mustNil(t, "DisableKey", err)
	only := func(u ...string) *[]string { return &u }
	xcfg.KeyStores[0].Keys = []server.XKSKey{
		{ID: "foo", Key: ids["foo"]},
		{ID: "encrypt_only_key", Key: ids["foo"], Usage: only("ENCRYPT")},
		{ID: "decrypt_only_key", Key: *k.KeyMetadata.Arn, Usage: only("DECRYPT")},
		{ID: "impotent_key", Key: ids["foo"], Usage: only()},
		{ID: "hmac_key", Key: ids["hmac_key"]},
		{ID: "disabled_key", Key: ids["disabled_key"]},
	}
	mustNil(t, "ReloadXKS", n.srv.ReloadXKS(&server.Config{XKS: xcfg}))
	return &xksTarget{n: n, url: n.srv.XKSURL(), prefix: xksPrefix, ak: xksAccessKeyID, secret: xksSecret, region: "us-east-1"}, ids
}

// xksAnswer is a proxy answer.
type xksAnswer struct {
	status int
	body   map[string]any
	raw    string
}

func (a xksAnswer) errorName() string { s, _ := a.body["errorName"].(string); return s }

func (a xksAnswer) bytes(t *testing.T, name string) []byte {
	t.Helper()
	s, ok := a.body[name].(string)
	if !ok {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	mustNil(t, "decode "+name, err)
	return b
}

// post signs body as curl --aws-sigv4 "aws:amz:<region>:kms-xks-proxy"
// does (the suite's utils/test_utils.sh, build_command) and posts it to
// <prefix>/kms/xks/v1/<target>.
func (x *xksTarget) post(t *testing.T, target, body string) xksAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, x.url+x.prefix+"/kms/xks/v1/"+target, strings.NewReader(body))
	mustNil(t, "NewRequest", err)
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: x.ak, SecretAccessKey: x.secret}, req,
		hex.EncodeToString(sum[:]), "kms-xks-proxy", x.region, time.Now())
	mustNil(t, "sign", err)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	mustNil(t, "POST "+target, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	mustNil(t, "read answer", err)
	a := xksAnswer{status: resp.StatusCode, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("answer to %s is not JSON: %q", target, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("answer Content-Type = %q, want application/json", ct)
	}
	return a
}

// with returns a copy of x with one field changed.
func (x *xksTarget) with(f func(*xksTarget)) *xksTarget {
	y := *x
	f(&y)
	return &y
}

// want checks an answer: an errorName with its HTTP status, or (name
// starting with a quote, as the suite's expected patterns do) a member of
// a 200 answer.
func want(t *testing.T, a xksAnswer, expect string) {
	t.Helper()
	if strings.HasPrefix(expect, `"`) {
		if a.status != http.StatusOK || !strings.Contains(a.raw, expect+":") {
			t.Fatalf("answer %d %s, want 200 with %s", a.status, a.raw, expect)
		}
		return
	}
	wantStatus := map[string]int{"ValidationException": 400, "InvalidCiphertextException": 400, "InvalidKeyUsageException": 400,
		"InvalidStateException": 400, "AuthenticationFailedException": 401, "KeyNotFoundException": 404, "InvalidUriPathException": 404,
		"UnsupportedOperationException": 501}[expect]
	if a.errorName() != expect || a.status != wantStatus {
		t.Fatalf("answer %d %s, want %d %s", a.status, a.raw, wantStatus, expect)
	}
}

// Request bodies, as the suite's utils/test_encrypt_decrypt_utils.sh
// builds them.
const (
	suitePrincipal = "arn:aws:iam::123456789012:user/Alice"
	suiteKeyARN    = "arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

func requestMetadata(op string) string {
	var id [16]byte
	rand.Read(id[:])
	return `"requestMetadata": {"awsPrincipalArn": "` + suitePrincipal + `", "kmsKeyArn": "` + suiteKeyARN +
		`", "kmsOperation": "` + op + `", "kmsRequestId": "` + hex.EncodeToString(id[:]) + `", "kmsViaService": "ebs"}`
}

// encryptBody is json_body_encrypt: plaintext and aad may be "" (left
// out), cdiv "" leaves ciphertextDataIntegrityValueAlgorithm out.
func encryptBody(plaintext, aad, cdiv string) string {
	var b strings.Builder
	b.WriteString("{" + requestMetadata("Encrypt") + ",\n")
	if aad != "" {
		b.WriteString(`"additionalAuthenticatedData": "` + aad + `",`)
	}
	if plaintext != "" {
		b.WriteString(`"plaintext": "` + plaintext + `",`)
	}
	if cdiv != "" {
		b.WriteString(`"ciphertextDataIntegrityValueAlgorithm": "` + cdiv + `",`)
	}
	b.WriteString(`"encryptionAlgorithm": "AES_GCM"}`)
	return b.String()
}

// decryptBody is json_body_decrypt after prepare_decrypt: the members of
// an Encrypt answer, ciphertextMetadata included when it had one.
func decryptBody(enc xksAnswer, aad string) string {
	var b strings.Builder
	b.WriteString("{" + requestMetadata("Decrypt") + ",\n")
	if aad != "" {
		b.WriteString(`"additionalAuthenticatedData": "` + aad + `",`)
	}
	for _, m := range []string{"ciphertext", "initializationVector", "authenticationTag", "ciphertextMetadata"} {
		if v, ok := enc.body[m].(string); ok {
			b.WriteString(`"` + m + `": "` + v + `",`)
		}
	}
	b.WriteString(`"encryptionAlgorithm": "AES_GCM"}`)
	return b.String()
}

const (
	suitePlaintext  = "cGxhaW50ZXh0Cg=="
	suitePlaintext2 = "SGVsbG8gV29ybGQh"
	suiteAAD        = "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n"
	suiteAAD2       = "cHJvamVjdD1ibHVlLGRlcGFydG1lbnQ9ZmluYW5jZQ=="
)

// verifyCDIV is the suite's verify_cdiv: SHA-256 over AAD ||
// ciphertextMetadata || IV || ciphertext || tag, as decoded bytes.
func verifyCDIV(t *testing.T, a xksAnswer, aadB64 string) {
	t.Helper()
	aad, _ := base64.StdEncoding.DecodeString(aadB64)
	h := sha256.New()
	h.Write(aad)
	for _, m := range []string{"ciphertextMetadata", "initializationVector", "ciphertext", "authenticationTag"} {
		h.Write(a.bytes(t, m))
	}
	if got := a.bytes(t, "ciphertextDataIntegrityValue"); !bytes.Equal(got, h.Sum(nil)) {
		t.Fatalf("ciphertextDataIntegrityValue = %x, want %x", got, h.Sum(nil))
	}
}

func TestXKSProxyComplianceSuite(t *testing.T) {
	x, _ := startXKSProxy(t)
	badAK := x.with(func(y *xksTarget) { y.ak = "Invalid" + y.ak })
	badSecret := x.with(func(y *xksTarget) { y.secret = "Invalid" + y.secret })
	badPrefix := x.with(func(y *xksTarget) { y.prefix += "/invalid" })
	healthBody := func() string {
		return `{"requestMetadata": {"kmsOperation": "KmsHealthCheck", "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae"}}`
	}
	const emptyMetadata = `{"requestMetadata": {}}`

	// test_get_health_status
	t.Run("health/GetHealthStatus", func(t *testing.T) {
		a := x.post(t, "health", healthBody())
		want(t, a, `"healthStatus"`)
		if a.body["xksProxyFleetSize"] != 1.0 || a.body["xksProxyVendor"] != "Trent" || a.body["ekmVendor"] != "Trent" {
			t.Errorf("health answer %s", a.raw)
		}
		d := a.body["ekmFleetDetails"].([]any)[0].(map[string]any)
		if d["healthStatus"] != "ACTIVE" || d["id"] == "" || d["model"] == "" {
			t.Errorf("ekmFleetDetails %v", d)
		}
	})
	t.Run("health/without requestMetadata", func(t *testing.T) { want(t, x.post(t, "health", "{}"), "ValidationException") })
	t.Run("health/with empty requestMetadata", func(t *testing.T) { want(t, x.post(t, "health", emptyMetadata), "ValidationException") })
	t.Run("health/with an invalid Sigv4 access id", func(t *testing.T) {
		want(t, badAK.post(t, "health", healthBody()), "AuthenticationFailedException")
	})
	t.Run("health/with an invalid Sigv4 access key", func(t *testing.T) {
		want(t, badSecret.post(t, "health", healthBody()), "AuthenticationFailedException")
	})
	t.Run("health/with an invalid URI prefix", func(t *testing.T) {
		want(t, badPrefix.post(t, "health", healthBody()), "InvalidUriPathException")
	})

	// test_get_key_metadata
	metaBody := func(op string) string { return "{" + requestMetadata(op) + "}" }
	for _, op := range []string{"DescribeKey", "CreateKey"} {
		t.Run("metadata/GetKeyMetadata for "+op, func(t *testing.T) {
			a := x.post(t, "keys/foo/metadata", metaBody(op))
			want(t, a, `"keyStatus"`)
			if a.body["keySpec"] != "AES_256" || a.body["keyStatus"] != "ENABLED" || !strings.Contains(a.raw, `"keyUsage":["ENCRYPT","DECRYPT"]`) {
				t.Errorf("metadata %s", a.raw)
			}
		})
	}
	t.Run("metadata/without requestMetadata", func(t *testing.T) { want(t, x.post(t, "keys/foo/metadata", "{}"), "ValidationException") })
	t.Run("metadata/with empty requestMetadata", func(t *testing.T) {
		want(t, x.post(t, "keys/foo/metadata", emptyMetadata), "ValidationException")
	})
	t.Run("metadata/for a non-existent key", func(t *testing.T) {
		want(t, x.post(t, "keys/non_existing_key/metadata", metaBody("DescribeKey")), "KeyNotFoundException")
	})
	t.Run("metadata/with an invalid Sigv4 access id", func(t *testing.T) {
		want(t, badAK.post(t, "keys/foo/metadata", metaBody("DescribeKey")), "AuthenticationFailedException")
	})
	t.Run("metadata/with an invalid Sigv4 access key", func(t *testing.T) {
		want(t, badSecret.post(t, "keys/foo/metadata", metaBody("DescribeKey")), "AuthenticationFailedException")
	})
	t.Run("metadata/with an invalid URI prefix", func(t *testing.T) {
		want(t, badPrefix.post(t, "keys/foo/metadata", metaBody("DescribeKey")), "InvalidUriPathException")
	})

	// test_encrypt_decrypt
	t.Run("encrypt/with a non-existing key", func(t *testing.T) {
		want(t, x.post(t, "keys/non_existing_key/encrypt", encryptBody(suitePlaintext, "", "")), "KeyNotFoundException")
	})
	t.Run("encrypt/with missing plaintext", func(t *testing.T) {
		want(t, x.post(t, "keys/foo/encrypt", encryptBody("", "", "")), "ValidationException")
	})
	t.Run("encrypt/with an invalid Sigv4 access id", func(t *testing.T) {
		want(t, badAK.post(t, "keys/foo/encrypt", encryptBody(suitePlaintext, "", "")), "AuthenticationFailedException")
	})
	t.Run("encrypt/with an invalid SigV4 access key", func(t *testing.T) {
		want(t, badSecret.post(t, "keys/foo/encrypt", encryptBody(suitePlaintext, "", "")), "AuthenticationFailedException")
	})
	t.Run("encrypt/with an invalid URI path", func(t *testing.T) {
		want(t, badPrefix.post(t, "keys/foo/encrypt", encryptBody(suitePlaintext, "", "")), "InvalidUriPathException")
	})
	t.Run("encrypt/with AAD then Decrypt with missing AAD", func(t *testing.T) {
		enc := x.post(t, "keys/foo/encrypt", encryptBody(suitePlaintext, suiteAAD, ""))
		want(t, enc, `"ciphertext"`)
		want(t, x.post(t, "keys/foo/decrypt", decryptBody(enc, "")), "InvalidCiphertextException")
	})
	t.Run("encrypt/with AAD then Decrypt with a different AAD", func(t *testing.T) {
		enc := x.post(t, "keys/foo/encrypt", encryptBody(suitePlaintext, suiteAAD, ""))
		want(t, enc, `"ciphertext"`)
		want(t, x.post(t, "keys/foo/decrypt", decryptBody(enc, suiteAAD2)), "InvalidCiphertextException")
	})
	roundTrip := func(t *testing.T, pt, aad, cdiv string) {
		t.Helper()
		enc := x.post(t, "keys/foo/encrypt", encryptBody(pt, aad, cdiv))
		want(t, enc, `"ciphertext"`)
		raw, _ := base64.StdEncoding.DecodeString(pt)
		if c := enc.bytes(t, "ciphertext"); len(c) != len(raw) || bytes.Equal(c, raw) {
			t.Fatalf("ciphertext %x for plaintext %x", c, raw)
		}
		if len(enc.bytes(t, "initializationVector")) != 12 || len(enc.bytes(t, "authenticationTag")) != 16 || len(enc.bytes(t, "ciphertextMetadata")) > 20 {
			t.Fatalf("encrypt answer %s", enc.raw)
		}
		if cdiv != "" {
			verifyCDIV(t, enc, aad)
		} else if _, ok := enc.body["ciphertextDataIntegrityValue"]; ok {
			t.Fatalf("ciphertextDataIntegrityValue without a request for one: %s", enc.raw)
		}
		dec := x.post(t, "keys/foo/decrypt", decryptBody(enc, aad))
		want(t, dec, `"plaintext"`)
		if got := dec.bytes(t, "plaintext"); !bytes.Equal(got, raw) {
			t.Fatalf("plaintext %x, want %x", got, raw)
		}
	}
	t.Run("encrypt/without AAD then Decrypt", func(t *testing.T) { roundTrip(t, suitePlaintext2, "", "") })
	t.Run("encrypt/with AAD then Decrypt with the same AAD", func(t *testing.T) { roundTrip(t, suitePlaintext2, suiteAAD, "") })
	t.Run("encrypt/with AAD and CDIV then Decrypt", func(t *testing.T) { roundTrip(t, suitePlaintext2, suiteAAD, "SHA_256") })
	t.Run("encrypt/with CDIV but without AAD then Decrypt", func(t *testing.T) { roundTrip(t, suitePlaintext2, "", "SHA_256") })
	t.Run("encrypt/with large plaintext and large AAD then Decrypt", func(t *testing.T) {
		// dd if=/dev/urandom bs=4096 count=2 (AAD) and count=1 (plaintext).
		aad, pt := make([]byte, 8192), make([]byte, 4096)
		rand.Read(aad)
		rand.Read(pt)
		roundTrip(t, base64.StdEncoding.EncodeToString(pt), base64.StdEncoding.EncodeToString(aad), "")
	})

	// test_encrypt_only_key
	for _, aad := range []string{"", suiteAAD} {
		t.Run("encrypt-only/Encrypt then Decrypt, AAD "+aad, func(t *testing.T) {
			enc := x.post(t, "keys/encrypt_only_key/encrypt", encryptBody(suitePlaintext, aad, ""))
			want(t, enc, `"ciphertext"`)
			want(t, x.post(t, "keys/encrypt_only_key/decrypt", decryptBody(enc, aad)), "InvalidKeyUsageException")
			// The same Trent key behind decrypt_only_key opens it.
			dec := x.post(t, "keys/decrypt_only_key/decrypt", decryptBody(enc, aad))
			want(t, dec, `"plaintext"`)
		})
		t.Run("encrypt-only/Encrypt with CDIV, AAD "+aad, func(t *testing.T) {
			want(t, x.post(t, "keys/encrypt_only_key/encrypt", encryptBody(suitePlaintext, aad, "SHA_256")), "InvalidKeyUsageException")
		})
	}

	// test_decrypt_only_key and test_impotent_key (utils/tests_for_decrypt_only_key.sh)
	for _, key := range []string{"decrypt_only_key", "impotent_key", "hmac_key"} {
		for _, c := range []struct{ aad, cdiv string }{{suiteAAD, ""}, {"", ""}, {suiteAAD, "SHA_256"}, {"", "SHA_256"}} {
			t.Run(key+"/Encrypt AAD "+c.aad+" CDIV "+c.cdiv, func(t *testing.T) {
				want(t, x.post(t, "keys/"+key+"/encrypt", encryptBody(suitePlaintext, c.aad, c.cdiv)), "InvalidKeyUsageException")
			})
		}
	}
	t.Run("impotent_key/metadata and Decrypt", func(t *testing.T) {
		a := x.post(t, "keys/impotent_key/metadata", metaBody("DescribeKey"))
		if !strings.Contains(a.raw, `"keyUsage":[]`) || a.body["keyStatus"] != "ENABLED" {
			t.Errorf("impotent key metadata %s", a.raw)
		}
		enc := x.post(t, "keys/foo/encrypt", encryptBody(suitePlaintext, "", ""))
		want(t, x.post(t, "keys/impotent_key/decrypt", decryptBody(enc, "")), "InvalidKeyUsageException")
	})
	t.Run("decrypt_only_key/metadata", func(t *testing.T) {
		if a := x.post(t, "keys/decrypt_only_key/metadata", metaBody("DescribeKey")); !strings.Contains(a.raw, `"keyUsage":["DECRYPT"]`) {
			t.Errorf("decrypt-only key metadata %s", a.raw)
		}
	})
	t.Run("hmac_key/metadata", func(t *testing.T) {
		a := x.post(t, "keys/hmac_key/metadata", metaBody("DescribeKey"))
		if a.body["keySpec"] != "HMAC_256" || strings.Contains(a.raw, "ENCRYPT") {
			t.Errorf("HMAC key metadata %s", a.raw)
		}
	})
}

// TestXKSProxyBeyondTheSuite covers what the specification requires and
// the compliance suite does not test.
func TestXKSProxyBeyondTheSuite(t *testing.T) {
	x, ids := startXKSProxy(t)
	ctx := context.Background()
	c := x.n.client("us-east-1")
	metaBody := "{" + requestMetadata("DescribeKey") + "}"

	t.Run("GET is 405", func(t *testing.T) {
		resp, err := http.Get(x.url + x.prefix + "/kms/xks/v1/health")
		mustNil(t, "GET", err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Fatalf("GET status %d Allow %q, want 405 POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("load balancer health check", func(t *testing.T) {
		resp, err := http.Get(x.url + "/healthz")
		mustNil(t, "GET /healthz", err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /healthz status %d", resp.StatusCode)
		}
	})
	t.Run("unknown path after authentication", func(t *testing.T) {
		want(t, x.post(t, "keys/foo/sign", metaBody), "InvalidUriPathException")
	})
	t.Run("disabled key", func(t *testing.T) {
		a := x.post(t, "keys/disabled_key/metadata", metaBody)
		if a.body["keyStatus"] != "DISABLED" {
			t.Fatalf("disabled key metadata %s", a.raw)
		}
		want(t, x.post(t, "keys/disabled_key/encrypt", encryptBody(suitePlaintext, "", "")), "InvalidStateException")
	})
	t.Run("tampered ciphertextMetadata", func(t *testing.T) {
		enc := x.post(t, "keys/foo/encrypt", encryptBody(suitePlaintext, suiteAAD, ""))
		m := enc.bytes(t, "ciphertextMetadata")
		m[len(m)-1] ^= 1
		enc.body["ciphertextMetadata"] = base64.StdEncoding.EncodeToString(m)
		want(t, x.post(t, "keys/foo/decrypt", decryptBody(enc, suiteAAD)), "InvalidCiphertextException")
		// Metadata passed as AAD instead (the spec's example of an
		// unintended successful decrypt the lengths prevent).
		enc2 := x.post(t, "keys/foo/encrypt", encryptBody(suitePlaintext, "", ""))
		meta := enc2.body["ciphertextMetadata"].(string)
		delete(enc2.body, "ciphertextMetadata")
		want(t, x.post(t, "keys/foo/decrypt", decryptBody(enc2, meta)), "InvalidCiphertextException")
	})
	t.Run("IV lengths", func(t *testing.T) {
		enc := x.post(t, "keys/foo/encrypt", encryptBody(suitePlaintext, "", ""))
		enc.body["initializationVector"] = base64.StdEncoding.EncodeToString(make([]byte, 16))
		want(t, x.post(t, "keys/foo/decrypt", decryptBody(enc, "")), "InvalidCiphertextException")
		enc.body["initializationVector"] = base64.StdEncoding.EncodeToString(make([]byte, 13))
		want(t, x.post(t, "keys/foo/decrypt", decryptBody(enc, "")), "ValidationException")
	})
	t.Run("ciphertext survives a rotation of the Trent key", func(t *testing.T) {
		enc := x.post(t, "keys/foo/encrypt", encryptBody(suitePlaintext, suiteAAD, ""))
		_, err := c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(ids["foo"])})
		mustNil(t, "RotateKeyOnDemand", err)
		after := x.post(t, "keys/foo/encrypt", encryptBody(suitePlaintext, suiteAAD, ""))
		if enc.body["ciphertextMetadata"] == after.body["ciphertextMetadata"] {
			t.Errorf("ciphertextMetadata did not change with the key material")
		}
		want(t, x.post(t, "keys/foo/decrypt", decryptBody(enc, suiteAAD)), `"plaintext"`)
		want(t, x.post(t, "keys/foo/decrypt", decryptBody(after, suiteAAD)), `"plaintext"`)
	})
	t.Run("Trent key scheduled for deletion", func(t *testing.T) {
		k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		mustNil(t, "CreateKey", err)
		cfg := suiteKeyStore([]server.XKSKey{{ID: "doomed", Key: *k.KeyMetadata.KeyId}})
		mustNil(t, "ReloadXKS", x.n.srv.ReloadXKS(cfg))
		enc := x.post(t, "keys/doomed/encrypt", encryptBody(suitePlaintext, "", ""))
		want(t, enc, `"ciphertext"`)
		_, err = c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)})
		mustNil(t, "ScheduleKeyDeletion", err)
		want(t, x.post(t, "keys/doomed/decrypt", decryptBody(enc, "")), "InvalidStateException")
		if a := x.post(t, "keys/doomed/metadata", metaBody); a.body["keyStatus"] != "DISABLED" {
			t.Errorf("metadata of a key pending deletion: %s", a.raw)
		}
	})
}

// suiteKeyStore returns a configuration with the suite's key store and
// keys.
func suiteKeyStore(keys []server.XKSKey, creds ...server.XKSCredential) *server.Config {
	if len(creds) == 0 {
		creds = []server.XKSCredential{{AccessKeyID: xksAccessKeyID, SecretAccessKey: xksSecret}}
	}
	return &server.Config{XKS: &server.XKSConfig{Listen: "127.0.0.1:0", KeyStores: []server.XKSKeyStore{{
		Name: "suite", PathPrefix: xksPrefix, Credentials: creds, Keys: keys}}}}
}

// TestXKSProxyCredentialRotation follows the specification's rotation
// steps: add a second credential, both work; remove the first, only the
// second works; all without a restart.
func TestXKSProxyCredentialRotation(t *testing.T) {
	x, ids := startXKSProxy(t)
	keys := []server.XKSKey{{ID: "foo", Key: ids["foo"]}}
	old := server.XKSCredential{AccessKeyID: xksAccessKeyID, SecretAccessKey: xksSecret}
	neu := server.XKSCredential{AccessKeyID: xksAccessKeyID2, SecretAccessKey: xksSecret2}
	second := x.with(func(y *xksTarget) { y.ak, y.secret = xksAccessKeyID2, xksSecret2 })
	body := encryptBody(suitePlaintext, "", "")

	want(t, second.post(t, "keys/foo/encrypt", body), "AuthenticationFailedException")
	mustNil(t, "ReloadXKS", x.n.srv.ReloadXKS(suiteKeyStore(keys, old, neu)))
	want(t, x.post(t, "keys/foo/encrypt", body), `"ciphertext"`)
	want(t, second.post(t, "keys/foo/encrypt", body), `"ciphertext"`)
	mustNil(t, "ReloadXKS", x.n.srv.ReloadXKS(suiteKeyStore(keys, neu)))
	want(t, x.post(t, "keys/foo/encrypt", body), "AuthenticationFailedException")
	want(t, second.post(t, "keys/foo/encrypt", body), `"ciphertext"`)

	// A bad configuration is refused and the current one stays.
	bad := server.XKSCredential{AccessKeyID: "lowercase-not-allowed-here", SecretAccessKey: xksSecret}
	if err := x.n.srv.ReloadXKS(suiteKeyStore(keys, bad)); err == nil {
		t.Fatal("ReloadXKS accepted an access key id outside A-Z and 2-7")
	}
	want(t, second.post(t, "keys/foo/encrypt", body), `"ciphertext"`)
}

// TestXKSProxyAudit: every request leaves an audit record with the
// request metadata and the Trent key, and no plaintext.
func TestXKSProxyAudit(t *testing.T) {
	x, ids := startXKSProxy(t)
	secretPlaintext := base64.StdEncoding.EncodeToString([]byte("audit-must-not-see-this-plaintext"))
	body := strings.Replace(encryptBody(secretPlaintext, suiteAAD, ""), `"kmsOperation": "Encrypt"`, `"kmsOperation": "GenerateDataKey"`, 1)
	body = strings.Replace(body, `"kmsRequestId": "`, `"kmsRequestId": "audit-correlation-`, 1)
	enc := x.post(t, "keys/foo/encrypt", body)
	want(t, enc, `"ciphertext"`)
	want(t, x.with(func(y *xksTarget) { y.secret = "Invalid" + y.secret }).post(t, "health", "{}"), "AuthenticationFailedException")
	x.n.stop()

	type rec struct {
		EventSource       string `json:"eventSource"`
		EventName         string `json:"eventName"`
		AWSRegion         string `json:"awsRegion"`
		ErrorCode         string `json:"errorCode"`
		RequestParameters struct {
			ExternalKeyID   string `json:"externalKeyId"`
			KeyStore        string `json:"keyStore"`
			RequestMetadata struct {
				AWSPrincipalARN string `json:"awsPrincipalArn"`
				KMSOperation    string `json:"kmsOperation"`
				KMSRequestID    string `json:"kmsRequestId"`
				KMSKeyARN       string `json:"kmsKeyArn"`
				KMSViaService   string `json:"kmsViaService"`
			} `json:"requestMetadata"`
		} `json:"requestParameters"`
		Resources []struct {
			ARN string `json:"ARN"`
		} `json:"resources"`
		UserIdentity struct {
			Type        string `json:"type"`
			AccessKeyID string `json:"accessKeyId"`
		} `json:"userIdentity"`
	}
	var got []rec
	err := audit.Search(filepath.Join(x.n.dataDir, "audit"), &audit.Filter{}, func(line []byte) error {
		for _, secret := range []string{secretPlaintext, "audit-must-not-see-this-plaintext", xksSecret, suiteAAD} {
			if bytes.Contains(line, []byte(secret)) {
				t.Errorf("the audit trail holds %q: %s", secret, line)
			}
		}
		var r rec
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		if r.EventSource == "kms-xks-proxy" {
			got = append(got, r)
		}
		return nil
	})
	mustNil(t, "audit.Search", err)
	if len(got) != 2 {
		t.Fatalf("%d XKS audit records, want 2: %+v", len(got), got)
	}
	e := got[0]
	m := e.RequestParameters.RequestMetadata
	if e.EventName != "Encrypt" || e.ErrorCode != "" || e.AWSRegion != "us-east-1" || e.RequestParameters.ExternalKeyID != "foo" ||
		e.RequestParameters.KeyStore != "suite" || m.AWSPrincipalARN != suitePrincipal || m.KMSOperation != "GenerateDataKey" ||
		!strings.HasPrefix(m.KMSRequestID, "audit-correlation-") || m.KMSKeyARN != suiteKeyARN || m.KMSViaService != "ebs" ||
		len(e.Resources) != 1 || !strings.HasSuffix(e.Resources[0].ARN, ids["foo"]) || e.UserIdentity.AccessKeyID != xksAccessKeyID {
		t.Errorf("Encrypt record %+v", e)
	}
	if f := got[1]; f.EventName != "GetHealthStatus" || f.ErrorCode != "AuthenticationFailedException" || f.UserIdentity.Type != "Unknown" {
		t.Errorf("refused GetHealthStatus record %+v", f)
	}
}
