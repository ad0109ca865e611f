package keystore_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/trent-kms/trent/internal/keystore"
)

const (
	testUUID = "1234abcd-12ab-34cd-56ef-1234567890ab"
	testMRK  = "mrk-1234abcd12ab34cd56ef1234567890ab"
	testMat  = "4b8d3f1e9a2c7b6d5e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"
)

func newKey(t testing.TB) (*keystore.SymmetricKey, []byte) {
	t.Helper()
	raw, err := keystore.GenerateSymmetric(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keystore.NewSymmetricKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k, raw
}

func TestSealOpen(t *testing.T) {
	k, _ := newKey(t)
	for _, keyID := range []string{testUUID, testMRK, "00000000-0000-0000-0000-000000000000", "mrk-ffffffffffffffffffffffffffffffff"} {
		for name, ctx := range map[string]map[string]string{
			"nil":   nil,
			"empty": {},
			"one":   {"purpose": "test"},
			"many":  {"b": "2", "a": "1", "C": "3", "": "", "ä": "ü"},
		} {
			for _, size := range []int{0, 1, 32, 4096, keystore.MaxSymmetricPlaintext} {
				t.Run(fmt.Sprintf("%s/%s/%d", keyID[:4], name, size), func(t *testing.T) {
					pt := make([]byte, size)
					rand.Read(pt)
					blob, err := k.Seal(rand.Reader, keyID, testMat, pt, ctx)
					if err != nil {
						t.Fatal(err)
					}
					if len(blob) != size+keystore.SymmetricOverhead || len(blob) > keystore.MaxCiphertextSize {
						t.Fatalf("blob is %d bytes", len(blob))
					}
					c, err := keystore.ParseCiphertext(blob)
					if err != nil {
						t.Fatal(err)
					}
					if c.KeyID != keyID || c.MaterialID != testMat || c.Version != keystore.VersionSymmetricV1 {
						t.Fatalf("parsed %q %q %d", c.KeyID, c.MaterialID, c.Version)
					}
					if len(c.Nonce) != 12 || len(c.Sealed) != size+16 {
						t.Fatalf("nonce %d bytes, sealed %d bytes", len(c.Nonce), len(c.Sealed))
					}
					got, err := k.Open(c, ctx)
					if err != nil || !bytes.Equal(got, pt) {
						t.Fatalf("Open = %x, %v", got, err)
					}
					if got == nil {
						t.Fatal("Open returned nil for an empty plaintext")
					}
				})
			}
		}
	}
}

// TestSealMatchesSpec rebuilds blobs from the description in
// docs/ciphertext.md with crypto/aes directly, so Seal and the document
// cannot drift apart.
func TestSealMatchesSpec(t *testing.T) {
	k, raw := newKey(t)
	block, _ := aes.NewCipher(raw)
	gcm, _ := cipher.NewGCM(block)
	for _, tc := range []struct {
		keyID string
		form  byte
		ctx   map[string]string
	}{
		{testUUID, 0x01, nil},
		{testMRK, 0x02, map[string]string{"purpose": "test", "Department": "10", "a": ""}},
	} {
		pt := []byte("spec check")
		nonce := seq(12, 0x42)
		blob, err := k.Seal(bytes.NewReader(nonce), tc.keyID, testMat, pt, tc.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var header []byte
		header = append(header, 0x01, tc.form)
		id, _ := hex.DecodeString(strings.ReplaceAll(strings.TrimPrefix(tc.keyID, "mrk-"), "-", ""))
		header = append(header, id...)
		mat, _ := hex.DecodeString(testMat)
		header = append(header, mat...)
		header = binary.BigEndian.AppendUint16(header, uint16(len(pt)+16))
		aad := bytes.Clone(header)
		keys := make([]string, 0, len(tc.ctx))
		for key := range tc.ctx {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			aad = binary.BigEndian.AppendUint32(aad, uint32(len(key)))
			aad = append(aad, key...)
			aad = binary.BigEndian.AppendUint32(aad, uint32(len(tc.ctx[key])))
			aad = append(aad, tc.ctx[key]...)
		}
		want := append(append(header, nonce...), gcm.Seal(nil, nonce, pt, aad)...)
		if !bytes.Equal(blob, want) {
			t.Errorf("%s: Seal = %x\nspec says %x", tc.keyID, blob, want)
		}
	}
}

func TestContextIsCanonical(t *testing.T) {
	k, _ := newKey(t)
	nonce := seq(12, 0)
	a, _ := k.Seal(bytes.NewReader(nonce), testUUID, testMat, []byte("x"), nil)
	b, _ := k.Seal(bytes.NewReader(nonce), testUUID, testMat, []byte("x"), map[string]string{})
	if !bytes.Equal(a, b) {
		t.Error("nil and empty contexts seal differently")
	}
	// Many pairs, so Go's map iteration order varies between runs.
	ctx := map[string]string{}
	for i := range 40 {
		ctx[fmt.Sprintf("key-%02d", i)] = fmt.Sprint(i)
	}
	first, _ := k.Seal(bytes.NewReader(nonce), testUUID, testMat, []byte("x"), ctx)
	for range 20 {
		copyCtx := map[string]string{}
		for key, v := range ctx {
			copyCtx[key] = v
		}
		again, _ := k.Seal(bytes.NewReader(nonce), testUUID, testMat, []byte("x"), copyCtx)
		if !bytes.Equal(first, again) {
			t.Fatal("the same context sealed differently")
		}
	}
	c, _ := keystore.ParseCiphertext(first)
	if _, err := k.Open(c, ctx); err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string]map[string]string{
		"prefix-shift": {"key-0": "0key-01", "": ""},
		"nil":          nil,
	} {
		if _, err := k.Open(c, other); !errors.Is(err, keystore.ErrInvalidCiphertext) {
			t.Errorf("%s: Open = %v, want ErrInvalidCiphertext", name, err)
		}
	}
}

func TestSealRejects(t *testing.T) {
	k, _ := newKey(t)
	for _, keyID := range []string{
		"", "1234abcd-12ab-34cd-56ef-1234567890aB", "1234ABCD-12AB-34CD-56EF-1234567890AB",
		"1234abcd-12ab-34cd-56ef-1234567890a", "1234abcd-12ab-34cd-56ef-1234567890abc",
		"1234abcd_12ab-34cd-56ef-1234567890ab", "1234abcd12ab-34cd-56ef-1234567890ab-",
		"1234abcd-12ab-34cd-56ef-123456789g0ab", "mrk-1234abcd12ab34cd56ef1234567890aB",
		"mrk-1234abcd12ab34cd56ef1234567890a", "MRK-1234abcd12ab34cd56ef1234567890ab",
		"mrk-1234abcd-12ab-34cd-56ef-1234567", "alias/my-key", "1234abcd12ab34cd56ef1234567890abcdef",
		"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	} {
		if _, err := k.Seal(rand.Reader, keyID, testMat, []byte("x"), nil); err == nil {
			t.Errorf("Seal accepted key id %q", keyID)
		}
	}
	for _, mat := range []string{"", testMat[:63], testMat + "0", strings.ToUpper(testMat), "g" + testMat[1:]} {
		if _, err := k.Seal(rand.Reader, testUUID, mat, []byte("x"), nil); err == nil {
			t.Errorf("Seal accepted material id %q", mat)
		}
	}
	if _, err := k.Seal(rand.Reader, testUUID, testMat, make([]byte, keystore.MaxSymmetricPlaintext+1), nil); err == nil {
		t.Error("Seal accepted a plaintext too long for a 6144-byte blob")
	}
	secret := []byte("do not leak this plaintext")
	_, err := k.Seal(iotest.ErrReader(errors.New("entropy gone")), testUUID, testMat, secret, nil)
	if err == nil {
		t.Fatal("Seal ignored a failing rand")
	}
	if strings.Contains(err.Error(), string(secret)) {
		t.Error("error message contains the plaintext")
	}
	if _, err := k.Seal(bytes.NewReader(make([]byte, 11)), testUUID, testMat, secret, nil); err == nil {
		t.Error("Seal accepted a short nonce read")
	}
}

func TestNewSymmetricKey(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := keystore.NewSymmetricKey(make([]byte, n)); err == nil {
			t.Errorf("NewSymmetricKey accepted %d bytes", n)
		}
	}
	// The key keeps no reference to raw: clearing raw changes nothing.
	raw := seq(32, 7)
	k, err := keystore.NewSymmetricKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := k.Seal(rand.Reader, testUUID, testMat, []byte("x"), nil)
	clear(raw)
	c, _ := keystore.ParseCiphertext(blob)
	if _, err := k.Open(c, nil); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFailures(t *testing.T) {
	k, _ := newKey(t)
	other, _ := newKey(t)
	blob, _ := k.Seal(rand.Reader, testUUID, testMat, []byte("secret plaintext"), map[string]string{"a": "b"})
	c, _ := keystore.ParseCiphertext(blob)
	for name, tc := range map[string]struct {
		k   *keystore.SymmetricKey
		c   *keystore.Ciphertext
		ctx map[string]string
	}{
		"wrong-key":       {other, c, map[string]string{"a": "b"}},
		"wrong-context":   {k, c, map[string]string{"a": "B"}},
		"zero-ciphertext": {k, &keystore.Ciphertext{KeyID: testUUID, MaterialID: testMat}, nil},
		"nil-ciphertext":  {k, nil, nil},
	} {
		t.Run(name, func(t *testing.T) {
			pt, err := tc.k.Open(tc.c, tc.ctx)
			if !errors.Is(err, keystore.ErrInvalidCiphertext) || pt != nil {
				t.Fatalf("Open = %x, %v", pt, err)
			}
			var fe *keystore.FormatError
			if !errors.As(err, &fe) || fe.Reason == "" {
				t.Fatalf("error %v is not a *FormatError with a reason", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatal("error message contains plaintext")
			}
		})
	}
	// Changing the parsed fields does not change what is authenticated.
	c2, _ := keystore.ParseCiphertext(blob)
	c2.KeyID = testMRK
	if pt, err := k.Open(c2, map[string]string{"a": "b"}); err != nil || string(pt) != "secret plaintext" {
		t.Fatalf("Open after editing fields = %q, %v", pt, err)
	}
	if !bytes.Equal(c2.Bytes(), blob) {
		t.Fatal("Bytes changed with the fields")
	}
}

func TestParseCiphertextRejects(t *testing.T) {
	k, _ := newKey(t)
	for _, size := range []int{0, 1, 100, keystore.MaxSymmetricPlaintext} {
		blob, err := k.Seal(rand.Reader, testMRK, testMat, make([]byte, size), map[string]string{"a": "b"})
		if err != nil {
			t.Fatal(err)
		}
		checkTruncationsAndExtensions(t, blob)
	}
	for name, b := range map[string][]byte{
		"nil":           nil,
		"too-long":      append([]byte{1}, make([]byte, keystore.MaxCiphertextSize)...),
		"length-zero":   append(append([]byte{1, 1}, make([]byte, 48)...), make([]byte, 14+16)...),
		"length-15":     append(append([]byte{1, 1}, make([]byte, 48)...), append([]byte{0, 15}, make([]byte, 12+15)...)...),
		"form-0":        append(append([]byte{1, 0}, make([]byte, 48)...), append([]byte{0, 16}, make([]byte, 12+16)...)...),
		"form-3":        append(append([]byte{1, 3}, make([]byte, 48)...), append([]byte{0, 16}, make([]byte, 12+16)...)...),
		"version-2":     append(append([]byte{2, 1}, make([]byte, 48)...), append([]byte{0, 16}, make([]byte, 12+16)...)...),
		"aws-kms-style": append([]byte{0x01, 0x02, 0x02, 0x00, 0x78}, make([]byte, 180)...),
	} {
		c, err := keystore.ParseCiphertext(b)
		if err == nil || c != nil || !errors.Is(err, keystore.ErrInvalidCiphertext) {
			t.Errorf("%s: ParseCiphertext = %v, %v", name, c, err)
		}
	}
	// The smallest well-formed blob parses (Open then fails on the tag).
	minimal := append(append([]byte{1, 2}, make([]byte, 48)...), append([]byte{0, 16}, make([]byte, 12+16)...)...)
	c, err := keystore.ParseCiphertext(minimal)
	if err != nil || c.KeyID != "mrk-00000000000000000000000000000000" {
		t.Fatalf("minimal blob: %v, %v", c, err)
	}
	if _, err := k.Open(c, nil); !errors.Is(err, keystore.ErrInvalidCiphertext) {
		t.Fatalf("Open(minimal) = %v", err)
	}
}

// checkTruncationsAndExtensions requires that no prefix of the valid blob
// and no extension of it parses, and that the blob itself round-trips.
func checkTruncationsAndExtensions(t testing.TB, blob []byte) {
	t.Helper()
	c, err := keystore.ParseCiphertext(blob)
	if err != nil {
		t.Fatalf("valid blob rejected: %v", err)
	}
	if !bytes.Equal(c.Bytes(), blob) {
		t.Fatal("Bytes differs from the parsed blob")
	}
	for i := range len(blob) {
		if c, err := keystore.ParseCiphertext(blob[:i]); err == nil || c != nil {
			t.Fatalf("accepted a blob truncated to %d of %d bytes", i, len(blob))
		}
	}
	for _, extra := range [][]byte{{0}, {1}, make([]byte, 16), make([]byte, keystore.MaxCiphertextSize)} {
		ext := append(bytes.Clone(blob), extra...)
		if c, err := keystore.ParseCiphertext(ext); err == nil || c != nil {
			t.Fatalf("accepted a blob extended by %d bytes", len(extra))
		}
	}
}

func TestBytesIsACopy(t *testing.T) {
	k, _ := newKey(t)
	blob, _ := k.Seal(rand.Reader, testUUID, testMat, []byte("x"), nil)
	in := bytes.Clone(blob)
	c, _ := keystore.ParseCiphertext(in)
	clear(in) // ParseCiphertext copied its input
	b := c.Bytes()
	clear(b) // Bytes returned a copy
	if !bytes.Equal(c.Bytes(), blob) {
		t.Fatal("Ciphertext shares memory with its input or with Bytes")
	}
	if _, err := k.Open(c, nil); err != nil {
		t.Fatal(err)
	}
	if (&keystore.Ciphertext{}).Bytes() != nil {
		t.Fatal("Bytes of a zero Ciphertext is not nil")
	}
}

func TestGenerate(t *testing.T) {
	raw, err := keystore.GenerateSymmetric(rand.Reader)
	if err != nil || len(raw) != 32 {
		t.Fatalf("GenerateSymmetric = %d bytes, %v", len(raw), err)
	}
	raw2, _ := keystore.GenerateSymmetric(rand.Reader)
	if bytes.Equal(raw, raw2) {
		t.Fatal("two keys are equal")
	}
	id, err := keystore.GenerateMaterialID(rand.Reader)
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("GenerateMaterialID = %q, %v", id, err)
	}
	id, _ = keystore.GenerateMaterialID(bytes.NewReader(seq(32, 0xe0)))
	if id != "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff" {
		t.Fatalf("GenerateMaterialID does not hex-encode its 32 bytes: %q", id)
	}
	fail := iotest.ErrReader(io.ErrUnexpectedEOF)
	if _, err := keystore.GenerateSymmetric(fail); err == nil {
		t.Error("GenerateSymmetric ignored a failing rand")
	}
	if _, err := keystore.GenerateSymmetric(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("GenerateSymmetric accepted a short read")
	}
	if _, err := keystore.GenerateMaterialID(fail); err == nil {
		t.Error("GenerateMaterialID ignored a failing rand")
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 32)
	k, _ := keystore.NewSymmetricKey(raw)
	root, err := keystore.OpenFileRoot(t.TempDir() + "/root.key")
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"symmetric": k, "root": root} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
			if got := fmt.Sprintf(verb, v); got != "[redacted]" {
				t.Errorf("%s: Sprintf(%s) = %q", name, verb, got)
			}
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "key", v)
		if !strings.Contains(buf.String(), `"key":"[redacted]"`) {
			t.Errorf("%s: slog wrote %s", name, buf.String())
		}
		buf.Reset()
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "key", v)
		if !strings.Contains(buf.String(), `key=[redacted]`) {
			t.Errorf("%s: slog wrote %s", name, buf.String())
		}
	}
	if s := fmt.Sprintf("%v", struct{ K *keystore.SymmetricKey }{k}); strings.Contains(s, "ab") {
		t.Errorf("nested key printed %q", s)
	}
}

