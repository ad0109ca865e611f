package esdk

import (
	"context"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"io"
	"strings"
)

// DefaultFrameLength is the frame length of new messages unless
// EncryptOptions say otherwise; the SDKs' default too.
const DefaultFrameLength = 4096

// MaxFrameLength bounds the frame length of messages this package writes
// and, by default, reads: a frame is held in memory whole (twice: the
// ciphertext and the plaintext), so this bounds memory whatever the
// message size. The format allows up to 2^32-1; 16 MiB is Trent's choice.
const MaxFrameLength = 16 << 20

// DefaultMaxDataKeys is the default bound on encrypted data keys per
// message, encrypting and decrypting. The SDKs default to no limit; Trent
// is strict (a message with thousands of keys costs a KMS call each).
const DefaultMaxDataKeys = 10

// EncryptOptions configure [NewEncrypter]. The zero value encrypts with the
// default suite (0x0578) and frame length (4096).
type EncryptOptions struct {
	Keyring     Keyring
	Context     map[string]string // encryption context; keys may not start with "aws-crypto-"
	Suite       *Suite            // nil: DefaultSuite
	Policy      CommitmentPolicy
	FrameLength int // 0: DefaultFrameLength
	MaxDataKeys int // 0: DefaultMaxDataKeys; -1: no limit
	Rand        io.Reader
}

// Encrypter is a streaming encryptor: what is written to it is encrypted
// frame by frame to the underlying writer, holding at most one frame of
// plaintext. Close writes the final frame and the signature; a message
// whose Encrypter was not closed without error is incomplete.
type Encrypter struct {
	w        io.Writer
	h        *Header
	aead     cipher.AEAD
	sig      hash.Hash
	priv     *ecdsa.PrivateKey
	rand     io.Reader
	frameLen int
	buf      []byte // pending plaintext, up to frameLen
	out      []byte // scratch for a serialized frame
	aad      []byte
	seq      uint32
	err      error
	closed   bool
}

// NewEncrypter obtains a data key from the keyring, writes the message
// header to w and returns the Encrypter for the body. It follows
// client-apis/encrypt.md of the specification: format version 2 with a
// commit key for committing suites, version 1 otherwise; framed content;
// for signed suites an ECDSA key pair per message whose public key is
// stored in the encryption context under "aws-crypto-public-key" (a
// compressed point, base64).
func NewEncrypter(ctx context.Context, w io.Writer, o EncryptOptions) (*Encrypter, error) {
	suite := o.Suite
	if suite == nil {
		suite = SuiteByID(DefaultSuite)
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if !o.Policy.canEncrypt(suite) {
		return nil, errf(ErrPolicy, "commitment policy %s does not allow encrypting with %s", o.Policy, suite)
	}
	frameLen := o.FrameLength
	if frameLen == 0 {
		frameLen = DefaultFrameLength
	}
	if frameLen < 1 || frameLen > MaxFrameLength {
		return nil, errf(ErrPolicy, "frame length %d out of range 1..%d", frameLen, MaxFrameLength)
	}
	ec := make(map[string]string, len(o.Context)+1)
	for k, v := range o.Context {
		if strings.HasPrefix(k, reservedPrefix) {
			return nil, errf(ErrContext, "encryption context key %q: the prefix %q is reserved", k, reservedPrefix)
		}
		ec[k] = v
	}
	e := &Encrypter{w: w, rand: o.Rand, frameLen: frameLen}
	if suite.Signed() {
		priv, err := ecdsa.GenerateKey(suite.Curve, o.Rand)
		if err != nil {
			return nil, err
		}
		pub, err := priv.PublicKey.Bytes()
		if err != nil {
			return nil, err
		}
		ec[reservedPublicKey] = base64.StdEncoding.EncodeToString(compressPoint(pub))
		e.priv, e.sig = priv, suite.SigHash.New()
	}
	dataKey, edks, err := o.Keyring.GenerateDataKey(ctx, suite, ec)
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)
	maxKeys := o.MaxDataKeys
	if maxKeys == 0 {
		maxKeys = DefaultMaxDataKeys
	}
	if maxKeys > 0 && len(edks) > maxKeys {
		return nil, errf(ErrPolicy, "%d encrypted data keys; at most %d allowed", len(edks), maxKeys)
	}
	h := &Header{Version: suite.Version, Suite: suite, Context: ec, DataKeys: edks, ContentType: ContentFramed, FrameLength: uint32(frameLen)}
	h.MessageID = make([]byte, messageIDLenV1)
	if suite.Version == 2 {
		h.MessageID = make([]byte, messageIDLenV2)
	}
	if _, err := io.ReadFull(o.Rand, h.MessageID); err != nil {
		return nil, err
	}
	encKey, commitKey, err := deriveKeys(suite, dataKey, h.MessageID)
	if err != nil {
		return nil, err
	}
	defer clear(encKey)
	h.SuiteData = commitKey
	aead, err := newGCM(encKey)
	if err != nil {
		return nil, err
	}
	e.aead = aead
	if h.Body, err = h.marshalBody(); err != nil {
		return nil, err
	}
	h.HeaderIV = make([]byte, ivLen)
	h.Tag = headerTag(aead, h.Body, make([]byte, ivLen))
	e.h = h
	if err := e.emit(h.Bytes()); err != nil {
		return nil, err
	}
	e.buf = make([]byte, 0, frameLen)
	return e, nil
}

