package keystore_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/trent-kms/trent/internal/keystore"
)

func TestFileRootCreateAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "root.key")
	r1, err := keystore.OpenFileRoot(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("root key file has mode %#o, want 0600", fi.Mode().Perm())
		}
		di, _ := os.Stat(filepath.Dir(path))
		if di.Mode().Perm() != 0o700 {
			t.Errorf("created directory has mode %#o, want 0700", di.Mode().Perm())
		}
	}
	if fi.Size() != 49 {
		t.Errorf("root key file is %d bytes, want 49", fi.Size())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file", len(entries))
	}
	before, _ := os.ReadFile(path)

	aad := keystore.MaterialAAD("arn:aws:kms:us-east-1:111122223333:key/"+testUUID, testMat)
	secret := []byte("key material that must stay secret")
	sealed, err := r1.Seal(secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := keystore.OpenFileRoot(path)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("reopening rewrote the root key file")
	}
	got, err := r2.Open(sealed, aad)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("reopened root: Open = %q, %v", got, err)
	}

	// A different root key cannot open it.
	r3, err := keystore.OpenFileRoot(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r3.Open(sealed, aad); !errors.Is(err, keystore.ErrSealed) {
		t.Fatalf("another root opened it: %v", err)
	}
}

func TestFileRootSealOpen(t *testing.T) {
	r, err := keystore.OpenFileRoot(filepath.Join(t.TempDir(), "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:kms:us-east-1:111122223333:key/" + testUUID
	aad := keystore.MaterialAAD(arn, testMat)
	secret := bytes.Repeat([]byte("SECRETKEYBYTES"), 3)
	sealed, err := r.Seal(secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret[:8]) {
		t.Fatal("sealed output contains the plaintext")
	}
	again, _ := r.Seal(secret, aad)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of the same plaintext are equal (nonce reuse)")
	}
	if got, err := r.Open(sealed, aad); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if got, err := r.Open(mustSeal(t, r, nil, nil), nil); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty plaintext: Open = %q, %v", got, err)
	}

	for name, tc := range map[string]struct {
		sealed, aad []byte
	}{
		"wrong-aad/key-arn":     {sealed, keystore.MaterialAAD(strings.Replace(arn, "us-east-1", "us-west-2", 1), testMat)},
		"wrong-aad/material-id": {sealed, keystore.MaterialAAD(arn, strings.Replace(testMat, "4b", "4c", 1))},
		"wrong-aad/nil":         {sealed, nil},
		"wrong-aad/raw-string":  {sealed, []byte(arn + testMat)},
		"truncated":             {sealed[:len(sealed)-1], aad},
		"too-short":             {sealed[:20], aad},
		"empty":                 {nil, aad},
		"extended":              {append(bytes.Clone(sealed), 0), aad},
		"version-changed":       {append([]byte{0x02}, sealed[1:]...), aad},
		"nonce-changed":         {flipByte(sealed, 1), aad},
		"ciphertext-changed":    {flipByte(sealed, 13), aad},
		"tag-changed":           {flipByte(sealed, len(sealed)-1), aad},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := r.Open(tc.sealed, tc.aad)
			if !errors.Is(err, keystore.ErrSealed) || got != nil {
				t.Fatalf("Open = %q, %v", got, err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Fatal("error contains plaintext")
			}
		})
	}
}

func TestMaterialAADIsUnambiguous(t *testing.T) {
	a := keystore.MaterialAAD("arn:a", "bc")
	b := keystore.MaterialAAD("arn:ab", "c")
	if bytes.Equal(a, b) {
		t.Fatal("MaterialAAD moves the boundary between its fields")
	}
	if !bytes.Equal(a, keystore.MaterialAAD("arn:a", "bc")) {
		t.Fatal("MaterialAAD is not deterministic")
	}
}

// TestMaterialAADBytes freezes the encoding: material sealed by earlier
// versions must keep opening.
func TestMaterialAADBytes(t *testing.T) {
	got := keystore.MaterialAAD("arn:a", "bc")
	want := []byte("trent/key-material/v1\x00\x00\x00\x05arn:a\x00\x00\x00\x02bc")
	if !bytes.Equal(got, want) {
		t.Fatalf("MaterialAAD = %q, want %q", got, want)
	}
}

func TestBoundAAD(t *testing.T) {
	if got, want := keystore.BoundAAD("trent/x/v1"), []byte("trent/x/v1"); !bytes.Equal(got, want) {
		t.Errorf("no fields: %q, want %q", got, want)
	}
	got := keystore.BoundAAD("trent/x/v1", "", "ab", "c")
	if want := []byte("trent/x/v1\x00\x00\x00\x00\x00\x00\x00\x02ab\x00\x00\x00\x01c"); !bytes.Equal(got, want) {
		t.Errorf("BoundAAD = %q, want %q", got, want)
	}
	// Every way of splitting, dropping or adding a field gives other bytes.
	distinct := [][]byte{
		keystore.BoundAAD("trent/x/v1", "ab", "c"),
		keystore.BoundAAD("trent/x/v1", "a", "bc"),
		keystore.BoundAAD("trent/x/v1", "abc"),
		keystore.BoundAAD("trent/x/v1", "abc", ""),
		keystore.BoundAAD("trent/x/v1", "", "abc"),
		keystore.BoundAAD("trent/x/v2", "ab", "c"),
		keystore.BoundAAD("trent/x/v1"),
	}
	for i := range distinct {
		for j := range i {
			if bytes.Equal(distinct[i], distinct[j]) {
				t.Errorf("BoundAAD cases %d and %d encode the same: %q", j, i, distinct[i])
			}
		}
	}
}

func TestFileRootRefusesAccessibleFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits do not apply on Windows")
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o610} {
		path := filepath.Join(t.TempDir(), "root.key")
		if _, err := keystore.OpenFileRoot(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := keystore.OpenFileRoot(path)
		if err == nil {
			t.Errorf("mode %#o accepted", mode)
			continue
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %#o: unclear error %q", mode, err)
		}
	}
	// 0400 is fine: owner read only.
	path := filepath.Join(t.TempDir(), "root.key")
	keystore.OpenFileRoot(path)
	os.Chmod(path, 0o400)
	if _, err := keystore.OpenFileRoot(path); err != nil {
		t.Errorf("mode 0400 refused: %v", err)
	}
}

func TestFileRootRefusesMalformedFile(t *testing.T) {
	good := func() []byte {
		path := filepath.Join(t.TempDir(), "root.key")
		if _, err := keystore.OpenFileRoot(path); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		return b
	}()
	rechecked := func(b []byte) []byte { // fix the check value so only the named field is wrong
		b = bytes.Clone(b)
		sum := sha256.Sum256(b[:41])
		copy(b[41:], sum[:8])
		return b
	}
	for name, b := range map[string][]byte{
		"empty":          {},
		"text":           []byte("this is not a key\n"),
		"wrong-magic":    rechecked(append([]byte("TRENTRK\r"), good[8:]...)),
		"wrong-version":  rechecked(append(append(bytes.Clone(good[:8]), 0x02), good[9:]...)),
		"truncated":      good[:48],
		"key-only":       good[9:41],
		"extended":       append(bytes.Clone(good), '\n'),
		"key-bit-flip":   flipByte(good, 20),
		"check-bit-flip": flipByte(good, 45),
		"twice":          append(bytes.Clone(good), good...),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "root.key")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := keystore.OpenFileRoot(path)
			if err == nil || r != nil {
				t.Fatalf("accepted a malformed file: %v", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, b) {
				t.Error("a malformed file was overwritten")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		path := t.TempDir()
		os.Chmod(path, 0o700)
		if _, err := keystore.OpenFileRoot(path); err == nil {
			t.Fatal("accepted a directory")
		}
	})
	t.Run("missing-parent-is-a-file", func(t *testing.T) {
		parent := filepath.Join(t.TempDir(), "file")
		os.WriteFile(parent, nil, 0o600)
		if _, err := keystore.OpenFileRoot(filepath.Join(parent, "root.key")); err == nil {
			t.Fatal("created a key under a regular file")
		}
	})
}

// TestFileRootConcurrentCreate starts many openers on a missing file; they
// must all end up with the same key.
func TestFileRootConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	roots := make([]*keystore.FileRoot, 16)
	var wg sync.WaitGroup
	for i := range roots {
		wg.Go(func() {
			r, err := keystore.OpenFileRoot(path)
			if err != nil {
				t.Error(err)
			}
			roots[i] = r
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sealed := mustSeal(t, roots[0], []byte("x"), []byte("aad"))
	for i, r := range roots {
		if _, err := r.Open(sealed, []byte("aad")); err != nil {
			t.Fatalf("opener %d got a different key: %v", i, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file", len(entries))
	}
}

func mustSeal(t *testing.T, r keystore.Root, pt, aad []byte) []byte {
	t.Helper()
	s, err := r.Seal(pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func flipByte(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}

// rootFileWith encodes key as a version 1 root key file (see root.go).
func rootFileWith(key []byte) []byte {
	b := append([]byte("TRENTRK\n\x01"), key...)
	sum := sha256.Sum256(b)
	return append(b, sum[:8]...)
}

func TestCheckValue(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{0x5a}, 32)
	path := filepath.Join(dir, "root.key")
	if err := os.WriteFile(path, rootFileWith(key), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := keystore.LoadFileRoot(path)
	if err != nil {
		t.Fatal(err)
	}
	// Known answer: HKDF-SHA256 (no salt) of the key under the fixed label.
	want, err := hkdf.Key(sha256.New, key, nil, "trent/root/check/v1", 16)
	if err != nil {
		t.Fatal(err)
	}
	got := r.CheckValue()
	if !bytes.Equal(got, want) {
		t.Fatalf("CheckValue = %x, want %x", got, want)
	}
	if bytes.Contains(got, key[:8]) {
		t.Fatal("check value contains key bytes")
	}
	got[0] ^= 1
	if !bytes.Equal(r.CheckValue(), want) {
		t.Fatal("CheckValue returned its internal slice")
	}
	// Another key has another check value; the same key the same one.
	other := filepath.Join(dir, "other.key")
	os.WriteFile(other, rootFileWith(bytes.Repeat([]byte{0x5b}, 32)), 0o600)
	r2, err := keystore.LoadFileRoot(other)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(r2.CheckValue(), want) {
		t.Fatal("two keys share a check value")
	}
	r3, err := keystore.OpenFileRoot(path)
	if err != nil || !bytes.Equal(r3.CheckValue(), want) {
		t.Fatalf("reopened key: %x, %v", r3.CheckValue(), err)
	}
}

func TestLoadFileRootDoesNotCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	if _, err := keystore.LoadFileRoot(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadFileRoot of a missing file = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadFileRoot created %s", path)
	}
}
