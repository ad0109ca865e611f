package keystore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/secretsharing"
	"golang.org/x/crypto/argon2"
)

// A protected root key file, version 2, holds the same 32-byte root key as
// version 1, wrapped under a key-encryption key (KEK) that comes from a
// passphrase or from Shamir shares:
//
//	off   len  field
//	  0     8  magic "TRENTRK\n"
//	  8     1  version, 0x02
//	  9     4  header length H, big-endian
//	 13     H  header: JSON, see protHeader
//	13+H   12  nonce
//	25+H   48  AES-256-GCM(KEK, root key), tag included
//
// Bytes 0..13+H are the additional data of the AES-GCM wrap, so the header
// (protection mode, Argon2id parameters, Shamir commitments) cannot be
// changed without the unwrap failing. The format is described for users in
// docs/operations.md ("Protecting the root key").
const (
	protFileVersion = 0x02
	protMaxHeader   = 64 << 10
	protWrappedLen  = 12 + rootKeySize + 16
	shamirKEKInfo   = "trent/root/shamir-kek/v1"
	sharePrefix     = "trent-share-v1-"
	shareSetSize    = 8
	minPassphrase   = 12
)

// Protection modes of a root key file.
const (
	ModeFile       = "file"       // version 1: the key itself, protected by file permissions only
	ModePassphrase = "passphrase" // wrapped under an Argon2id key from a passphrase
	ModeShamir     = "shamir"     // wrapped under a key split into Shamir shares
)

// ErrProtected is wrapped by the error [LoadFileRoot] and [OpenFileRoot]
// return for a root key file protected by a passphrase or Shamir shares:
// the key must be unlocked ([RootFile.Unlock], [RootFile.Combine]) first.
// Check with errors.Is.
var ErrProtected = errors.New("keystore: the root key file is protected by a passphrase or shares")

// ErrWrongSecret is wrapped by the error [RootFile.Unlock] and
// [RootFile.Combine] return when the passphrase or the shares do not open
// the root key. Check with errors.Is.
var ErrWrongSecret = errors.New("keystore: the passphrase or shares do not open the root key")

// Argon2Params are the Argon2id parameters that derive a KEK from a
// passphrase. They are stored in the file header.
type Argon2Params struct {
	MemoryKiB   uint32 `json:"memory_kib"`
	Iterations  uint32 `json:"iterations"`
	Parallelism uint8  `json:"parallelism"`
}

// DefaultArgon2 is what new passphrase-protected files use: 64 MiB, 3
// passes, 4 lanes. It is the second recommended option of RFC 9106
// (section 4: "If much less memory is available, a uniformly safe option is
// Argon2id with t=3 iterations, p=4 lanes, m=2^(16) (64 MiB of RAM)"), and
// above the OWASP Password Storage Cheat Sheet's minimum
// (https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html:
// "Use Argon2id with a minimum configuration of 19 MiB of memory, an
// iteration count of 2, and 1 degree of parallelism."). The root key is
// unlocked once per start, so the cost is paid rarely.
var DefaultArgon2 = Argon2Params{MemoryKiB: 64 << 10, Iterations: 3, Parallelism: 4}

// check bounds parameters read from a file, so a crafted header cannot make
// an unlock take unbounded memory or time, nor a weak one be accepted.
func (p Argon2Params) check() error {
	switch {
	case p.MemoryKiB < 19<<10 || p.MemoryKiB > 4<<20:
		return fmt.Errorf("argon2id memory %d KiB is outside 19 MiB to 4 GiB", p.MemoryKiB)
	case p.Iterations < 1 || p.Iterations > 64:
		return fmt.Errorf("argon2id iterations %d is outside 1 to 64", p.Iterations)
	case p.Parallelism < 1:
		return errors.New("argon2id parallelism must be at least 1")
	case p.MemoryKiB < 8*uint32(p.Parallelism):
		return errors.New("argon2id memory must be at least 8 KiB per lane")
	}
	return nil
}

// protHeader is the JSON header of a protected root key file.
type protHeader struct {
	Protection string        `json:"protection"`
	Argon2id   *argon2Header `json:"argon2id,omitempty"`
	Shamir     *shamirHeader `json:"shamir,omitempty"`
}

type argon2Header struct {
	Argon2Params
	Version int    `json:"version"` // Argon2 version, 19 (0x13)
	Salt    []byte `json:"salt"`
}

