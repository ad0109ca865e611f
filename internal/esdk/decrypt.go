package esdk

import (
	"bufio"
	"context"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"strconv"
)

// DecryptOptions configure [NewDecrypter].
type DecryptOptions struct {
	Keyring Keyring
	Policy  CommitmentPolicy
	// RequiredContext lists pairs the message's encryption context must
	// hold (it may hold more).
	RequiredContext map[string]string
	MaxDataKeys     int // 0: DefaultMaxDataKeys; -1: no limit
	// MaxFrameLength refuses framed messages with longer frames, and
	// non-framed messages with a longer body (0: MaxFrameLength).
	MaxFrameLength int
}

// Decrypter is a streaming decryptor. Read returns the plaintext of each
// frame once its tag is verified; the signature of a signed message is
// verified when the final frame has been read, and Read returns io.EOF
// only after that and after checking that nothing follows the message.
// So plaintext read before io.EOF may belong to a message that later
// fails: a caller that must not release unverified plaintext holds it
// until io.EOF (trent decrypt --buffer does).
type Decrypter struct {
	h        *Header
	br       *bufio.Reader
	in       io.Reader // br, through the signature hash when signed
	sig      hash.Hash
	pub      *ecdsa.PublicKey
	aead     cipher.AEAD
	maxFrame int
	seq      uint32
	ct, pt   []byte
	pending  []byte
	aad      []byte
	done     bool
	err      error
}

// readAhead is the size of the input buffer: the decrypter reads at most
// this much beyond the frame it is working on.
const readAhead = 32 << 10

// NewDecrypter reads and authenticates the message header from r and
// returns a Decrypter for the body (client-apis/decrypt.md of the
// specification). It checks, in order: the header's structure, the
// commitment policy and data key limit, the required encryption context,
// the verification key's presence exactly for signed suites, then
// decrypts a data key with the keyring and checks the key commitment and
// the header tag. Errors are *[Error]s.
func NewDecrypter(ctx context.Context, r io.Reader, o DecryptOptions) (*Decrypter, error) {
	maxKeys := o.MaxDataKeys
	if maxKeys == 0 {
		maxKeys = DefaultMaxDataKeys
	}
	d := &Decrypter{br: bufio.NewReaderSize(r, readAhead), maxFrame: o.MaxFrameLength}
	if d.maxFrame <= 0 {
		d.maxFrame = MaxFrameLength
	}
	d.in = d.br
	h, err := ParseHeader(d.br, Limits{MaxDataKeys: max(maxKeys, 0)})
	if err != nil {
		return nil, err
	}
	d.h = h
	s := h.Suite
	if !o.Policy.canDecrypt(s) {
		return nil, errf(ErrPolicy, "commitment policy %s does not allow decrypting %s", o.Policy, s)
	}
	if h.ContentType == ContentFramed && int64(h.FrameLength) > int64(d.maxFrame) {
		return nil, errf(ErrPolicy, "frame length %d exceeds the limit of %d", h.FrameLength, d.maxFrame)
	}
	for k, v := range o.RequiredContext {
		got, ok := h.Context[k]
		if !ok {
			return nil, errf(ErrContext, "the message's encryption context has no key %q", k)
		}
		if got != v {
			return nil, errf(ErrContext, "the message's encryption context has %q=%q, not %q", k, got, v)
		}
	}
	pubB64, hasPub := h.Context[reservedPublicKey]
	switch {
	case s.Signed() && !hasPub: // ibid.: "If this key is not present in the encryption context, the operation MUST fail"
		return nil, errf(ErrFormat, "signed suite %s without %s in the encryption context", s, reservedPublicKey)
	case !s.Signed() && hasPub:
		// awslabs/aws-encryption-sdk-specification framework/default-cmm.md,
		// "Decrypt Materials": "If the algorithm suite does not contain a
		// signing algorithm, but the encryption context includes the
		// reserved `aws-crypto-public-key` key, the operation MUST fail".
		return nil, errf(ErrFormat, "unsigned suite %s with %s in the encryption context", s, reservedPublicKey)
	case s.Signed():
		if d.pub, err = parsePublicKey(s.Curve, pubB64); err != nil {
			return nil, err
		}
		d.sig = s.SigHash.New()
		d.sig.Write(h.Bytes())
		d.in = io.TeeReader(d.br, d.sig)
	}
	dataKey, err := o.Keyring.DecryptDataKey(ctx, s, h.Context, h.DataKeys)
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)
	encKey, commitKey, err := deriveKeys(s, dataKey, h.MessageID)
	if err != nil {
		return nil, err
	}
	defer clear(encKey)
	if s.Commit && !checkCommitment(commitKey, h.SuiteData) {
		return nil, errf(ErrTampered, "key commitment does not match: the data key is not the one the message was encrypted with")
	}
	if d.aead, err = newGCM(encKey); err != nil {
		return nil, err
	}
	iv := make([]byte, ivLen)
	if h.Version == 1 {
		iv = h.HeaderIV
	}
	if _, err := d.aead.Open(nil, iv, h.Tag, h.Body); err != nil {
		return nil, errf(ErrTampered, "header authentication failed")
	}
	return d, nil
}

// parsePublicKey decodes the base64 compressed point of the
// aws-crypto-public-key context value.
func parsePublicKey(c elliptic.Curve, b64 string) (*ecdsa.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errf(ErrFormat, "%s is not base64", reservedPublicKey)
	}
	x, y := elliptic.UnmarshalCompressed(c, b)
	if x == nil {
		return nil, errf(ErrFormat, "%s is not a compressed %s point", reservedPublicKey, c.Params().Name)
	}
	n := (c.Params().BitSize + 7) / 8
	raw := make([]byte, 1+2*n)
	raw[0] = 4
	x.FillBytes(raw[1 : 1+n])
	y.FillBytes(raw[1+n:])
	pub, err := ecdsa.ParseUncompressedPublicKey(c, raw)
	if err != nil {
		return nil, errf(ErrFormat, "%s: %v", reservedPublicKey, err)
	}
	return pub, nil
}

