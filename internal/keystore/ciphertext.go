package keystore

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
)

// ErrInvalidCiphertext is wrapped by every error that reports a blob that
// cannot be parsed or decrypted. Check with errors.Is.
var ErrInvalidCiphertext = errors.New("keystore: invalid ciphertext")

// FormatError describes why a blob was rejected. It wraps
// [ErrInvalidCiphertext]; the Reason is for logs and audit, never for the
// API caller, who sees every failure the same way.
type FormatError struct {
	Reason string // e.g. "truncated", "unknown version 0x02", "authentication failed"
}

func (e *FormatError) Error() string { return "keystore: invalid ciphertext: " + e.Reason }

// Unwrap returns [ErrInvalidCiphertext].
func (e *FormatError) Unwrap() error { return ErrInvalidCiphertext }

func invalid(reason string) error { return &FormatError{Reason: reason} }

// Layout of a version 1 blob (docs/ciphertext.md):
//
//	off  len  field
//	  0    1  version, 0x01
//	  1    1  key-id form: 0x01 UUID, 0x02 multi-Region ("mrk-")
//	  2   16  key id, binary
//	 18   32  material id, binary
//	 50    2  payload length L, big endian: len(ciphertext) + 16
//	 52   12  nonce
//	 64    L  AES-256-GCM ciphertext || 16-byte tag
//
// The GCM additional data is bytes 0..51 (the header) followed by the
// canonical encoding of the encryption context.
const (
	// VersionSymmetricV1 is the first byte of a version 1 symmetric blob.
	VersionSymmetricV1 byte = 0x01

	keyIDFormUUID byte = 0x01
	keyIDFormMRK  byte = 0x02

	offForm     = 1
	offKeyID    = 2
	offMaterial = offKeyID + 16
	offLength   = offMaterial + materialIDBytes
	headerLen   = offLength + 2
	nonceLen    = 12
	tagLen      = 16
	offPayload  = headerLen + nonceLen

	materialIDBytes = 32

	// MaxCiphertextSize is the largest blob Trent writes or accepts, in
	// bytes: the AWS KMS limit on CiphertextBlob.
	MaxCiphertextSize = 6144
	// SymmetricOverhead is how many bytes a version 1 blob adds to its
	// plaintext: header, nonce and tag.
	SymmetricOverhead = offPayload + tagLen
	// MaxSymmetricPlaintext is the largest plaintext [SymmetricKey.Seal]
	// accepts, so that the blob fits in [MaxCiphertextSize].
	MaxSymmetricPlaintext = MaxCiphertextSize - SymmetricOverhead
)

// VersionExternalV2 is the first byte of a blob of a key in an external
// key store (double encryption, docs/ciphertext.md): the version 1 header
// with this version byte, whose length field L counts the envelope that
// follows it, from offset 52. Package kms writes and reads the envelope;
// [OpenBlob] refuses it.
const VersionExternalV2 byte = 0x02

// ExternalHeader returns the 52-byte header of a version 2 blob for the
// key keyID, its material materialID and an envelope of n bytes. It
// fails for a malformed id or an envelope that would make the blob longer
// than [MaxCiphertextSize].
func ExternalHeader(keyID, materialID string, n int) ([]byte, error) {
	if headerLen+n < SymmetricOverhead || headerLen+n > MaxCiphertextSize {
		return nil, fmt.Errorf("keystore: external envelope of %d bytes does not fit in a ciphertext", n)
	}
	h := make([]byte, headerLen)
	h[0] = VersionExternalV2
	form, ok := encodeKeyID(h[offKeyID:offMaterial], keyID)
	if !ok {
		return nil, fmt.Errorf("keystore: malformed key id %q", keyID)
	}
	h[offForm] = form
	if !putMaterialID(h[offMaterial:offLength], materialID) {
		return nil, fmt.Errorf("keystore: malformed material id %q", materialID)
	}
	binary.BigEndian.PutUint16(h[offLength:], uint16(n))
	return h, nil
}

// Header returns a copy of the 52-byte header of a parsed blob.
func (c *Ciphertext) Header() []byte { return slices.Clone(c.header()) }

// ContextAAD returns header followed by the canonical encoding of encCtx,
// the additional data of a blob (docs/ciphertext.md).
func ContextAAD(header []byte, encCtx map[string]string) []byte {
	return contextAAD(slices.Clip(header), encCtx)
}

// Ciphertext is a parsed version 1 blob. Its fields describe the blob; it is
// obtained from [ParseCiphertext] only, and changing its fields does not
// change what [Ciphertext.Bytes] returns or what [SymmetricKey.Open]
// authenticates.
type Ciphertext struct {
	Version    byte   // VersionSymmetricV1
	KeyID      string // as given to Seal: a UUID or "mrk-" + 32 hex, lower case
	MaterialID string // 64 lowercase hex characters
	Nonce      []byte // 12 bytes; aliases the parsed copy, do not modify
	Sealed     []byte // AES-256-GCM ciphertext || 16-byte tag; aliases the parsed copy

	raw []byte // the whole blob, owned by c
}