type shamirHeader struct {
	Group     string `json:"group"` // "ristretto255"
	Threshold int    `json:"threshold"`
	Shares    int    `json:"shares"`
	Set       string `json:"set"` // hex, names this split; every share carries it
	// Commitments are Feldman commitments to the polynomial's coefficients
	// (threshold of them): each share is checked against them on its own.
	Commitments [][]byte `json:"commitments"`
}

// Protection describes how a root key file protects its key.
type Protection struct {
	Mode      string        // ModeFile, ModePassphrase or ModeShamir
	Argon2    *Argon2Params // for ModePassphrase
	Threshold int           // for ModeShamir: shares needed
	Shares    int           // for ModeShamir: shares made
	ShareSet  string        // for ModeShamir: the id every share of this split carries
}

// RootFile is a root key file as read from disk, before any secret is
// applied. It prints as "[redacted]".
type RootFile struct {
	path    string
	key     []byte // version 1 only
	head    []byte // version 2: bytes 0..13+H, the wrap's additional data
	hdr     protHeader
	wrapped []byte
	commits []group.Element
}

// ReadRootFile reads the root key file at path, of any version, with the
// same checks on the file as [LoadFileRoot]. A missing file gives an error
// wrapping fs.ErrNotExist.
func ReadRootFile(path string) (*RootFile, error) {
	b, err := readRootBytes(path)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	f, err := parseAnyRootFile(b)
	if err != nil {
		return nil, fmt.Errorf("keystore: root key file %s: %w", path, err)
	}
	f.path = path
	return f, nil
}

// readRootBytes opens path and returns its contents, refusing a file that
// is not regular or that group or others may access.
func readRootBytes(path string) ([]byte, error) {
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
	b, err := io.ReadAll(io.LimitReader(f, 13+protMaxHeader+protWrappedLen+1))
	if err != nil {
		return nil, fmt.Errorf("keystore: root key file %s: %w", path, err)
	}
	return b, nil
}

func parseAnyRootFile(b []byte) (*RootFile, error) {
	if len(b) > len(rootFileMagic) && string(b[:len(rootFileMagic)]) == rootFileMagic && b[len(rootFileMagic)] == protFileVersion {
		return parseProtFile(b)
	}
	key, err := parseRootFile(b)
	if err != nil {
		return nil, err
	}
	return &RootFile{key: bytes.Clone(key)}, nil
}

