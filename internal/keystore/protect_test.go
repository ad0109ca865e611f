package keystore_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/keystore"
)

// cheapArgon2 keeps the tests fast; the parameters are in the file header,
// so Unlock uses whatever the file says. One test uses DefaultArgon2.
var cheapArgon2 = keystore.Argon2Params{MemoryKiB: 19 << 10, Iterations: 1, Parallelism: 1}

// plainKey makes a version 1 root key file and returns its key and check value.
func plainKey(t *testing.T) (path string, key *keystore.RootKey, check []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "root.key")
	root, err := keystore.OpenFileRoot(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := keystore.ReadRootFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key, err = f.Key()
	if err != nil {
		t.Fatal(err)
	}
	return path, key, root.CheckValue()
}

func checkValue(t *testing.T, k *keystore.RootKey) []byte {
	t.Helper()
	r, err := k.Root()
	if err != nil {
		t.Fatal(err)
	}
	return r.CheckValue()
}

func TestPassphraseProtection(t *testing.T) {
	path, key, check := plainKey(t)
	pass := []byte("correct horse battery staple")
	if err := keystore.WritePassphraseFile(path, key, pass, cheapArgon2); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, pass) {
		t.Fatal("the file contains the passphrase")
	}
	t.Run("load-refuses-protected", func(t *testing.T) {
		if _, err := keystore.LoadFileRoot(path); !errors.Is(err, keystore.ErrProtected) {
			t.Fatalf("LoadFileRoot: %v, want ErrProtected", err)
		}
		if _, err := keystore.OpenFileRoot(path); !errors.Is(err, keystore.ErrProtected) {
			t.Fatalf("OpenFileRoot: %v, want ErrProtected", err)
		}
	})
	f, err := keystore.ReadRootFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p := f.Protection(); p.Mode != keystore.ModePassphrase || *p.Argon2 != cheapArgon2 {
		t.Fatalf("Protection = %+v", p)
	}
	t.Run("wrong-passphrase-refused", func(t *testing.T) {
		for _, wrong := range []string{"", "correct horse battery stapl", "correct horse battery staple "} {
			if k, err := f.Unlock([]byte(wrong)); !errors.Is(err, keystore.ErrWrongSecret) || k != nil {
				t.Fatalf("Unlock(%q) = %v, %v; want ErrWrongSecret", wrong, k, err)
			}
		}
	})
	t.Run("right-passphrase-opens-same-key", func(t *testing.T) {
		k, err := f.Unlock(pass)
		if err != nil {
			t.Fatal(err)
		}
		if !k.Equal(key) || !bytes.Equal(checkValue(t, k), check) {
			t.Fatal("unlocked a different key")
		}
	})
	t.Run("file-mode-0600", func(t *testing.T) {
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %#o", fi.Mode().Perm())
		}
	})
	t.Run("short-passphrase-refused", func(t *testing.T) {
		if err := keystore.WritePassphraseFile(path, key, []byte("short"), cheapArgon2); err == nil {
			t.Fatal("short passphrase accepted")
		}
	})
	t.Run("weak-params-refused", func(t *testing.T) {
		if err := keystore.WritePassphraseFile(path, key, pass, keystore.Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}); err == nil {
			t.Fatal("weak parameters accepted")
		}
	})
}

func TestPassphraseDefaultParams(t *testing.T) {
	path, key, _ := plainKey(t)
	pass := []byte("a long enough passphrase")
	if err := keystore.WritePassphraseFile(path, key, pass, keystore.DefaultArgon2); err != nil {
		t.Fatal(err)
	}
	f, err := keystore.ReadRootFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := *f.Protection().Argon2; got != (keystore.Argon2Params{MemoryKiB: 65536, Iterations: 3, Parallelism: 4}) {
		t.Fatalf("header params %+v", got)
	}
	k, err := f.Unlock(pass)
	if err != nil || !k.Equal(key) {
		t.Fatalf("Unlock: %v", err)
	}
}