// ParseCiphertext parses a blob written by [SymmetricKey.Seal]. It checks
// the structure only (version, key-id form, exact length); the tag is
// checked by [SymmetricKey.Open]. b is copied, so the caller may reuse it.
// On error the result is nil and the error wraps [ErrInvalidCiphertext].
func ParseCiphertext(b []byte) (*Ciphertext, error) {
	if len(b) == 0 {
		return nil, invalid("empty")
	}
	if b[0] != VersionSymmetricV1 && b[0] != VersionExternalV2 {
		return nil, invalid("unknown version")
	}
	if len(b) > MaxCiphertextSize {
		return nil, invalid("longer than 6144 bytes")
	}
	if len(b) < SymmetricOverhead {
		return nil, invalid("truncated")
	}
	n := int(binary.BigEndian.Uint16(b[offLength:]))
	if n < tagLen {
		return nil, invalid("payload length shorter than the tag")
	}
	start := offPayload
	if b[0] == VersionExternalV2 {
		start = headerLen // L counts the whole envelope
	}
	switch {
	case len(b) < start+n:
		return nil, invalid("truncated")
	case len(b) > start+n:
		return nil, invalid("trailing data")
	}
	raw := slices.Clone(b)
	keyID, ok := formatKeyID(raw[offForm], raw[offKeyID:offMaterial])
	if !ok {
		return nil, invalid("unknown key id form")
	}
	if raw[0] == VersionExternalV2 {
		// No nonce of its own: the payload, from offset 52, is the
		// external key store's envelope (docs/ciphertext.md).
		return &Ciphertext{Version: raw[0], KeyID: keyID, MaterialID: formatMaterialID(raw[offMaterial:offLength]),
			Sealed: raw[headerLen:], raw: raw}, nil
	}
	return &Ciphertext{
		Version:    raw[0],
		KeyID:      keyID,
		MaterialID: formatMaterialID(raw[offMaterial:offLength]),
		Nonce:      raw[headerLen:offPayload:offPayload],
		Sealed:     raw[offPayload:],
		raw:        raw,
	}, nil
}

// Bytes returns a copy of the blob c was parsed from. For a Ciphertext not
// made by [ParseCiphertext] it returns nil.
func (c *Ciphertext) Bytes() []byte {
	if c == nil || c.raw == nil {
		return nil
	}
	return slices.Clone(c.raw)
}

// header returns the authenticated header of c, or nil if c was not parsed.
func (c *Ciphertext) header() []byte {
	if c == nil || len(c.raw) < SymmetricOverhead {
		return nil
	}
	return c.raw[:headerLen:headerLen]
}

// encodeKeyID writes the 16-byte binary form of keyID into dst and returns
// its form tag, or false if keyID is neither a lowercase UUID
// ("1234abcd-12ab-34cd-56ef-1234567890ab") nor "mrk-" followed by 32
// lowercase hex characters. Both forms are 36 characters long.
func encodeKeyID(dst []byte, keyID string) (byte, bool) {
	if len(keyID) != 36 {
		return 0, false
	}
	var h [32]byte
	if keyID[:4] == "mrk-" {
		copy(h[:], keyID[4:])
		if !decodeLowerHex(dst[:16], h[:]) {
			return 0, false
		}
		return keyIDFormMRK, true
	}
	j := 0
	for i := 0; i < 36; i++ {
		c := keyID[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return 0, false
			}
			continue
		}
		h[j] = c
		j++
	}
	if !decodeLowerHex(dst[:16], h[:]) {
		return 0, false
	}
	return keyIDFormUUID, true
}

// formatKeyID is the inverse of encodeKeyID.
func formatKeyID(form byte, b []byte) (string, bool) {
	const hexdigits = "0123456789abcdef"
	switch form {
	case keyIDFormUUID:
		var s [36]byte
		j := 0
		for i, v := range b[:16] {
			if i == 4 || i == 6 || i == 8 || i == 10 {
				s[j] = '-'
				j++
			}
			s[j], s[j+1] = hexdigits[v>>4], hexdigits[v&0x0f]
			j += 2
		}
		return string(s[:]), true
	case keyIDFormMRK:
		var s [36]byte
		copy(s[:], "mrk-")
		hex.Encode(s[4:], b[:16])
		return string(s[:]), true
	}
	return "", false
}

// formatMaterialID returns the 64-character lowercase hex form of b.
func formatMaterialID(b []byte) string {
	var s [2 * materialIDBytes]byte
	hex.Encode(s[:], b[:materialIDBytes])
	return string(s[:])
}

// decodeLowerHex decodes src, which must be exactly 2*len(dst) lowercase
// hex characters, into dst.
func decodeLowerHex(dst, src []byte) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := lowerHexVal(src[2*i])
		lo, ok2 := lowerHexVal(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func lowerHexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// putMaterialID writes the 32-byte binary form of a 64-character lowercase
// hex material id into dst.
func putMaterialID(dst []byte, materialID string) bool {
	if len(materialID) != 2*materialIDBytes {
		return false
	}
	var h [2 * materialIDBytes]byte
	copy(h[:], materialID)
	return decodeLowerHex(dst[:materialIDBytes], h[:])
}

// contextAAD returns header followed by the canonical encoding of encCtx
// (docs/ciphertext.md, "Encryption context"): the pairs sorted by key in
// byte order, each key and value preceded by its length as a 4-byte big
// endian integer. For an empty or nil encCtx it returns header itself
// without allocating; otherwise it makes one allocation, plus one for
// sorting when encCtx has more than 16 pairs.
func contextAAD(header []byte, encCtx map[string]string) []byte {
	if len(encCtx) == 0 {
		return header
	}
	var small [16]string
	keys := small[:0]
	size := len(header)
	for k, v := range encCtx {
		keys = append(keys, k)
		size += 8 + len(k) + len(v)
	}
	slices.Sort(keys)
	aad := make([]byte, 0, size)
	aad = append(aad, header...)
	for _, k := range keys {
		v := encCtx[k]
		aad = binary.BigEndian.AppendUint32(aad, uint32(len(k)))
		aad = append(aad, k...)
		aad = binary.BigEndian.AppendUint32(aad, uint32(len(v)))
		aad = append(aad, v...)
	}
	return aad
}