func parseProtFile(b []byte) (*RootFile, error) {
	const fixed = len(rootFileMagic) + 1 + 4
	if len(b) < fixed {
		return nil, errors.New("malformed: truncated header")
	}
	h := binary.BigEndian.Uint32(b[fixed-4 : fixed])
	if h > protMaxHeader || len(b) != fixed+int(h)+protWrappedLen {
		return nil, fmt.Errorf("malformed: %d bytes for a header of %d", len(b), h)
	}
	f := &RootFile{head: bytes.Clone(b[:fixed+int(h)]), wrapped: bytes.Clone(b[fixed+int(h):])}
	dec := json.NewDecoder(bytes.NewReader(b[fixed : fixed+int(h)]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f.hdr); err != nil {
		return nil, fmt.Errorf("malformed header: %w", err)
	}
	if dec.More() {
		return nil, errors.New("malformed header: trailing data")
	}
	switch f.hdr.Protection {
	case ModePassphrase:
		a := f.hdr.Argon2id
		if a == nil || f.hdr.Shamir != nil {
			return nil, errors.New("malformed header: passphrase protection needs argon2id parameters only")
		}
		if a.Version != argon2.Version || len(a.Salt) < 16 {
			return nil, errors.New("malformed header: unsupported argon2id version or short salt")
		}
		if err := a.check(); err != nil {
			return nil, fmt.Errorf("malformed header: %w", err)
		}
	case ModeShamir:
		s := f.hdr.Shamir
		if s == nil || f.hdr.Argon2id != nil {
			return nil, errors.New("malformed header: shamir protection needs shamir parameters only")
		}
		if s.Group != "ristretto255" || s.Threshold < 2 || s.Shares < s.Threshold || s.Shares > 255 ||
			len(s.Commitments) != s.Threshold || len(s.Set) != 2*shareSetSize {
			return nil, errors.New("malformed header: bad shamir parameters")
		}
		if _, err := hex.DecodeString(s.Set); err != nil {
			return nil, errors.New("malformed header: bad share set id")
		}
		for _, c := range s.Commitments {
			e := group.Ristretto255.NewElement()
			if err := e.UnmarshalBinary(c); err != nil {
				return nil, errors.New("malformed header: bad shamir commitment")
			}
			f.commits = append(f.commits, e)
		}
	default:
		return nil, fmt.Errorf("malformed header: unknown protection %q", f.hdr.Protection)
	}
	return f, nil
}

// Protection reports how f protects its key.
func (f *RootFile) Protection() Protection {
	switch f.hdr.Protection {
	case ModePassphrase:
		p := f.hdr.Argon2id.Argon2Params
		return Protection{Mode: ModePassphrase, Argon2: &p}
	case ModeShamir:
		s := f.hdr.Shamir
		return Protection{Mode: ModeShamir, Threshold: s.Threshold, Shares: s.Shares, ShareSet: s.Set}
	}
	return Protection{Mode: ModeFile}
}

// Key returns the key of an unprotected (version 1) file; for a protected
// one it returns an error wrapping [ErrProtected].
func (f *RootFile) Key() (*RootKey, error) {
	if f.key == nil {
		return nil, fmt.Errorf("%w: %s", ErrProtected, f.path)
	}
	return &RootKey{b: bytes.Clone(f.key)}, nil
}

// Unlock opens a passphrase-protected file. A wrong passphrase gives an
// error wrapping [ErrWrongSecret]; it takes as long as a right one.
func (f *RootFile) Unlock(passphrase []byte) (*RootKey, error) {
	if f.hdr.Protection != ModePassphrase {
		return nil, fmt.Errorf("keystore: root key file %s is not protected by a passphrase (%s)", f.path, f.Protection().Mode)
	}
	a := f.hdr.Argon2id
	kek := argon2.IDKey(passphrase, a.Salt, a.Iterations, a.MemoryKiB, a.Parallelism, 32)
	defer clear(kek)
	return f.unwrap(kek)
}

func (f *RootFile) unwrap(kek []byte) (*RootKey, error) {
	aead, err := newKEK(kek)
	if err != nil {
		return nil, err
	}
	key, err := aead.Open(nil, f.wrapped[:12], f.wrapped[12:], f.head)
	if err != nil {
		return nil, ErrWrongSecret
	}
	return &RootKey{b: key}, nil
}

func newKEK(kek []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keystore: root key wrap: %w", err)
	}
	return cipher.NewGCM(b)
}

// Share is one Shamir share of a root key's KEK. Encode gives its text
// form; String and fmt print "[redacted]".
type Share struct {
	set   [shareSetSize]byte
	id    uint8
	value [32]byte
}

// ParseShare reads a share in the form Encode writes:
// "trent-share-v1-" and base64url (no padding) of set id (8 bytes), share
// number (1 byte) and value (32 bytes). Surrounding white space is ignored.
// The error never contains the share.
func ParseShare(s string) (*Share, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, sharePrefix)
	if !ok {
		return nil, errors.New("keystore: not a Trent share (it starts with " + sharePrefix + ")")
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != shareSetSize+1+32 {
		return nil, errors.New("keystore: malformed share")
	}
	var sh Share
	copy(sh.set[:], b)
	sh.id = b[shareSetSize]
	copy(sh.value[:], b[shareSetSize+1:])
	clear(b)
	if sh.id == 0 {
		return nil, errors.New("keystore: malformed share: number 0")
	}
	return &sh, nil
}

