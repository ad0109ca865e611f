package sigv4_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/sigv4"
	"github.com/trent-kms/trent/internal/wire"
)

// FuzzParseAuthorization: the parser never panics, and what it returns
// points into its input.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
	f.Add("AWS4-HMAC-SHA256 Credential=,,, Signature")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		alg, cred, sh, sig, err := sigv4.ParseAuthorization(h)
		if err != nil {
			if alg != "" || cred != "" || sh != "" || sig != "" {
				t.Fatal("error with non-empty parts")
			}
			return
		}
		for _, p := range []string{alg, cred, sh, sig} {
			if !strings.Contains(h, p) {
				t.Fatalf("part %q not in input", p)
			}
		}
	})
}

// FuzzVerify feeds arbitrary requests, built from raw HTTP text the way the
// server parses them, to Verify and to the canonical request builder: no
// panics, every error is a *wire.Error with a zero Result, and a request
// that verifies has a canonical request that ends with the body hash.
func FuzzVerify(f *testing.F) {
	s := signWithSDK(f, "TrentService.Encrypt", []byte(encryptBody), nil, "")
	f.Add(s.wire, []byte(encryptBody))
	f.Add([]byte("GET /a/../b//c/./d%20e?x=1&y=%zz&+=+ HTTP/1.1\r\nHost: h\r\nX-Amz-Date: 20260314T150926Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260314/eu-west-1/kms/aws4_request, SignedHeaders=host;x-amz-date;My-Header;;, Signature=00\r\nMy-Header:  a   b  \r\n\r\n"), []byte{})
	v := testVerifier()
	f.Fuzz(func(t *testing.T, raw, body []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		_, _, sh, _, _ := sigv4.ParseAuthorization(r.Header.Get("Authorization"))
		for _, normalize := range []bool{false, true} {
			cr := sigv4.CanonicalRequest(r, sh, body, normalize)
			if strings.Count(cr, "\n") < 5 {
				t.Fatalf("canonical request has too few lines: %q", cr)
			}
		}
		res, err := v.Verify(context.Background(), r, body)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Code == "" || we.Message == "" {
				t.Fatalf("error %v is not a complete *wire.Error", err)
			}
			if res != (sigv4.Result{}) {
				t.Fatalf("error with non-zero Result %+v", res)
			}
			return
		}
		if res.AccessKeyID != testAKID || res.Time.Sub(testTime).Abs() > 6*time.Minute {
			t.Fatalf("unexpected Result %+v", res)
		}
	})
}