func TestAllocations(t *testing.T) {
	k, _ := newKey(t)
	pt := make([]byte, 32)
	ctx := map[string]string{"purpose": "test", "Department": "10"}
	var sealErr error
	for _, tc := range []struct {
		name      string
		ctx       map[string]string
		seal, opn float64
	}{
		{"no-context", nil, 1, 1},
		{"context", ctx, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, func() {
				_, sealErr = k.Seal(rand.Reader, testUUID, testMat, pt, tc.ctx)
			}); got != tc.seal || sealErr != nil {
				t.Errorf("Seal: %v allocations, want %v (err %v)", got, tc.seal, sealErr)
			}
			blob, _ := k.Seal(rand.Reader, testUUID, testMat, pt, tc.ctx)
			c, _ := keystore.ParseCiphertext(blob)
			var openErr error
			if got := testing.AllocsPerRun(100, func() {
				_, openErr = k.Open(c, tc.ctx)
			}); got != tc.opn || openErr != nil {
				t.Errorf("Open: %v allocations, want %v (err %v)", got, tc.opn, openErr)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	k, _ := newKey(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			ctx := map[string]string{"g": fmt.Sprint(g)}
			for i := range 200 {
				pt := []byte(fmt.Sprint(g, i))
				blob, err := k.Seal(rand.Reader, testUUID, testMat, pt, ctx)
				if err != nil {
					t.Error(err)
					return
				}
				c, err := keystore.ParseCiphertext(blob)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := k.Open(c, ctx); err != nil || !bytes.Equal(got, pt) {
					t.Errorf("Open = %q, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzParseCiphertext(f *testing.F) {
	var file frozenFile
	if err := decodeStrict(frozenPath, &file); err != nil {
		f.Fatal(err)
	}
	for _, v := range file.Vectors {
		f.Add([]byte(v.Blob))
	}
	if h, err := keystore.ExternalHeader(testUUID, testMat, 60); err == nil {
		f.Add(append(h, make([]byte, 60)...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := keystore.ParseCiphertext(b)
		if err != nil {
			if c != nil {
				t.Fatal("error with a non-nil result")
			}
			if !errors.Is(err, keystore.ErrInvalidCiphertext) {
				t.Fatalf("error %v does not wrap ErrInvalidCiphertext", err)
			}
			return
		}
		if !bytes.Equal(c.Bytes(), b) {
			t.Fatalf("Bytes() = %x, parsed %x", c.Bytes(), b)
		}
		if c.Version == keystore.VersionExternalV2 {
			// The envelope is package kms's; the header must be the one
			// ExternalHeader writes for the parsed ids.
			h, err := keystore.ExternalHeader(c.KeyID, c.MaterialID, len(c.Sealed))
			if err != nil || !bytes.Equal(h, b[:52]) || !bytes.Equal(c.Sealed, b[52:]) || c.Nonce != nil {
				t.Fatalf("version 2: header %x (%v), parsed %x", h, err, b[:52])
			}
			checkTruncationsAndExtensions(t, b)
			return
		}
		if !bytes.Equal(c.Bytes()[52:64], c.Nonce) || !bytes.Equal(c.Bytes()[64:], c.Sealed) {
			t.Fatal("Nonce or Sealed disagree with the blob")
		}
		checkTruncationsAndExtensions(t, b)
		// The parsed ids must be accepted by Seal and land in the same
		// header bytes.
		k, _ := keystore.NewSymmetricKey(make([]byte, 32))
		blob, err := k.Seal(bytes.NewReader(c.Nonce), c.KeyID, c.MaterialID, make([]byte, len(c.Sealed)-16), nil)
		if err != nil {
			t.Fatalf("Seal rejects parsed ids %q %q: %v", c.KeyID, c.MaterialID, err)
		}
		if !bytes.Equal(blob[:64], b[:64]) {
			t.Fatalf("re-sealed header %x, parsed %x", blob[:64], b[:64])
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	benchmarkSymmetric(b, func(b *testing.B, k *keystore.SymmetricKey, pt []byte, ctx map[string]string) {
		for b.Loop() {
			if _, err := k.Seal(rand.Reader, testUUID, testMat, pt, ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	benchmarkSymmetric(b, func(b *testing.B, k *keystore.SymmetricKey, pt []byte, ctx map[string]string) {
		blob, _ := k.Seal(rand.Reader, testUUID, testMat, pt, ctx)
		c, _ := keystore.ParseCiphertext(blob)
		for b.Loop() {
			if _, err := k.Open(c, ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecrypt is what Decrypt does with a blob: parse, then open.
func BenchmarkDecrypt(b *testing.B) {
	benchmarkSymmetric(b, func(b *testing.B, k *keystore.SymmetricKey, pt []byte, ctx map[string]string) {
		blob, _ := k.Seal(rand.Reader, testUUID, testMat, pt, ctx)
		for b.Loop() {
			c, err := keystore.ParseCiphertext(blob)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := k.Open(c, ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchmarkSymmetric(b *testing.B, run func(*testing.B, *keystore.SymmetricKey, []byte, map[string]string)) {
	k, _ := newKey(b)
	ctx := map[string]string{"aws:s3:arn": "arn:aws:s3:::bucket/object", "purpose": "backup"}
	for _, size := range []int{32, 4096} {
		for _, c := range []struct {
			name string
			ctx  map[string]string
		}{{"no-context", nil}, {"context", ctx}} {
			b.Run(fmt.Sprintf("%d/%s", size, c.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				run(b, k, make([]byte, size), c.ctx)
			})
		}
	}
}

// TestExternalBlob: a version 2 blob (external key stores) parses with its
// envelope in Sealed, is refused by OpenBlob, and ExternalHeader refuses
// sizes outside the format.
func TestExternalBlob(t *testing.T) {
	h, err := keystore.ExternalHeader(testUUID, testMat, 70)
	if err != nil {
		t.Fatal(err)
	}
	env := bytes.Repeat([]byte{7}, 70)
	c, err := keystore.ParseCiphertext(append(h, env...))
	if err != nil || c.Version != keystore.VersionExternalV2 || c.KeyID != testUUID || c.MaterialID != testMat || !bytes.Equal(c.Sealed, env) {
		t.Fatalf("parse: %+v, %v", c, err)
	}
	if !bytes.Equal(c.Header(), h) {
		t.Fatalf("Header() = %x, want %x", c.Header(), h)
	}
	checkTruncationsAndExtensions(t, append(h, env...))
	k, _ := newKey(t)
	if _, err := k.Open(c, nil); !errors.Is(err, keystore.ErrInvalidCiphertext) {
		t.Fatalf("OpenBlob of a version 2 blob: %v", err)
	}
	for _, n := range []int{0, 27, keystore.MaxCiphertextSize - 51} {
		if _, err := keystore.ExternalHeader(testUUID, testMat, n); err == nil {
			t.Errorf("ExternalHeader accepted an envelope of %d bytes", n)
		}
	}
	if _, err := keystore.ExternalHeader("not-a-key-id", testMat, 70); err == nil {
		t.Error("ExternalHeader accepted a malformed key id")
	}
}