// Header returns the authenticated message header.
func (d *Decrypter) Header() *Header { return d.h }

// Read returns verified plaintext; see [Decrypter].
func (d *Decrypter) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		if err := d.next(); err != nil {
			clear(d.pt)
			d.err = err
			return 0, err
		}
	}
	n := copy(p, d.pending)
	clear(d.pending[:n])
	d.pending = d.pending[n:]
	return n, nil
}

// WriteTo decrypts the rest of the message to w, frame by frame.
func (d *Decrypter) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(d.pending) > 0 {
			n, err := w.Write(d.pending)
			total += int64(n)
			clear(d.pending[:n])
			d.pending = d.pending[n:]
			if err != nil {
				return total, &Error{Kind: ErrIO, Detail: "writing the plaintext", Err: err}
			}
			continue
		}
		if d.err != nil {
			return total, d.err
		}
		if d.done {
			return total, nil
		}
		if err := d.next(); err != nil {
			clear(d.pt)
			d.err = err
			return total, err
		}
	}
}

// read fills b from the message or reports where it ended.
func (d *Decrypter) read(b []byte, what string) error {
	if _, err := io.ReadFull(d.in, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &Error{Kind: ErrTruncated, Frame: d.seq + 1, Detail: "input ends inside " + what}
		}
		return &Error{Kind: ErrIO, Frame: d.seq + 1, Detail: "reading " + what, Err: err}
	}
	return nil
}

// next reads, checks and decrypts the next frame (or the non-framed body)
// into d.pending; after the last one it reads the footer.
func (d *Decrypter) next() error {
	var b [8]byte
	if d.h.ContentType == ContentNonFramed {
		iv := make([]byte, ivLen)
		if err := d.read(iv, "the body"); err != nil {
			return err
		}
		if err := d.read(b[:8], "the body"); err != nil {
			return err
		}
		n := binary.BigEndian.Uint64(b[:8])
		if n > uint64(d.maxFrame) {
			return errf(ErrPolicy, "non-framed body of %d bytes exceeds the limit of %d", n, d.maxFrame)
		}
		d.seq = 1
		return d.open(iv, aadSingleBlock, int(n))
	}
	if err := d.read(b[:4], "a frame"); err != nil {
		return err
	}
	seq := binary.BigEndian.Uint32(b[:4])
	final := seq == 0xffffffff
	if final {
		if err := d.read(b[:4], "the final frame"); err != nil {
			return err
		}
		seq = binary.BigEndian.Uint32(b[:4])
	}
	if seq != d.seq+1 {
		return &Error{Kind: ErrTampered, Frame: d.seq + 1, Detail: "frames out of order: found sequence number " + strconv.FormatUint(uint64(seq), 10)}
	}
	iv := make([]byte, ivLen)
	if err := d.read(iv, "a frame"); err != nil {
		return err
	}
	n, content := int(d.h.FrameLength), aadFrame
	if final {
		if err := d.read(b[:4], "the final frame"); err != nil {
			return err
		}
		l := binary.BigEndian.Uint32(b[:4])
		if l > d.h.FrameLength {
			return &Error{Kind: ErrFormat, Frame: seq, Detail: "final frame longer than the frame length"}
		}
		n, content = int(l), aadFinalFrame
	}
	d.seq = seq
	if err := d.open(iv, content, n); err != nil {
		return err
	}
	if final {
		return d.finish()
	}
	return nil
}

// open reads n bytes of ciphertext and the tag, and decrypts them.
func (d *Decrypter) open(iv []byte, content string, n int) error {
	if cap(d.ct) < n+tagLen {
		d.ct = make([]byte, n+tagLen)
		d.pt = make([]byte, 0, n)
	}
	ct := d.ct[:n+tagLen]
	if err := d.read(ct, "a frame"); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Frame = d.seq
		}
		return err
	}
	d.aad = bodyAAD(d.aad[:0], d.h.MessageID, content, d.seq, uint64(n))
	pt, err := d.aead.Open(d.pt[:0], iv, ct, d.aad)
	if err != nil {
		return &Error{Kind: ErrTampered, Frame: d.seq, Detail: "frame authentication failed"}
	}
	d.pending = pt
	if content == aadSingleBlock {
		return d.finish()
	}
	return nil
}

// finish reads and verifies the footer and checks that the input ends.
func (d *Decrypter) finish() error {
	if d.sig != nil {
		var l [2]byte
		if _, err := io.ReadFull(d.br, l[:]); err != nil {
			return d.footerErr(err)
		}
		sig := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(d.br, sig); err != nil {
			return d.footerErr(err)
		}
		if !ecdsa.VerifyASN1(d.pub, d.sig.Sum(nil), sig) {
			return errf(ErrTampered, "signature verification failed")
		}
	}
	if _, err := d.br.ReadByte(); err != io.EOF {
		if err != nil {
			return &Error{Kind: ErrIO, Detail: "reading after the message", Err: err}
		}
		return errf(ErrFormat, "trailing bytes after the end of the message")
	}
	d.done = true
	return nil
}

func (d *Decrypter) footerErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errf(ErrTruncated, "input ends before the signature")
	}
	return &Error{Kind: ErrIO, Detail: "reading the signature", Err: err}
}