// Encode returns the share's text form; it is a secret.
func (s *Share) Encode() string {
	b := make([]byte, 0, shareSetSize+1+32)
	b = append(b, s.set[:]...)
	b = append(b, s.id)
	b = append(b, s.value[:]...)
	defer clear(b)
	return sharePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// Number returns the share's number, 1 to the number of shares made.
func (s *Share) Number() int { return int(s.id) }

// Set returns the id of the split the share belongs to (hex).
func (s *Share) Set() string { return hex.EncodeToString(s.set[:]) }

// String returns "[redacted]".
func (s *Share) String() string { return redacted }

// GoString returns "[redacted]".
func (s *Share) GoString() string { return redacted }

// LogValue returns "[redacted]".
func (s *Share) LogValue() slog.Value { return slog.StringValue(redacted) }

func (s *Share) scalars() (id, value group.Scalar, err error) {
	id = group.Ristretto255.NewScalar().SetUint64(uint64(s.id))
	value = group.Ristretto255.NewScalar()
	if err := value.UnmarshalBinary(s.value[:]); err != nil {
		return nil, nil, errors.New("keystore: malformed share value")
	}
	return id, value, nil
}

// VerifyShare checks a share on its own against the file's Feldman
// commitments: it belongs to this split and was not altered. An error
// names the reason, never the share's value.
func (f *RootFile) VerifyShare(s *Share) error {
	if f.hdr.Protection != ModeShamir {
		return fmt.Errorf("keystore: root key file %s is not protected by shares (%s)", f.path, f.Protection().Mode)
	}
	if s.Set() != f.hdr.Shamir.Set {
		return fmt.Errorf("%w: share %d belongs to split %s, the root key file to split %s", ErrWrongSecret, s.id, s.Set(), f.hdr.Shamir.Set)
	}
	if int(s.id) > f.hdr.Shamir.Shares {
		return fmt.Errorf("%w: share number %d, but %d shares were made", ErrWrongSecret, s.id, f.hdr.Shamir.Shares)
	}
	id, v, err := s.scalars()
	if err != nil {
		return err
	}
	if !secretsharing.Verify(uint(f.hdr.Shamir.Threshold-1), secretsharing.Share{ID: id, Value: v}, f.commits) {
		return fmt.Errorf("%w: share %d does not match the root key file's commitments", ErrWrongSecret, s.id)
	}
	return nil
}

// Combine opens a Shamir-protected file with at least the threshold number
// of distinct shares. Each share is verified first; fewer than the
// threshold, a share of another split or an altered share give an error
// wrapping [ErrWrongSecret].
func (f *RootFile) Combine(shares []*Share) (*RootKey, error) {
	if f.hdr.Protection != ModeShamir {
		return nil, fmt.Errorf("keystore: root key file %s is not protected by shares (%s)", f.path, f.Protection().Mode)
	}
	t := f.hdr.Shamir.Threshold
	seen := map[uint8]bool{}
	var ss []secretsharing.Share
	for _, s := range shares {
		if err := f.VerifyShare(s); err != nil {
			return nil, err
		}
		if seen[s.id] {
			continue // Recover panics on duplicates; a repeated share adds nothing
		}
		seen[s.id] = true
		id, v, _ := s.scalars()
		ss = append(ss, secretsharing.Share{ID: id, Value: v})
	}
	if len(ss) < t {
		return nil, fmt.Errorf("%w: %d distinct shares, %d needed", ErrWrongSecret, len(ss), t)
	}
	secret, err := secretsharing.Recover(uint(t-1), ss)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWrongSecret, err)
	}
	kek, err := shamirKEK(secret)
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	return f.unwrap(kek)
}

func shamirKEK(secret group.Scalar) ([]byte, error) {
	sb, err := secret.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("keystore: shamir: %w", err)
	}
	defer clear(sb)
	return hkdf.Key(sha256.New, sb, nil, shamirKEKInfo, 32)
}

// RootKey is a root key in memory, unwrapped, for making a [FileRoot] or
// writing another protection. It prints as "[redacted]"; Destroy clears it.
type RootKey struct{ b []byte }

// GenerateRootKey draws a new root key from crypto/rand.
func GenerateRootKey() (*RootKey, error) {
	k := &RootKey{b: make([]byte, rootKeySize)}
	if _, err := io.ReadFull(rand.Reader, k.b); err != nil {
		return nil, fmt.Errorf("keystore: generate root key: %w", err)
	}
	return k, nil
}

// Root returns the [FileRoot] of k.
func (k *RootKey) Root() (*FileRoot, error) { return newFileRoot(k.b) }

// Equal reports whether k and o are the same key, in constant time.
func (k *RootKey) Equal(o *RootKey) bool { return subtle.ConstantTimeCompare(k.b, o.b) == 1 }

// Destroy overwrites the key in memory.
func (k *RootKey) Destroy() { clear(k.b) }

// String returns "[redacted]".
func (k *RootKey) String() string { return redacted }

// GoString returns "[redacted]".
func (k *RootKey) GoString() string { return redacted }

