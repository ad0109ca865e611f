package keystore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
)

// Root seals and opens key material at rest. Implementations: [FileRoot],
// whose key comes from a plain or a protected root key file (see
// [ReadRootFile]) or from memory; an HSM-backed root later.
type Root interface {
	// Seal encrypts plaintext and binds it to aad, which Open must be given
	// again. The result is safe to store.
	Seal(plaintext, aad []byte) ([]byte, error)
	// Open reverses Seal. Any failure (wrong aad, wrong root, a changed or
	// truncated value) returns an error wrapping ErrSealed.
	Open(sealed, aad []byte) ([]byte, error)
}

// ErrSealed is wrapped by every error from [Root.Open]. Check with
// errors.Is.
var ErrSealed = errors.New("keystore: cannot open sealed data")

// BoundAAD returns authenticated data that binds a sealed value to the
// fields it belongs to: label, then each field preceded by its length as a
// 4-byte big-endian integer. The length prefixes make the encoding
// unambiguous ("a","bc" and "ab","c" differ), so a sealed value moved to a
// record whose fields differ in any way does not open.
//
// Every value Trent seals with a [Root] uses BoundAAD, directly or through
// a wrapper such as [MaterialAAD]: key material, access key secrets, and
// anything sealed later (session tokens, grant tokens). A new use picks a
// label of the form "trent/<kind>/v<n>" that no other label starts with,
// and passes every field that identifies the owner of the value (account
// id, principal ARN, resource id), so a database row moved to another owner
// fails to open. Changing the fields of a use means a new label version and
// a re-seal of the stored values; see docs/behaviour.md.
//
// BoundAAD panics if a field is 4 GiB or longer.
func BoundAAD(label string, fields ...string) []byte {
	n := len(label)
	for _, f := range fields {
		if uint64(len(f)) > math.MaxUint32 {
			panic("keystore: BoundAAD field too long")
		}
		n += 4 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, label...)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// MaterialAAD returns the authenticated data that binds sealed key material
// to the ARN of its key and its material id, so a sealed value moved to
// another key or material does not open. It is [BoundAAD] with the label
// "trent/key-material/v1".
func MaterialAAD(keyARN, materialID string) []byte {
	return BoundAAD("trent/key-material/v1", keyARN, materialID)
}

// The root key file, version 1 (49 bytes):
//
//	off  len  field
//	  0    8  magic "TRENTRK\n"
//	  8    1  version, 0x01
//	  9   32  root key
//	 41    8  check: the first 8 bytes of SHA-256 of bytes 0..40
//
// The check catches a damaged or truncated file at startup instead of at the
// first decrypt.
const (
	rootFileMagic   = "TRENTRK\n"
	rootFileVersion = 0x01
	rootKeySize     = 32
	rootFileLen     = len(rootFileMagic) + 1 + rootKeySize + 8

	// rootSealVersion is the first byte of every value FileRoot seals.
	rootSealVersion = 0x01
	rootSealInfo    = "trent/root/seal/v1"
	rootCheckInfo   = "trent/root/check/v1"
	rootCheckSize   = 16
)

// FileRoot is a [Root] whose key lives in a file. Values it seals are
// rootSealVersion || 12-byte random nonce || AES-256-GCM ciphertext || tag,
// under a key derived from the root key with HKDF-SHA256, with the version
// byte and the caller's aad as additional data. It is safe for concurrent
// use and prints as "[redacted]".
type FileRoot struct {
	aead  cipher.AEAD
	check []byte // see CheckValue
}

var _ Root = (*FileRoot)(nil)

// OpenFileRoot loads the root key from path. If the file does not exist it
// creates it: 32 bytes from crypto/rand, written to a temporary file with
// mode 0600 in the same directory (created with mode 0700 if missing; both
// modes whatever the umask),
// synced, linked into place without overwriting a file another process
// created meanwhile, and the directory synced.
//
// OpenFileRoot refuses, with an error naming the file and the problem, a
// file that is not a regular file, that group or others may access (on
// Unix-like systems), or whose contents are not a valid root key file.
func OpenFileRoot(path string) (*FileRoot, error) {
	r, err := loadFileRoot(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createFileRoot(path)
	}
	return r, err
}

// LoadFileRoot is [OpenFileRoot] without the creation: if path does not
// exist it returns an error wrapping [fs.ErrNotExist] (check with
// errors.Is), so the caller can refuse to make a new root key for a store
// that already holds data sealed under an old one.
func LoadFileRoot(path string) (*FileRoot, error) { return loadFileRoot(path) }

func loadFileRoot(path string) (*FileRoot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: root key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keystore: root key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keystore: root key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("keystore: root key file %s has mode %#o; it must not be accessible by group or others (chmod 600 %s)", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(rootFileLen)+1))
	if err != nil {
		return nil, fmt.Errorf("keystore: root key file %s: %w", path, err)
	}
	defer clear(b)
	if len(b) > len(rootFileMagic) && string(b[:len(rootFileMagic)]) == rootFileMagic && b[len(rootFileMagic)] == protFileVersion {
		return nil, fmt.Errorf("%w: %s (unseal it, see docs/operations.md)", ErrProtected, path)
	}
	key, err := parseRootFile(b)
	if err != nil {
		return nil, fmt.Errorf("keystore: root key file %s: %w", path, err)
	}
	return newFileRoot(key)
}

