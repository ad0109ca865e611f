package esdk_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/trent-kms/trent/internal/esdk"
)

// FuzzParseHeader: a header that parses re-encodes to the bytes it was
// read from; an error comes with a nil header; decrypting arbitrary bytes
// never succeeds without the data key.
func FuzzParseHeader(f *testing.F) {
	kr := newWrapKeyring("k1")
	for _, s := range esdk.Suites() {
		msg := encrypt(f, kr, s, 16, map[string]string{"a": "b", "c": "d"}, []byte("seed"))
		f.Add(msg)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		h, err := esdk.ParseHeader(r, esdk.Limits{})
		if err != nil {
			if h != nil {
				t.Fatal("error with a header")
			}
			return
		}
		used := len(b) - r.Len()
		if !bytes.Equal(h.Bytes(), b[:used]) {
			t.Fatalf("re-encoded header differs:\n%x\n%x", h.Bytes(), b[:used])
		}
		d, err := esdk.NewDecrypter(context.Background(), bytes.NewReader(b), esdk.DecryptOptions{Keyring: kr, Policy: esdk.RequireEncryptAllowDecrypt, MaxDataKeys: -1})
		if err == nil {
			io.Copy(io.Discard, d)
		}
	})
}

func benchEncrypt(b *testing.B, suite uint16) {
	kr := newWrapKeyring("k1")
	const size = 1 << 30
	b.SetBytes(size)
	for b.Loop() {
		e, err := esdk.NewEncrypter(context.Background(), io.Discard, esdk.EncryptOptions{Keyring: kr, Suite: esdk.SuiteByID(suite)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(e, io.LimitReader(zeros{}, size)); err != nil {
			b.Fatal(err)
		}
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecrypt(b *testing.B, suite uint16) {
	kr := newWrapKeyring("k1")
	const chunk = 64 << 20
	msg := encrypt(b, kr, esdk.SuiteByID(suite), 0, nil, make([]byte, chunk))
	b.SetBytes(1 << 30)
	for b.Loop() {
		for range (1 << 30) / chunk {
			d, err := esdk.NewDecrypter(context.Background(), bytes.NewReader(msg), esdk.DecryptOptions{Keyring: kr})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, d); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// Benchmarks of 1 GiB streams with a local data key (no KMS), frame
// length 4096; docs/performance.md reports them.
func BenchmarkEncrypt1GiBSigned(b *testing.B)   { benchEncrypt(b, 0x0578) }
func BenchmarkEncrypt1GiBUnsigned(b *testing.B) { benchEncrypt(b, 0x0478) }
func BenchmarkDecrypt1GiBSigned(b *testing.B)   { benchDecrypt(b, 0x0578) }
func BenchmarkDecrypt1GiBUnsigned(b *testing.B) { benchDecrypt(b, 0x0478) }
