package sigv4

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

// checkAmzDate fails when parseAmzDate and time.Parse disagree on val.
func checkAmzDate(t *testing.T, val string) {
	t.Helper()
	got, ok := parseAmzDate(val)
	want, err := time.Parse(amzDateFmt, val)
	if ok != (err == nil) || ok && (!got.Equal(want) || got.Location() != want.Location()) {
		t.Fatalf("%q: parseAmzDate %v %v, time.Parse %v %v", val, got, ok, want, err)
	}
}

// TestParseAmzDate compares parseAmzDate with time.Parse on valid dates,
// dates out of range (month 13, 31 April, 29 February of a common year, hour
// 24, second 60), signs, spaces and letters in place of digits, and random
// strings of the right shape.
func TestParseAmzDate(t *testing.T) {
	for _, v := range []string{
		"20261130T130000Z", "20240229T235959Z", "20230229T000000Z", "20000229T000000Z", "19000229T000000Z",
		"20260431T000000Z", "20261301T000000Z", "20260001T000000Z", "20260100T000000Z", "20260132T000000Z",
		"20261130T240000Z", "20261130T236000Z", "20261130T235960Z", "00000101T000000Z", "99991231T235959Z",
		"2026113OT130000Z", "2026-130T130000Z", "+0261130T130000Z", " 0261130T130000Z", "20261130t130000Z",
		"20261130T130000z", "20261130 130000Z", "20261130T13000Z", "20261130T1300000Z", "", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
	} {
		checkAmzDate(t, v)
	}
	r := rand.New(rand.NewPCG(5, 6))
	const chars = "0123456789TZ+- x"
	for range 200000 {
		b := []byte("20261130T130000Z")
		for range 1 + r.IntN(3) {
			i := r.IntN(len(b))
			if r.IntN(2) == 0 {
				b[i] = byte('0' + r.IntN(10))
			} else {
				b[i] = chars[r.IntN(len(chars))]
			}
		}
		checkAmzDate(t, string(b))
	}
}

// TestKnownHeaderKey checks knownHeaderKey's table against
// http.CanonicalHeaderKey, and that other names are left to the loop.
func TestKnownHeaderKey(t *testing.T) {
	for _, n := range []string{"host", "content-type", "content-length", "x-amz-date", "x-amz-target",
		"x-amz-content-sha256", "x-amz-security-token", "x-amz-user-agent", "amz-sdk-invocation-id", "amz-sdk-request"} {
		if got, want := knownHeaderKey(n), http.CanonicalHeaderKey(n); got != want {
			t.Errorf("knownHeaderKey(%q) = %q, want %q", n, got, want)
		}
	}
	for _, n := range []string{"Host", "x-amz-meta-a", "", "HOST"} {
		if got := knownHeaderKey(n); got != "" {
			t.Errorf("knownHeaderKey(%q) = %q, want none", n, got)
		}
	}
}