// Header returns the message header written.
func (e *Encrypter) Header() *Header { return e.h }

func (e *Encrypter) emit(b []byte) error {
	if e.sig != nil {
		e.sig.Write(b)
	}
	if _, err := e.w.Write(b); err != nil {
		e.err = &Error{Kind: ErrIO, Detail: "writing the message", Err: err}
		return e.err
	}
	return nil
}

// Write encrypts p. A frame is written once it is full and more
// plaintext follows; the last frame is written by Close.
func (e *Encrypter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.closed {
		return 0, errf(ErrIO, "write after close")
	}
	n := 0
	for len(p) > 0 {
		if len(e.buf) == e.frameLen {
			if err := e.frame(false); err != nil {
				return n, err
			}
		}
		c := copy(e.buf[len(e.buf):e.frameLen], p)
		e.buf = e.buf[:len(e.buf)+c]
		p, n = p[c:], n+c
	}
	return n, nil
}

// frame encrypts and writes the pending plaintext as the next regular or
// final frame (data-format/message-body.md).
func (e *Encrypter) frame(final bool) error {
	if e.seq == 0xffffffff {
		e.err = errf(ErrPolicy, "message too long: at most 2^32-1 frames")
		return e.err
	}
	e.seq++
	content := aadFrame
	if final {
		content = aadFinalFrame
	}
	e.aad = bodyAAD(e.aad[:0], e.h.MessageID, content, e.seq, uint64(len(e.buf)))
	iv := frameIV(e.seq)
	out := e.out[:0]
	if final {
		out = binary.BigEndian.AppendUint32(out, 0xffffffff)
	}
	out = binary.BigEndian.AppendUint32(out, e.seq)
	out = append(out, iv...)
	if final {
		out = binary.BigEndian.AppendUint32(out, uint32(len(e.buf)))
	}
	out = e.aead.Seal(out, iv, e.buf, e.aad) // ciphertext || tag
	e.out = out
	clear(e.buf)
	e.buf = e.buf[:0]
	return e.emit(out)
}

// Close writes the final frame and, for signed suites, the footer. It
// does not close the underlying writer.
func (e *Encrypter) Close() error {
	if e.err != nil {
		return e.err
	}
	if e.closed {
		return nil
	}
	e.closed = true
	if err := e.frame(true); err != nil {
		return err
	}
	if e.priv == nil {
		return nil
	}
	sig, err := ecdsa.SignASN1(e.rand, e.priv, e.sig.Sum(nil))
	if err != nil {
		return err
	}
	footer := append(be16(uint16(len(sig))), sig...)
	_, err = e.w.Write(footer) // the footer is not signed
	if err != nil {
		e.err = &Error{Kind: ErrIO, Detail: "writing the message", Err: err}
		return e.err
	}
	return nil
}

// compressPoint turns an uncompressed SEC 1 point (0x04 || X || Y) into
// its compressed form (0x02 or 0x03 by the parity of Y, || X), as
// SEC 1 v2 section 2.3.3 describes and the specification requires for the
// verification key (framework/algorithm-suites.md "ECDSA").
func compressPoint(p []byte) []byte {
	n := (len(p) - 1) / 2
	out := make([]byte, 1+n)
	out[0] = 0x02 | p[len(p)-1]&1
	copy(out[1:], p[1:1+n])
	return out
}