// LogValue returns "[redacted]".
func (k *RootKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// WritePassphraseFile writes k to path wrapped under a KEK derived from
// passphrase with Argon2id and p (use [DefaultArgon2]), replacing any file
// there atomically. A passphrase shorter than 12 bytes is refused.
func WritePassphraseFile(path string, k *RootKey, passphrase []byte, p Argon2Params) error {
	if len(passphrase) < minPassphrase {
		return fmt.Errorf("keystore: the passphrase is too short: use at least %d characters", minPassphrase)
	}
	if err := p.check(); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		return fmt.Errorf("keystore: protect root key: %w", err)
	}
	hdr := protHeader{Protection: ModePassphrase, Argon2id: &argon2Header{Argon2Params: p, Version: argon2.Version, Salt: salt}}
	kek := argon2.IDKey(passphrase, salt, p.Iterations, p.MemoryKiB, p.Parallelism, 32)
	defer clear(kek)
	b, err := encodeProtFile(hdr, k, kek)
	if err != nil {
		return err
	}
	return writeRootFile(path, b)
}

// WriteShamirFile writes k to path wrapped under a KEK derived from a
// random secret split into n Shamir shares of which threshold open it
// (2 <= threshold <= n <= 255), replacing any file there atomically. It
// returns the shares; they exist nowhere else. The sharing is circl's
// secretsharing over ristretto255 (github.com/cloudflare/circl), with
// Feldman commitments kept in the header so each share can be checked.
func WriteShamirFile(path string, k *RootKey, threshold, n int) ([]*Share, error) {
	if threshold < 2 || n < threshold || n > 255 {
		return nil, fmt.Errorf("keystore: shares: need 2 <= threshold (%d) <= shares (%d) <= 255", threshold, n)
	}
	g := group.Ristretto255
	secret := g.RandomScalar(rand.Reader)
	split := secretsharing.New(rand.Reader, uint(threshold-1), secret)
	var set [shareSetSize]byte
	if _, err := io.ReadFull(rand.Reader, set[:]); err != nil {
		return nil, fmt.Errorf("keystore: shares: %w", err)
	}
	sh := &shamirHeader{Group: "ristretto255", Threshold: threshold, Shares: n, Set: hex.EncodeToString(set[:])}
	for _, c := range split.CommitSecret() {
		b, err := c.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("keystore: shares: %w", err)
		}
		sh.Commitments = append(sh.Commitments, b)
	}
	var shares []*Share
	for _, s := range split.Share(uint(n)) {
		v, err := s.Value.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("keystore: shares: %w", err)
		}
		out := &Share{set: set, id: uint8(len(shares) + 1)}
		copy(out.value[:], v)
		clear(v)
		shares = append(shares, out)
	}
	kek, err := shamirKEK(secret)
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	b, err := encodeProtFile(protHeader{Protection: ModeShamir, Shamir: sh}, k, kek)
	if err != nil {
		return nil, err
	}
	if err := writeRootFile(path, b); err != nil {
		return nil, err
	}
	return shares, nil
}

// WritePlainFile writes k to path as an unprotected (version 1) root key
// file, replacing any file there atomically.
func WritePlainFile(path string, k *RootKey) error {
	b := appendRootFile(make([]byte, 0, rootFileLen), k.b)
	defer clear(b)
	return writeRootFile(path, b)
}

func encodeProtFile(hdr protHeader, k *RootKey, kek []byte) ([]byte, error) {
	hj, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("keystore: protect root key: %w", err)
	}
	b := append([]byte(rootFileMagic), protFileVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(hj)))
	b = append(b, hj...)
	head := bytes.Clone(b)
	nonce := make([]byte, 12)
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("keystore: protect root key: %w", err)
	}
	aead, err := newKEK(kek)
	if err != nil {
		return nil, err
	}
	b = append(b, nonce...)
	return aead.Seal(b, nonce, k.b, head), nil
}

// writeRootFile replaces path with b atomically: a temporary file with
// mode 0600 in the same directory, synced, renamed over path, and the
// directory synced. A reader sees the old file or the new one, never a
// mix.
func writeRootFile(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".trent-root-key-*")
	if err != nil {
		return fmt.Errorf("keystore: write root key: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name)
	werr := tmp.Chmod(0o600)
	if runtime.GOOS == "windows" {
		werr = nil
	}
	if werr == nil {
		_, werr = tmp.Write(b)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if err := errors.Join(werr, tmp.Close()); err != nil {
		return fmt.Errorf("keystore: write root key: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("keystore: write root key: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("keystore: write root key: %w", err)
	}
	return nil
}

// String returns "[redacted]".
func (f *RootFile) String() string { return redacted }

// GoString returns "[redacted]".
func (f *RootFile) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (k *RootKey) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// Format prints "[redacted]" for every verb.
func (s *Share) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }
