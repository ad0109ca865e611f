package keystore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/keystore"
)

// frozenPath holds blobs written by the version 1 format. They were made
// once and must decrypt (or fail) the same way forever: a change to Seal,
// Open or ParseCiphertext that breaks one breaks every stored ciphertext.
const frozenPath = "testdata/ciphertext-v1.json"

var generateFrozen = flag.Bool("generate-frozen", false, "write "+frozenPath+" if it does not exist yet")

type frozenFile struct {
	Description string         `json:"description"`
	Vectors     []frozenVector `json:"vectors"`
}

// frozenVector is one blob. Key, KeyID, MaterialID and Nonce are what it was
// sealed with (for tampered vectors: what the original was sealed with);
// Context is what Open is given; Result is "success" or
// "invalid-ciphertext".
type frozenVector struct {
	Name       string            `json:"name"`
	Key        hexBytes          `json:"key"`
	KeyID      string            `json:"keyId"`
	MaterialID string            `json:"materialId"`
	Nonce      hexBytes          `json:"nonce"`
	Context    map[string]string `json:"context"`
	Plaintext  hexBytes          `json:"plaintext"`
	Blob       hexBytes          `json:"blob"`
	Result     string            `json:"result"`
}

func TestFrozenVectors(t *testing.T) {
	if *generateFrozen {
		writeFrozen(t)
	}
	var file frozenFile
	if err := decodeStrict(frozenPath, &file); err != nil {
		t.Fatal(err)
	}
	results := map[string]int{}
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			results[v.Result]++
			k, err := keystore.NewSymmetricKey(v.Key)
			if err != nil {
				t.Fatal(err)
			}
			c, parseErr := keystore.ParseCiphertext(v.Blob)
			var pt []byte
			var openErr error
			if parseErr == nil {
				pt, openErr = k.Open(c, v.Context)
			} else if c != nil {
				t.Fatal("ParseCiphertext returned an error and a result")
			}
			switch v.Result {
			case "success":
				if parseErr != nil || openErr != nil {
					t.Fatalf("parse: %v; open: %v", parseErr, openErr)
				}
				if !bytes.Equal(pt, v.Plaintext) {
					t.Fatalf("plaintext = %x, want %x", pt, v.Plaintext)
				}
				if c.KeyID != v.KeyID || c.MaterialID != v.MaterialID {
					t.Fatalf("parsed key %q material %q, want %q %q", c.KeyID, c.MaterialID, v.KeyID, v.MaterialID)
				}
				if !bytes.Equal(c.Bytes(), v.Blob) || !bytes.Equal(c.Nonce, v.Nonce) {
					t.Fatal("Bytes or Nonce differ from the blob")
				}
				// Seal must still write exactly this blob.
				blob, err := k.Seal(bytes.NewReader(v.Nonce), v.KeyID, v.MaterialID, v.Plaintext, v.Context)
				if err != nil || !bytes.Equal(blob, v.Blob) {
					t.Fatalf("Seal = %x, %v; want %x", blob, err, v.Blob)
				}
			case "invalid-ciphertext":
				err := parseErr
				if err == nil {
					err = openErr
				}
				if err == nil {
					t.Fatalf("decrypted a tampered blob: %x", pt)
				}
				if !errors.Is(err, keystore.ErrInvalidCiphertext) {
					t.Fatalf("error %v does not wrap ErrInvalidCiphertext", err)
				}
				if pt != nil {
					t.Fatal("failed Open returned plaintext")
				}
			default:
				t.Fatalf("unknown result %q", v.Result)
			}
		})
	}
	if results["success"] < 5 || results["invalid-ciphertext"] < 20 {
		t.Errorf("too few vectors: %v", results)
	}
}

