package kms

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParseImportToken: a decoded token encodes to the same bytes, an
// error comes with a zero token, and every truncation or extension of a
// valid token is refused.
func FuzzParseImportToken(f *testing.F) {
	valid := encodeImportToken(importToken{alg: "RSAES_OAEP_SHA_256", spec: "RSA_2048", key: []byte("pkcs8"),
		validTo: time.UnixMilli(1_800_000_000_123).UTC()})
	f.Add(valid)
	f.Add([]byte{importTokenVersion})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := parseImportToken(b)
		if err != nil {
			if tok.alg != "" || tok.spec != "" || tok.key != nil || !tok.validTo.IsZero() {
				t.Fatalf("error %v with a token %+v", err, tok)
			}
			return
		}
		if got := encodeImportToken(tok); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding %x gives %x", b, got)
		}
	})
}

func TestParseImportTokenLengths(t *testing.T) {
	valid := encodeImportToken(importToken{alg: "RSA_AES_KEY_WRAP_SHA_1", spec: "RSA_4096", key: bytes.Repeat([]byte{7}, 300),
		validTo: time.UnixMilli(1_800_000_000_000).UTC()})
	if _, err := parseImportToken(valid); err != nil {
		t.Fatal(err)
	}
	for i := range len(valid) {
		if _, err := parseImportToken(valid[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", i)
		}
	}
	if _, err := parseImportToken(append(bytes.Clone(valid), 0)); err == nil {
		t.Fatal("extended by one byte: accepted")
	}
}
