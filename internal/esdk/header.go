package esdk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sort"
	"unicode/utf8"
)

// Field values of the message header (data-format/message-header.md).
const (
	typeCustomerAED   = 0x80 // version 1 "Type": customer authenticated encrypted data
	ContentNonFramed  = 0x01
	ContentFramed     = 0x02
	ivLen             = 12
	tagLen            = 16
	commitKeyLen      = 32
	messageIDLenV1    = 16
	messageIDLenV2    = 32
	reservedPublicKey = "aws-crypto-public-key"
	reservedPrefix    = "aws-crypto-"
)

// EncryptedDataKey is one encrypted copy of the message's data key. For
// AWS KMS, ProviderID is "aws-kms", ProviderInfo the key ARN and
// Ciphertext the KMS CiphertextBlob.
type EncryptedDataKey struct {
	ProviderID   string
	ProviderInfo []byte
	Ciphertext   []byte
}

// Header is a parsed message header. Body is the serialized header body
// (everything the header authentication tag covers); a parsed header keeps
// the bytes it was read from.
type Header struct {
	Version     byte
	Suite       *Suite
	MessageID   []byte
	Context     map[string]string
	DataKeys    []EncryptedDataKey
	ContentType byte
	FrameLength uint32
	SuiteData   []byte // version 2: the commit key
	HeaderIV    []byte // version 1: the header authentication IV
	Tag         []byte
	Body        []byte
}

// serializeContext encodes an encryption context as the specification's
// framework/structures.md#serialization says: empty for an empty context,
// else a pair count and the pairs sorted by key (UTF-8 bytes).
func serializeContext(ec map[string]string) ([]byte, error) {
	if len(ec) == 0 {
		return nil, nil
	}
	if len(ec) > 0xffff {
		return nil, errf(ErrFormat, "encryption context has %d pairs; at most 65535", len(ec))
	}
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys) // Go strings compare by bytes: UTF-8 binary order
	var b bytes.Buffer
	b.Write(be16(uint16(len(keys))))
	for _, k := range keys {
		for _, s := range []string{k, ec[k]} {
			if !utf8.ValidString(s) || len(s) > 0xffff {
				return nil, errf(ErrFormat, "encryption context keys and values must be UTF-8 of at most 65535 bytes")
			}
			b.Write(be16(uint16(len(s))))
			b.WriteString(s)
		}
	}
	if b.Len() > 0xffff {
		return nil, errf(ErrFormat, "serialized encryption context is %d bytes; at most 65535", b.Len())
	}
	return b.Bytes(), nil
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// marshalBody serializes the header body of h (data-format/message-header.md,
// "Header Body Version 1.0" and "2.0").
func (h *Header) marshalBody() ([]byte, error) {
	aad, err := serializeContext(h.Context)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteByte(h.Version)
	if h.Version == 1 {
		b.WriteByte(typeCustomerAED)
	}
	b.Write(be16(h.Suite.ID))
	b.Write(h.MessageID)
	b.Write(be16(uint16(len(aad))))
	b.Write(aad)
	if len(h.DataKeys) == 0 || len(h.DataKeys) > 0xffff {
		return nil, errf(ErrFormat, "a message has 1 to 65535 encrypted data keys, not %d", len(h.DataKeys))
	}
	b.Write(be16(uint16(len(h.DataKeys))))
	for _, k := range h.DataKeys {
		for _, f := range [][]byte{[]byte(k.ProviderID), k.ProviderInfo, k.Ciphertext} {
			if len(f) > 0xffff {
				return nil, errf(ErrFormat, "encrypted data key field longer than 65535 bytes")
			}
			b.Write(be16(uint16(len(f))))
			b.Write(f)
		}
	}
	b.WriteByte(h.ContentType)
	if h.Version == 1 {
		b.Write([]byte{0, 0, 0, 0}) // reserved
		b.WriteByte(ivLen)
	}
	b.Write(binary.BigEndian.AppendUint32(nil, h.FrameLength))
	if h.Version == 2 {
		b.Write(h.SuiteData)
	}
	return b.Bytes(), nil
}

// marshalAuth serializes the header authentication: the IV (version 1
// only) and the tag.
func (h *Header) marshalAuth() []byte {
	if h.Version == 1 {
		return append(append([]byte(nil), h.HeaderIV...), h.Tag...)
	}
	return append([]byte(nil), h.Tag...)
}

// Bytes returns the whole serialized header: body and authentication.
func (h *Header) Bytes() []byte {
	return append(append([]byte(nil), h.Body...), h.marshalAuth()...)
}

// Limits bound what a parser accepts.
type Limits struct {
	// MaxDataKeys refuses headers with more encrypted data keys (0: no
	// limit beyond the format's 65535).
	MaxDataKeys int
}