// writeFrozen creates frozenPath from fixed keys and nonces. It refuses to
// overwrite the file: frozen vectors are never regenerated.
func writeFrozen(t *testing.T) {
	if _, err := os.Stat(frozenPath); err == nil {
		t.Fatalf("%s exists; frozen vectors are never regenerated", frozenPath)
	}
	key := seq(32, 0x00)
	const (
		uuid = "1234abcd-12ab-34cd-56ef-1234567890ab"
		mrk  = "mrk-1234abcd12ab34cd56ef1234567890ab"
		mat  = "4b8d3f1e9a2c7b6d5e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"
		mat2 = "0000000000000000000000000000000000000000000000000000000000000001"
	)
	seal := func(name string, key []byte, keyID, materialID string, nonce []byte, ctx map[string]string, pt []byte) frozenVector {
		k, err := keystore.NewSymmetricKey(key)
		if err != nil {
			t.Fatal(err)
		}
		blob, err := k.Seal(bytes.NewReader(nonce), keyID, materialID, pt, ctx)
		if err != nil {
			t.Fatal(err)
		}
		return frozenVector{Name: name, Key: key, KeyID: keyID, MaterialID: materialID, Nonce: nonce,
			Context: ctx, Plaintext: pt, Blob: blob, Result: "success"}
	}
	ctx := map[string]string{"Department": "10", "purpose": "test", "aws:s3:arn": "arn:aws:s3:::bucket/key"}
	base := seal("success/uuid-context", key, uuid, mat, seq(12, 0xa0), ctx,
		[]byte("thirty-two bytes of plaintext!!!"))
	noCtx := seal("success/uuid-no-context", key, uuid, mat, seq(12, 0xb0), nil, seq(32, 0x40))
	vs := []frozenVector{
		base,
		noCtx,
		seal("success/mrk-unicode-context", seq(32, 0x80), mrk, mat2, seq(12, 0xc0),
			map[string]string{"naïve": "café ☕", "": "empty key", "empty value": ""}, []byte("mrk")),
		seal("success/empty-plaintext", key, uuid, mat, seq(12, 0xd0), nil, nil),
		seal("success/one-kib", key, "00000000-0000-0000-0000-000000000000", mat2, seq(12, 0xe0),
			map[string]string{"a": "bc"}, seq(1024, 0x11)),
		seal("success/uuid-all-ff", key, "ffffffff-ffff-ffff-ffff-ffffffffffff", mat, seq(12, 0xf0),
			map[string]string{"k": "v"}, []byte{0}),
	}
	tamper := func(name string, from frozenVector, f func(v *frozenVector)) {
		v := from
		v.Name = "invalid/" + name
		v.Blob = bytes.Clone(from.Blob)
		v.Context = map[string]string{}
		for k, x := range from.Context {
			v.Context[k] = x
		}
		if from.Context == nil {
			v.Context = nil
		}
		v.Result = "invalid-ciphertext"
		f(&v)
		vs = append(vs, v)
	}
	flip := func(off int) func(v *frozenVector) { return func(v *frozenVector) { v.Blob[off] ^= 0x01 } }
	set := func(off int, b byte) func(v *frozenVector) { return func(v *frozenVector) { v.Blob[off] = b } }
	n := len(base.Blob)
	tamper("version-0x00", base, set(0, 0x00))
	tamper("version-0x02", base, set(0, 0x02))
	tamper("version-0xff", base, set(0, 0xff))
	tamper("key-id-form-uuid-as-mrk", base, set(1, 0x02))
	tamper("key-id-form-mrk-as-uuid", vs[2], set(1, 0x01))
	tamper("key-id-form-0x00", base, set(1, 0x00))
	tamper("key-id-form-0x03", base, set(1, 0x03))
	tamper("key-id-first-byte", base, flip(2))
	tamper("key-id-last-byte", base, flip(17))
	tamper("material-id-first-byte", base, flip(18))
	tamper("material-id-last-byte", base, flip(49))
	tamper("length-plus-one", base, flip(51))
	tamper("length-minus-one", base, func(v *frozenVector) { v.Blob[51]-- })
	tamper("length-high-byte", base, flip(50))
	tamper("nonce-first-byte", base, flip(52))
	tamper("nonce-last-byte", base, flip(63))
	tamper("ciphertext-first-byte", base, flip(64))
	tamper("ciphertext-last-byte", base, flip(n-17))
	tamper("tag-first-byte", base, flip(n-16))
	tamper("tag-last-byte", base, flip(n-1))
	tamper("truncated-one-byte", base, func(v *frozenVector) { v.Blob = v.Blob[:n-1] })
	tamper("truncated-tag", base, func(v *frozenVector) { v.Blob = v.Blob[:n-16] })
	tamper("truncated-to-header", base, func(v *frozenVector) { v.Blob = v.Blob[:52] })
	tamper("extended-one-byte", base, func(v *frozenVector) { v.Blob = append(v.Blob, 0) })
	tamper("extended-with-length", base, func(v *frozenVector) { v.Blob = append(v.Blob, 0); v.Blob[51]++ })
	tamper("empty-blob", base, func(v *frozenVector) { v.Blob = []byte{} })
	tamper("context-value-changed", base, func(v *frozenVector) { v.Context["Department"] = "11" })
	tamper("context-value-case", base, func(v *frozenVector) { v.Context["purpose"] = "Test" })
	tamper("context-key-case", base, func(v *frozenVector) {
		delete(v.Context, "purpose")
		v.Context["Purpose"] = "test"
	})
	tamper("context-pair-added", base, func(v *frozenVector) { v.Context["extra"] = "" })
	tamper("context-pair-removed", base, func(v *frozenVector) { delete(v.Context, "Department") })
	tamper("context-omitted", base, func(v *frozenVector) { v.Context = nil })
	tamper("context-added", noCtx, func(v *frozenVector) { v.Context = map[string]string{"purpose": "test"} })
	tamper("context-empty-pair-added", noCtx, func(v *frozenVector) { v.Context = map[string]string{"": ""} })
	tamper("context-boundary-moved", vs[4], func(v *frozenVector) { v.Context = map[string]string{"ab": "c"} })
	tamper("wrong-key", base, func(v *frozenVector) { v.Key = seq(32, 0x01) })

	out, err := json.MarshalIndent(frozenFile{
		Description: "Frozen Trent ciphertext blobs, format version 1 (docs/ciphertext.md). " +
			"Never regenerate or edit: every vector must keep its result. " +
			"Tampered vectors name the key, ids and nonce of the blob they were derived from.",
		Vectors: vs,
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(frozenPath, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d vectors to %s", len(vs), frozenPath)
}

// seq returns n bytes counting up from start.
func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func TestFrozenVectorsCoverEveryField(t *testing.T) {
	var file frozenFile
	if err := decodeStrict(frozenPath, &file); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, v := range file.Vectors {
		names[v.Name] = true
	}
	for _, want := range []string{"version", "key-id-form", "key-id-first", "material-id", "length",
		"nonce", "ciphertext", "tag", "truncated", "extended", "context-value", "context-key-case",
		"context-pair-added", "context-pair-removed", "context-added", "wrong-key"} {
		found := false
		for n := range names {
			if strings.HasPrefix(n, "invalid/"+want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no tampered vector for %q", want)
		}
	}
}