// TestProtectedHeaderIsAuthenticated flips each byte of a protected file:
// every change is refused, at parse or at unlock, never a different key.
func TestProtectedHeaderIsAuthenticated(t *testing.T) {
	path, key, _ := plainKey(t)
	pass := []byte("correct horse battery staple")
	if err := keystore.WritePassphraseFile(path, key, pass, cheapArgon2); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	for i := 0; i < len(good); i += 7 {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		os.WriteFile(path, b, 0o600)
		f, err := keystore.ReadRootFile(path)
		if err != nil {
			continue
		}
		if _, err := f.Unlock(pass); err == nil {
			t.Fatalf("byte %d changed, unlock still succeeded", i)
		}
	}
	for _, n := range []int{len(good) - 1, len(good) + 1} {
		b := make([]byte, n)
		copy(b, good)
		os.WriteFile(path, b, 0o600)
		if _, err := keystore.ReadRootFile(path); err == nil {
			t.Fatalf("length %d accepted", n)
		}
	}
}

func TestShamirProtection(t *testing.T) {
	path, key, check := plainKey(t)
	shares, err := keystore.WriteShamirFile(path, key, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(shares) != 5 {
		t.Fatalf("%d shares", len(shares))
	}
	f, err := keystore.ReadRootFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p := f.Protection(); p.Mode != keystore.ModeShamir || p.Threshold != 3 || p.Shares != 5 {
		t.Fatalf("Protection = %+v", p)
	}
	// Shares go through their text form, as operators hand them over.
	var parsed []*keystore.Share
	for i, s := range shares {
		p, err := keystore.ParseShare(" " + s.Encode() + "\n")
		if err != nil {
			t.Fatal(err)
		}
		if p.Number() != i+1 {
			t.Fatalf("share %d numbered %d", i+1, p.Number())
		}
		if err := f.VerifyShare(p); err != nil {
			t.Fatalf("share %d: %v", i+1, err)
		}
		parsed = append(parsed, p)
	}
	t.Run("k-1-refused", func(t *testing.T) {
		for _, sub := range [][]int{{0, 1}, {3, 4}, {2}, {}, {1, 1, 1}, {0, 4, 0}} {
			var in []*keystore.Share
			for _, i := range sub {
				in = append(in, parsed[i])
			}
			if k, err := f.Combine(in); !errors.Is(err, keystore.ErrWrongSecret) || k != nil {
				t.Fatalf("shares %v: %v, want ErrWrongSecret", sub, err)
			}
		}
	})
	t.Run("any-k-accepted", func(t *testing.T) {
		for a := 0; a < 5; a++ {
			for b := a + 1; b < 5; b++ {
				for c := b + 1; c < 5; c++ {
					k, err := f.Combine([]*keystore.Share{parsed[c], parsed[a], parsed[b]})
					if err != nil {
						t.Fatalf("shares %d,%d,%d: %v", a+1, b+1, c+1, err)
					}
					if !k.Equal(key) || !bytes.Equal(checkValue(t, k), check) {
						t.Fatalf("shares %d,%d,%d: a different key", a+1, b+1, c+1)
					}
				}
			}
		}
		if k, err := f.Combine(parsed); err != nil || !k.Equal(key) {
			t.Fatalf("all five: %v", err)
		}
	})
	t.Run("altered-share-refused", func(t *testing.T) {
		enc := parsed[0].Encode()
		last := enc[len(enc)-5]
		alt := enc[:len(enc)-5] + string(map[bool]byte{true: 'A', false: 'B'}[last != 'A']) + enc[len(enc)-4:]
		s, err := keystore.ParseShare(alt)
		if err != nil {
			return // not even a share any more
		}
		if err := f.VerifyShare(s); !errors.Is(err, keystore.ErrWrongSecret) {
			t.Fatalf("VerifyShare(altered) = %v", err)
		}
		if _, err := f.Combine([]*keystore.Share{s, parsed[1], parsed[2]}); !errors.Is(err, keystore.ErrWrongSecret) {
			t.Fatalf("Combine(altered) = %v", err)
		}
	})
	t.Run("share-of-another-split-refused", func(t *testing.T) {
		other, err := keystore.WriteShamirFile(filepath.Join(t.TempDir(), "other.key"), key, 3, 5)
		if err != nil {
			t.Fatal(err)
		}
		err = f.VerifyShare(other[0])
		if !errors.Is(err, keystore.ErrWrongSecret) || !strings.Contains(err.Error(), "split") {
			t.Fatalf("VerifyShare(other split) = %v", err)
		}
	})
	t.Run("passphrase-unlock-refused", func(t *testing.T) {
		if _, err := f.Unlock([]byte("correct horse battery staple")); err == nil {
			t.Fatal("a shamir file unlocked with a passphrase")
		}
	})
	t.Run("redacted", func(t *testing.T) {
		enc := parsed[0].Encode()
		for _, out := range []string{fmt.Sprint(parsed[0]), fmt.Sprintf("%+v %#v %x", parsed[0], parsed[0], parsed[0]), fmt.Sprintf("%v %x", key, key)} {
			if strings.Contains(out, enc[len(enc)-20:]) || !strings.Contains(out, "[redacted]") {
				t.Fatalf("printed %q", out)
			}
		}
	})
	t.Run("bad-parameters-refused", func(t *testing.T) {
		for _, kn := range [][2]int{{1, 3}, {4, 3}, {2, 256}} {
			if _, err := keystore.WriteShamirFile(filepath.Join(t.TempDir(), "x"), key, kn[0], kn[1]); err == nil {
				t.Fatalf("threshold %d of %d accepted", kn[0], kn[1])
			}
		}
	})
}

// TestRekeyKeepsTheRootKey moves one root key through every protection:
// the key, and so its check value, never changes.
func TestRekeyKeepsTheRootKey(t *testing.T) {
	path, key, check := plainKey(t)
	pass := []byte("first passphrase, long")
	if err := keystore.WritePassphraseFile(path, key, pass, cheapArgon2); err != nil {
		t.Fatal(err)
	}
	f, _ := keystore.ReadRootFile(path)
	k, err := f.Unlock(pass)
	if err != nil {
		t.Fatal(err)
	}
	shares, err := keystore.WriteShamirFile(path, k, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	f, _ = keystore.ReadRootFile(path)
	if _, err := f.Unlock(pass); err == nil {
		t.Fatal("the old passphrase still opens the file")
	}
	k, err = f.Combine(shares[1:])
	if err != nil {
		t.Fatal(err)
	}
	if err := keystore.WritePlainFile(path, k); err != nil {
		t.Fatal(err)
	}
	root, err := keystore.LoadFileRoot(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root.CheckValue(), check) {
		t.Fatal("the root key changed")
	}
}

func TestParseShareRejects(t *testing.T) {
	for _, s := range []string{"", "trent-share-v1-", "trent-share-v2-AAAA", "trent-share-v1-!!!!",
		"trent-share-v1-" + strings.Repeat("A", 54), "trent-share-v1-" + strings.Repeat("A", 56)} {
		if sh, err := keystore.ParseShare(s); err == nil || sh != nil {
			t.Fatalf("ParseShare(%q) accepted", s)
		}
	}
}

func FuzzReadRootFile(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "root.key")
	if _, err := keystore.OpenFileRoot(path); err != nil {
		f.Fatal(err)
	}
	rf, _ := keystore.ReadRootFile(path)
	k, _ := rf.Key()
	plain, _ := os.ReadFile(path)
	f.Add(plain)
	keystore.WritePassphraseFile(path, k, []byte("fuzz passphrase!"), cheapArgon2)
	b, _ := os.ReadFile(path)
	f.Add(b)
	keystore.WriteShamirFile(path, k, 2, 3)
	b, _ = os.ReadFile(path)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "root.key")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		rf, err := keystore.ReadRootFile(p)
		if err != nil {
			if rf != nil {
				t.Fatal("error with a result")
			}
			return
		}
		_ = rf.Protection()
	})
}
