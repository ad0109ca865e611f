package sigv4_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// attackRequest builds the request of the hardening issue: a valid access
// key id, a SignedHeaders list of names names (host, x-amz-date and
// x-amz-target among them) and headers extra headers that none of the names
// match, signed with a made-up signature. Before the list was bounded, every
// name cost a scan of every header.
func attackRequest(tb testing.TB, names, headers int, sorted bool) (*http.Request, []byte) {
	tb.Helper()
	list := make([]string, 0, names)
	list = append(list, "host", "x-amz-date", "x-amz-target")
	for i := 0; len(list) < names; i++ {
		list = append(list, fmt.Sprintf("n%05d", i))
	}
	if sorted {
		slices.Sort(list)
	}
	var b bytes.Buffer
	b.WriteString("POST / HTTP/1.1\r\nHost: " + testHost + "\r\n")
	b.WriteString("X-Amz-Date: " + testTime.Format("20060102T150405Z") + "\r\n")
	b.WriteString("X-Amz-Target: TrentService.Encrypt\r\n")
	fmt.Fprintf(&b, "Authorization: AWS4-HMAC-SHA256 Credential=%s/20260314/%s/kms/aws4_request, SignedHeaders=%s, Signature=%s\r\n",
		testAKID, testRegion, strings.Join(list, ";"), strings.Repeat("0", 64))
	for i := range headers {
		fmt.Fprintf(&b, "X-H%d: v\r\n", i)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(encryptBody), encryptBody)
	r, err := http.ReadRequest(bufio.NewReaderSize(&b, b.Len()))
	if err != nil {
		tb.Fatal(err)
	}
	return r, []byte(encryptBody)
}

// BenchmarkVerifyCost compares the cost of a normal request with the
// costliest requests an attacker holding only an access key id can send.
// It reports numbers; it asserts nothing about time.
func BenchmarkVerifyCost(b *testing.B) {
	ctx := context.Background()
	b.Run("normal", func(b *testing.B) {
		s := signWithSDK(b, "TrentService.Encrypt", []byte(encryptBody), nil, "")
		r := s.request(b)
		v := testVerifier()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, r, s.body); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range []struct {
		name           string
		names, headers int
		sorted         bool
	}{
		{"issue-10500-names-5200-headers", 10500, 5200, false},
		{"64-sorted-names-5200-headers", 64, 5200, true},
		{"64-unsorted-names-5200-headers", 64, 5200, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			r, body := attackRequest(b, c.names, c.headers, c.sorted)
			v := testVerifier()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, r, body); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
