package esdk_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"testing"

	"github.com/trent-kms/trent/internal/esdk"
)

// cursor reads big-endian fields from a message, independently of the
// package's parser.
type cursor struct {
	t *testing.T
	b []byte
	i int
}

func (c *cursor) take(n int) []byte {
	c.t.Helper()
	if c.i+n > len(c.b) {
		c.t.Fatalf("message ends at %d; want %d more bytes", len(c.b), c.i+n-len(c.b))
	}
	v := c.b[c.i : c.i+n]
	c.i += n
	return v
}
func (c *cursor) u8() int     { return int(c.take(1)[0]) }
func (c *cursor) u16() int    { return int(binary.BigEndian.Uint16(c.take(2))) }
func (c *cursor) u32() uint32 { return binary.BigEndian.Uint32(c.take(4)) }

// TestMessageFields parses a default-suite message field by field as the
// Developer Guide's "Message format reference" lays it out, and checks
// every derived value with independent computations: the commit key, the
// header tag, each frame's IV, AAD and tag, and the signature.
func TestMessageFields(t *testing.T) {
	kr := newWrapKeyring("k1")
	kr.dataKey = bytes.Repeat([]byte{7}, 32)
	const frame = 100
	pt := make([]byte, 2*frame+30) // two regular frames and a final frame of 30
	for i := range pt {
		pt[i] = byte(i)
	}
	msg := encrypt(t, kr, esdk.SuiteByID(0x0578), frame, map[string]string{"b": "2", "a": "1"}, pt)
	c := &cursor{t: t, b: msg}

	if v := c.u8(); v != 2 {
		t.Fatalf("version %d", v)
	}
	if id := c.u16(); id != 0x0578 {
		t.Fatalf("suite %#x", id)
	}
	msgID := c.take(32)
	aadLen := c.u16()
	aad := &cursor{t: t, b: c.take(aadLen)}
	if n := aad.u16(); n != 3 {
		t.Fatalf("%d context pairs; want 3", n)
	}
	var keys []string
	ctx := map[string]string{}
	for range 3 {
		k := string(aad.take(aad.u16()))
		ctx[k] = string(aad.take(aad.u16()))
		keys = append(keys, k)
	}
	if aad.i != len(aad.b) || keys[0] != "a" || keys[1] != "aws-crypto-public-key" || keys[2] != "b" || ctx["a"] != "1" {
		t.Fatalf("context %q %q: want sorted a, aws-crypto-public-key, b", keys, ctx)
	}
	if n := c.u16(); n != 1 {
		t.Fatalf("%d data keys", n)
	}
	if pid := string(c.take(c.u16())); pid != "test" {
		t.Fatalf("provider id %q", pid)
	}
	if info := string(c.take(c.u16())); info != "k1" {
		t.Fatalf("provider info %q", info)
	}
	c.take(c.u16())
	if ct := c.u8(); ct != 2 {
		t.Fatalf("content type %d", ct)
	}
	if fl := c.u32(); fl != frame {
		t.Fatalf("frame length %d", fl)
	}
	commit := c.take(32)
	body := msg[:c.i]
	tag := c.take(16)

	// Keys as the Python SDK's data_keys.py derives them.
	encKey, _ := hkdf.Key(sha512.New, kr.dataKey, msgID, "\x05\x78DERIVEKEY", 32)
	wantCommit, _ := hkdf.Key(sha512.New, kr.dataKey, msgID, "COMMITKEY", 32)
	if !bytes.Equal(commit, wantCommit) {
		t.Fatal("commit key differs")
	}
	blk, _ := aes.NewCipher(encKey)
	gcm, _ := cipher.NewGCM(blk)
	if !bytes.Equal(gcm.Seal(nil, make([]byte, 12), nil, body), tag) {
		t.Fatal("header tag differs")
	}

	var got []byte
	for seq := uint32(1); ; seq++ {
		final := false
		s := c.u32()
		if s == 0xffffffff {
			final, s = true, c.u32()
		}
		if s != seq {
			t.Fatalf("sequence number %d; want %d", s, seq)
		}
		iv := c.take(12)
		if want := binary.BigEndian.AppendUint32(make([]byte, 8), seq); !bytes.Equal(iv, want) {
			t.Fatalf("frame %d IV %x", seq, iv)
		}
		n, label := frame, "AWSKMSEncryptionClient Frame"
		if final {
			n, label = int(c.u32()), "AWSKMSEncryptionClient Final Frame"
		}
		ct := c.take(n + 16)
		aadb := append(append(append([]byte{}, msgID...), label...), binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, seq), uint64(n))...)
		p, err := gcm.Open(nil, iv, ct, aadb)
		if err != nil {
			t.Fatalf("frame %d: %v", seq, err)
		}
		got = append(got, p...)
		if final {
			if seq != 3 || n != 30 {
				t.Fatalf("final frame %d of %d bytes; want 3 of 30", seq, n)
			}
			break
		}
	}
	if !bytes.Equal(got, pt) {
		t.Fatal("plaintext differs")
	}
	signed := msg[:c.i]
	sig := c.take(c.u16())
	if c.i != len(msg) {
		t.Fatalf("%d bytes after the footer", len(msg)-c.i)
	}
	point, _ := base64.StdEncoding.DecodeString(ctx["aws-crypto-public-key"])
	if len(point) != 49 || (point[0] != 2 && point[0] != 3) {
		t.Fatalf("public key is not a compressed P-384 point: %x", point)
	}
	x, y := elliptic.UnmarshalCompressed(elliptic.P384(), point)
	pub := &ecdsa.PublicKey{Curve: elliptic.P384(), X: x, Y: y}
	digest := sha512.Sum384(signed)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		t.Fatal("signature does not verify over header and body")
	}
}

// TestExactFrameMultiple: a plaintext of exactly k frames ends with a full
// final frame (client-apis/encrypt.md allows a final or a regular frame
// there; the SDKs write a final one), and an empty one with an empty
// final frame.
func TestExactFrameMultiple(t *testing.T) {
	kr := newWrapKeyring("k1")
	s := esdk.SuiteByID(0x0478)
	hdrLen := len(encrypt(t, kr, s, 10, nil, nil)) - (4 + 4 + 12 + 4 + 16)
	for _, tc := range []struct{ n, regular, last int }{{0, 0, 0}, {10, 0, 10}, {11, 1, 1}, {20, 1, 10}} {
		msg := encrypt(t, kr, s, 10, nil, make([]byte, tc.n))
		want := hdrLen + tc.regular*(4+12+10+16) + 4 + 4 + 12 + 4 + tc.last + 16
		if len(msg) != want {
			t.Errorf("%d bytes: message of %d bytes; want %d (%d regular frames, final of %d)", tc.n, len(msg), want, tc.regular, tc.last)
		}
	}
}