// ParseHeader reads one message header from r. It checks the structure
// (versions, suite, lengths, sorted and unique encryption context, UTF-8)
// but not the authentication tag, which needs the data key. Errors wrap
// ErrFormat, ErrTruncated or ErrPolicy.
func ParseHeader(r io.Reader, lim Limits) (*Header, error) {
	p := &parser{r: r}
	h := &Header{}
	h.Version = p.u8()
	if p.err != nil {
		return nil, p.fail()
	}
	switch h.Version {
	case 1:
		if t := p.u8(); p.err == nil && t != typeCustomerAED {
			return nil, errf(ErrFormat, "version 1 message of type 0x%02x; want 0x80", t)
		}
	case 2:
	default:
		return nil, errf(ErrFormat, "unsupported message format version 0x%02x", h.Version)
	}
	id := p.u16()
	if p.err != nil {
		return nil, p.fail()
	}
	if h.Suite = SuiteByID(id); h.Suite == nil {
		return nil, errf(ErrFormat, "unknown algorithm suite 0x%04x", id)
	}
	if h.Suite.Version != h.Version {
		return nil, errf(ErrFormat, "algorithm suite %s in a version %d message", h.Suite, h.Version)
	}
	if h.Version == 1 {
		h.MessageID = p.bytes(messageIDLenV1)
	} else {
		h.MessageID = p.bytes(messageIDLenV2)
	}
	aad := p.bytes(int(p.u16()))
	if p.err != nil {
		return nil, p.fail()
	}
	var err error
	if h.Context, err = parseContext(aad); err != nil {
		return nil, err
	}
	n := int(p.u16())
	if p.err != nil {
		return nil, p.fail()
	}
	if n == 0 {
		return nil, errf(ErrFormat, "message has no encrypted data key")
	}
	if lim.MaxDataKeys > 0 && n > lim.MaxDataKeys {
		return nil, errf(ErrPolicy, "message has %d encrypted data keys; at most %d allowed", n, lim.MaxDataKeys)
	}
	for i := 0; i < n && p.err == nil; i++ {
		pid := p.bytes(int(p.u16()))
		info := p.bytes(int(p.u16()))
		ct := p.bytes(int(p.u16()))
		if p.err == nil && !utf8.Valid(pid) {
			return nil, errf(ErrFormat, "encrypted data key provider id is not UTF-8")
		}
		h.DataKeys = append(h.DataKeys, EncryptedDataKey{ProviderID: string(pid), ProviderInfo: info, Ciphertext: ct})
	}
	h.ContentType = p.u8()
	if h.Version == 1 {
		if res := p.bytes(4); p.err == nil && !bytes.Equal(res, []byte{0, 0, 0, 0}) {
			return nil, errf(ErrFormat, "reserved header field is not zero")
		}
		if l := p.u8(); p.err == nil && l != ivLen {
			return nil, errf(ErrFormat, "IV length %d; want %d", l, ivLen)
		}
	}
	h.FrameLength = p.u32()
	if p.err != nil {
		return nil, p.fail()
	}
	switch h.ContentType {
	case ContentFramed:
		if h.FrameLength == 0 {
			return nil, errf(ErrFormat, "framed message with frame length 0")
		}
	case ContentNonFramed:
		if h.FrameLength != 0 {
			return nil, errf(ErrFormat, "non-framed message with frame length %d; want 0", h.FrameLength)
		}
	default:
		return nil, errf(ErrFormat, "unknown content type 0x%02x", h.ContentType)
	}
	if h.Version == 2 {
		h.SuiteData = p.bytes(commitKeyLen)
	} else {
		h.HeaderIV = p.bytes(ivLen)
	}
	h.Tag = p.bytes(tagLen)
	if p.err != nil {
		return nil, p.fail()
	}
	raw := p.raw.Bytes()
	authLen := tagLen
	if h.Version == 1 {
		authLen += ivLen
	}
	h.Body = raw[:len(raw)-authLen]
	return h, nil
}

// parseContext decodes a serialized encryption context, refusing
// unsorted or duplicate keys, non-UTF-8 strings and trailing bytes, so
// that re-serializing gives the same bytes.
func parseContext(b []byte) (map[string]string, error) {
	ec := map[string]string{}
	if len(b) == 0 {
		return ec, nil
	}
	p := &parser{r: bytes.NewReader(b)}
	n := int(p.u16())
	if p.err == nil && n == 0 {
		return nil, errf(ErrFormat, "encryption context with a pair count of 0")
	}
	prev := ""
	for i := 0; i < n && p.err == nil; i++ {
		k := p.bytes(int(p.u16()))
		v := p.bytes(int(p.u16()))
		if p.err != nil {
			break
		}
		if !utf8.Valid(k) || !utf8.Valid(v) {
			return nil, errf(ErrFormat, "encryption context is not UTF-8")
		}
		if i > 0 && string(k) <= prev {
			return nil, errf(ErrFormat, "encryption context keys are not sorted and unique")
		}
		prev = string(k)
		ec[prev] = string(v)
	}
	if p.err != nil {
		return nil, errf(ErrFormat, "encryption context field lengths disagree with its length")
	}
	if p.raw.Len() != len(b) {
		return nil, errf(ErrFormat, "trailing bytes after the encryption context")
	}
	return ec, nil
}

// parser reads fixed fields, recording what it read; the first short read
// sets err and makes later reads no-ops.
type parser struct {
	r   io.Reader
	raw bytes.Buffer
	err error
}

func (p *parser) bytes(n int) []byte {
	if p.err != nil {
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(p.r, b); err != nil {
		p.err = err
		return nil
	}
	p.raw.Write(b)
	return b
}

func (p *parser) u8() byte {
	if b := p.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (p *parser) u16() uint16 {
	if b := p.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (p *parser) u32() uint32 {
	if b := p.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// fail turns a read error into an *Error.
func (p *parser) fail() error {
	if errors.Is(p.err, io.EOF) || errors.Is(p.err, io.ErrUnexpectedEOF) {
		return errf(ErrTruncated, "input ends inside the header")
	}
	return &Error{Kind: ErrIO, Detail: "reading the header", Err: p.err}
}
