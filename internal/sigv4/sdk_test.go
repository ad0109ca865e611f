package sigv4_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/trent-kms/trent/internal/sigv4"
)

const (
	testAKID   = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion = "eu-west-1"
	testHost   = "kms.eu-west-1.amazonaws.com"
)

var testTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// sdkSigned is a request signed by the real aws-sdk-go-v2 v4 signer, kept
// as the bytes that go over the wire.
type sdkSigned struct {
	wire []byte
	body []byte
}

// signWithSDK builds a KMS request as the SDK does and signs it with the
// SDK's signer. extra headers are added before signing.
func signWithSDK(t testing.TB, target string, body []byte, extra http.Header, token string) sdkSigned {
	t.Helper()
	return signWithSDKAs(t, testAKID, target, body, extra, token)
}

// signWithSDKAs is signWithSDK for another access key id (with testSecret).
func signWithSDKAs(t testing.TB, akid, target string, body []byte, extra http.Header, token string) sdkSigned {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+testHost+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	for k, vs := range extra {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: testSecret, SessionToken: token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kms", testRegion, testTime); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return sdkSigned{wire: buf.Bytes(), body: body}
}

// request parses the wire bytes the way Go's HTTP server does, so the
// verifier sees exactly what it would see in production. The body has been
// read, as the caller of Verify reads it.
func (s sdkSigned) request(t testing.TB) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(s.wire)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		t.Fatal(err)
	}
	return r
}

func testVerifier() *sigv4.Verifier {
	return &sigv4.Verifier{
		Lookup:  fixedLookup(testAKID, testSecret),
		Service: "kms",
		Now:     func() time.Time { return testTime.Add(90 * time.Second) },
	}
}

const encryptBody = `{"KeyId":"alias/trent-test","Plaintext":"SGVsbG8sIFRyZW50IQ==","EncryptionContext":{"purpose":"test"}}`

func TestSDKAccepted(t *testing.T) {
	s := signWithSDK(t, "TrentService.Encrypt", []byte(encryptBody), nil, "")
	r := s.request(t)
	if r.Header.Get("Content-Length") == "" || r.Host != testHost {
		t.Fatalf("request does not look like a server request: host %q header %v", r.Host, r.Header)
	}
	res, err := testVerifier().Verify(context.Background(), r, s.body)
	if err != nil {
		t.Fatal(err)
	}
	want := sigv4.Result{AccessKeyID: testAKID, Region: testRegion, Time: testTime}
	if res != want {
		t.Fatalf("Result = %+v, want %+v", res, want)
	}
}

// TestSDKRandom signs random requests with the SDK: each must verify, and
// changing any byte of the body, of a signed header value, or of the
// signature must not.
func TestSDKRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	v := testVerifier()
	ctx := context.Background()
	for i := range 200 {
		body := make([]byte, rng.IntN(300))
		for j := range body {
			body[j] = byte(rng.UintN(256))
		}
		extra := http.Header{}
		for range rng.IntN(4) {
			extra.Add(fmt.Sprintf("X-Trent-Test-%d", rng.IntN(3)), randomValue(rng))
		}
		token := ""
		if rng.IntN(2) == 0 {
			token = randomValue(rng) + "=="
		}
		s := signWithSDK(t, "TrentService."+[]string{"Encrypt", "Decrypt", "GenerateDataKey"}[rng.IntN(3)], body, extra, token)
		// A request with a token is signed with temporary credentials.
		v.Lookup = fixedLookup(testAKID, testSecret)
		if token != "" {
			v.Lookup = sessionLookup(testAKID, testSecret, token)
		}
		if _, err := v.Verify(ctx, s.request(t), s.body); err != nil {
			t.Fatalf("case %d: %v\n%s", i, err, s.wire)
		}

		if len(body) > 0 {
			mut := bytes.Clone(body)
			mut[rng.IntN(len(mut))] ^= byte(1 + rng.UintN(255))
			if _, err := v.Verify(ctx, s.request(t), mut); errCode(err) != sigv4.CodeInvalidSignature {
				t.Fatalf("case %d: body byte changed: %v", i, err)
			}
		}

		r := s.request(t)
		signed := signedHeaderNames(t, r)
		name := signed[rng.IntN(len(signed))]
		if name == "host" {
			r.Host = mutateString(rng, r.Host)
		} else {
			vals := r.Header.Values(name)
			k := rng.IntN(len(vals))
			vals[k] = mutateString(rng, vals[k])
			r.Header[http.CanonicalHeaderKey(name)] = vals
		}
		if _, err := v.Verify(ctx, r, s.body); err == nil {
			t.Fatalf("case %d: signed header %s changed, request accepted", i, name)
		}

		r = s.request(t)
		authz := r.Header.Get("Authorization")
		j := strings.Index(authz, "Signature=") + len("Signature=") + rng.IntN(64)
		r.Header.Set("Authorization", authz[:j]+string(hexOther(authz[j]))+authz[j+1:])
		if _, err := v.Verify(ctx, r, s.body); errCode(err) != sigv4.CodeInvalidSignature {
			t.Fatalf("case %d: signature changed: %v", i, err)
		}
	}
}

func randomValue(rng *rand.Rand) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.~/+:;,"
	b := make([]byte, 1+rng.IntN(40))
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return strings.TrimSpace(string(b)) + "x"
}

// mutateString changes one byte of s to a different printable, non-space
// byte, so the canonical value changes.
func mutateString(rng *rand.Rand, s string) string {
	b := []byte(s)
	i := rng.IntN(len(b))
	c := byte('!' + rng.IntN(94))
	if c == b[i] || b[i] == ' ' {
		c = '#'
		if b[i] == '#' {
			c = '%'
		}
	}
	b[i] = c
	return string(b)
}

func hexOther(c byte) byte {
	if c == '0' {
		return '1'
	}
	return '0'
}

func signedHeaderNames(t testing.TB, r *http.Request) []string {
	t.Helper()
	_, _, sh, _, err := sigv4.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(sh, ";")
}

func BenchmarkVerify(b *testing.B) {
	s := signWithSDK(b, "TrentService.Encrypt", []byte(encryptBody), nil, "")
	r := s.request(b)
	v := testVerifier()
	ctx := context.Background()
	if _, err := v.Verify(ctx, r, s.body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, r, s.body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyParallel(b *testing.B) {
	s := signWithSDK(b, "TrentService.Encrypt", []byte(encryptBody), nil, "")
	r := s.request(b)
	v := testVerifier()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, r, s.body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