// parseRootFile returns the key inside a root key file, aliasing b.
func parseRootFile(b []byte) ([]byte, error) {
	if len(b) < len(rootFileMagic) || string(b[:len(rootFileMagic)]) != rootFileMagic {
		return nil, errors.New("not a Trent root key file")
	}
	if len(b) < len(rootFileMagic)+1 || b[len(rootFileMagic)] != rootFileVersion {
		return nil, errors.New("unsupported root key file version")
	}
	if len(b) != rootFileLen {
		return nil, fmt.Errorf("malformed: %d bytes, want %d", len(b), rootFileLen)
	}
	sum := sha256.Sum256(b[:rootFileLen-8])
	if !bytes.Equal(sum[:8], b[rootFileLen-8:]) {
		return nil, errors.New("malformed: check value does not match (damaged file?)")
	}
	return b[len(rootFileMagic)+1 : rootFileLen-8], nil
}

// appendRootFile encodes key as a root key file.
func appendRootFile(dst, key []byte) []byte {
	dst = append(dst, rootFileMagic...)
	dst = append(dst, rootFileVersion)
	dst = append(dst, key...)
	sum := sha256.Sum256(dst[len(dst)-(rootFileLen-8):])
	return append(dst, sum[:8]...)
}

func createFileRoot(path string) (*FileRoot, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("keystore: create root key: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil && runtime.GOOS != "windows" { // whatever the umask
			return nil, fmt.Errorf("keystore: create root key: %w", err)
		}
	}
	key := make([]byte, rootKeySize)
	defer clear(key)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, fmt.Errorf("keystore: create root key: %w", err)
	}
	file := appendRootFile(make([]byte, 0, rootFileLen), key)
	defer clear(file)

	tmp, err := os.CreateTemp(dir, ".trent-root-key-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("keystore: create root key: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return nil, fmt.Errorf("keystore: create root key: %w", err)
	}
	if _, err := tmp.Write(file); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("keystore: create root key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("keystore: create root key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("keystore: create root key: %w", err)
	}
	// Link does not replace an existing file, so two processes starting at
	// once agree on one key. Where hard links are not supported, fall back
	// to Rename.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadFileRoot(path)
		}
		if err := os.Rename(tmpName, path); err != nil {
			return nil, fmt.Errorf("keystore: create root key: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("keystore: create root key: %w", err)
	}
	return newFileRoot(key)
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// newFileRoot derives the sealing key and the check value from key; it
// keeps no reference to key.
func newFileRoot(key []byte) (*FileRoot, error) {
	sk, err := hkdf.Key(sha256.New, key, nil, rootSealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("keystore: root key: %w", err)
	}
	defer clear(sk)
	check, err := hkdf.Key(sha256.New, key, nil, rootCheckInfo, rootCheckSize)
	if err != nil {
		return nil, fmt.Errorf("keystore: root key: %w", err)
	}
	b, err := aes.NewCipher(sk)
	if err != nil {
		return nil, fmt.Errorf("keystore: root key: %w", err)
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("keystore: root key: %w", err)
	}
	return &FileRoot{aead: aead, check: check}, nil
}

// CheckValue returns the root key's key check value: 16 bytes of
// HKDF-SHA256 of the root key under the label "trent/root/check/v1", a
// label no other derivation uses. It identifies the root key without
// revealing it: HKDF is one-way, and the only way to find a key with a
// given check value is to try 256-bit candidates one by one, which is no
// easier than with the sealed values the store holds anyway. The server
// records it in the store so a node refuses to start with the wrong root
// key. It returns a copy.
func (r *FileRoot) CheckValue() []byte { return bytes.Clone(r.check) }

// Seal encrypts plaintext under the root key, bound to aad, with a random
// nonce from crypto/rand.
func (r *FileRoot) Seal(plaintext, aad []byte) ([]byte, error) {
	ns := r.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+r.aead.Overhead())
	out[0] = rootSealVersion
	if _, err := io.ReadFull(rand.Reader, out[1:]); err != nil {
		return nil, fmt.Errorf("keystore: root seal: %w", err)
	}
	return r.aead.Seal(out, out[1:1+ns], plaintext, rootAAD(aad)), nil
}

// Open decrypts a value made by Seal with the same aad. Every failure wraps
// [ErrSealed].
func (r *FileRoot) Open(sealed, aad []byte) ([]byte, error) {
	ns := r.aead.NonceSize()
	if len(sealed) < 1+ns+r.aead.Overhead() {
		return nil, fmt.Errorf("%w: truncated", ErrSealed)
	}
	if sealed[0] != rootSealVersion {
		return nil, fmt.Errorf("%w: unknown version", ErrSealed)
	}
	pt, err := r.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], rootAAD(aad))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (wrong root key or aad, or damaged value)", ErrSealed)
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

func rootAAD(aad []byte) []byte {
	b := make([]byte, 0, 1+len(aad))
	b = append(b, rootSealVersion)
	return append(b, aad...)
}

// String returns "[redacted]".
func (r *FileRoot) String() string { return redacted }

// GoString returns "[redacted]".
func (r *FileRoot) GoString() string { return redacted }

// LogValue returns "[redacted]".
func (r *FileRoot) LogValue() slog.Value { return slog.StringValue(redacted) }

// Format prints "[redacted]" for every verb.
func (r *FileRoot) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }
