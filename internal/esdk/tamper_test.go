package esdk_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/esdk"
)

const tframe = 32

// framedMessage returns a message of three regular frames and a final one,
// with the offset where the body starts.
func framedMessage(t *testing.T, kr esdk.Keyring, suite uint16) (msg []byte, bodyAt int) {
	t.Helper()
	pt := bytes.Repeat([]byte("0123456789abcdef"), 3*tframe/16+1) // 3 frames and 16 bytes
	msg = encrypt(t, kr, esdk.SuiteByID(suite), tframe, map[string]string{"k": "v"}, pt)
	h, err := esdk.ParseHeader(bytes.NewReader(msg), esdk.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return msg, len(h.Bytes())
}

const regular = 4 + 12 + tframe + 16

func TestTamperingEveryByte(t *testing.T) {
	kr := newWrapKeyring("k1")
	for _, suite := range []uint16{0x0578, 0x0478, 0x0378, 0x0014} {
		msg, bodyAt := framedMessage(t, kr, suite)
		for i := range msg {
			bad := bytes.Clone(msg)
			bad[i] ^= 0x01
			got, err := decrypt(kr, bad, esdk.DecryptOptions{Policy: anyPolicy})
			if err == nil {
				t.Fatalf("suite %#x: flipping byte %d went unnoticed (%d bytes out)", suite, i, len(got))
			}
			if i >= bodyAt && i < bodyAt+3*regular {
				// A bit flipped in regular frame k is reported as frame k
				// (out of order when it hits the sequence number).
				var e *esdk.Error
				if want := uint32((i-bodyAt)/regular + 1); !errors.As(err, &e) || e.Frame != want || !errors.Is(err, esdk.ErrTampered) {
					t.Fatalf("suite %#x: byte %d: %v; want tampered frame %d", suite, i, err, want)
				}
			}
		}
	}
}

func TestTruncationAtEveryLength(t *testing.T) {
	kr := newWrapKeyring("k1")
	for _, suite := range []uint16{0x0578, 0x0478} {
		msg, _ := framedMessage(t, kr, suite)
		for n := range len(msg) {
			d, err := esdk.NewDecrypter(context.Background(), bytes.NewReader(msg[:n]), esdk.DecryptOptions{Keyring: kr})
			if err == nil {
				_, err = io.ReadAll(d)
			}
			if !errors.Is(err, esdk.ErrTruncated) {
				t.Fatalf("suite %#x: %d of %d bytes: %v; want truncated", suite, n, len(msg), err)
			}
		}
		if _, err := decrypt(kr, append(bytes.Clone(msg), 0), esdk.DecryptOptions{}); !errors.Is(err, esdk.ErrFormat) {
			t.Fatalf("trailing byte: %v", err)
		}
	}
}

func TestFrameReordering(t *testing.T) {
	kr := newWrapKeyring("k1")
	msg, at := framedMessage(t, kr, 0x0478)
	f1, f2 := msg[at:at+regular], msg[at+regular:at+2*regular]
	swapped := bytes.Join([][]byte{msg[:at], f2, f1, msg[at+2*regular:]}, nil)
	_, err := decrypt(kr, swapped, esdk.DecryptOptions{})
	var e *esdk.Error
	if !errors.Is(err, esdk.ErrTampered) || !errors.As(err, &e) || e.Frame != 1 {
		t.Fatalf("swapped frames: %v", err)
	}
	// Renumbered to look in order, the frame fails its tag (the sequence
	// number is in the AAD and the IV).
	binary.BigEndian.PutUint32(swapped[at:], 1)
	binary.BigEndian.PutUint32(swapped[at+regular:], 2)
	if _, err := decrypt(kr, swapped, esdk.DecryptOptions{}); !errors.Is(err, esdk.ErrTampered) {
		t.Fatalf("renumbered frames: %v", err)
	}
	// A dropped frame.
	dropped := bytes.Join([][]byte{msg[:at], f2, msg[at+2*regular:]}, nil)
	if _, err := decrypt(kr, dropped, esdk.DecryptOptions{}); !errors.Is(err, esdk.ErrTampered) {
		t.Fatalf("dropped frame: %v", err)
	}
}

func TestSignatureStripping(t *testing.T) {
	kr := newWrapKeyring("k1")
	msg, at := framedMessage(t, kr, 0x0578)
	footerAt := at + 3*regular + (4 + 4 + 12 + 4 + 16 + 16) // the final frame holds 16 bytes
	if l := int(binary.BigEndian.Uint16(msg[footerAt:])); footerAt+2+l != len(msg) {
		t.Fatalf("footer at %d says %d bytes; message is %d", footerAt, l, len(msg))
	}
	stripped := msg[:footerAt]
	if _, err := decrypt(kr, stripped, esdk.DecryptOptions{}); !errors.Is(err, esdk.ErrTruncated) {
		t.Fatalf("stripped footer: %v", err)
	}
	// Claiming the unsigned suite breaks the header tag.
	downgraded := bytes.Clone(stripped)
	binary.BigEndian.PutUint16(downgraded[1:], 0x0478)
	_, err := decrypt(kr, downgraded, esdk.DecryptOptions{})
	if err == nil || !(errors.Is(err, esdk.ErrTampered) || errors.Is(err, esdk.ErrFormat)) {
		t.Fatalf("downgraded suite: %v", err)
	}
	// Another message's valid signature does not verify.
	other, _ := framedMessage(t, kr, 0x0578)
	if _, err := decrypt(kr, append(bytes.Clone(stripped), other[footerAt:]...), esdk.DecryptOptions{}); !errors.Is(err, esdk.ErrTampered) {
		t.Fatalf("foreign signature: %v", err)
	}
}

// TestNonFramedMessage decrypts a version 1 non-framed message built by
// hand (no SDK writes them any more, all of them read them).
func TestNonFramedMessage(t *testing.T) {
	kr := newWrapKeyring("k1")
	kr.dataKey = bytes.Repeat([]byte{9}, 32)
	s := esdk.SuiteByID(0x0078) // identity KDF: the data key encrypts
	_, edks, _ := kr.GenerateDataKey(context.Background(), s, nil)
	msgID := bytes.Repeat([]byte{1}, 16)
	var h bytes.Buffer
	h.Write([]byte{1, 0x80, 0x00, 0x78})
	h.Write(msgID)
	h.Write([]byte{0, 0}) // empty context
	h.Write([]byte{0, 1}) // one data key
	for _, f := range [][]byte{[]byte(edks[0].ProviderID), edks[0].ProviderInfo, edks[0].Ciphertext} {
		h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(f))))
		h.Write(f)
	}
	h.Write([]byte{1, 0, 0, 0, 0, 12, 0, 0, 0, 0}) // non-framed, reserved, IV length, frame length 0
	blk, _ := aes.NewCipher(kr.dataKey)
	gcm, _ := cipher.NewGCM(blk)
	iv := make([]byte, 12)
	tag := gcm.Seal(nil, iv, nil, h.Bytes())
	msg := append(append(bytes.Clone(h.Bytes()), iv...), tag...)
	pt := []byte("a non-framed body")
	biv := binary.BigEndian.AppendUint32(make([]byte, 8), 1)
	aad := append(append(bytes.Clone(msgID), "AWSKMSEncryptionClient Single Block"...), binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, 1), uint64(len(pt)))...)
	msg = append(msg, biv...)
	msg = binary.BigEndian.AppendUint64(msg, uint64(len(pt)))
	msg = gcm.Seal(msg, biv, pt, aad)
	got, err := decrypt(kr, msg, esdk.DecryptOptions{Policy: anyPolicy})
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("non-framed: %q, %v", got, err)
	}
	if _, err := decrypt(kr, msg, esdk.DecryptOptions{Policy: anyPolicy, MaxFrameLength: 5}); !errors.Is(err, esdk.ErrPolicy) {
		t.Fatalf("over the limit: %v", err)
	}
	msg[len(msg)-1] ^= 1
	if _, err := decrypt(kr, msg, esdk.DecryptOptions{Policy: anyPolicy}); !errors.Is(err, esdk.ErrTampered) {
		t.Fatalf("tampered: %v", err)
	}
}

// gatedReader fails a test if more than limit bytes are read before open
// is closed.
type gatedReader struct {
	t     *testing.T
	r     io.Reader
	n     int
	limit int
	open  chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	select {
	case <-g.open:
	default:
		if g.n+len(p) > g.limit {
			p = p[:max(g.limit-g.n, 0)]
			if len(p) == 0 {
				g.t.Errorf("decrypter read past %d bytes before it returned the first frame", g.limit)
				return 0, errors.New("read too far")
			}
		}
	}
	n, err := g.r.Read(p)
	g.n += n
	return n, err
}

// TestDecryptStreams checks structurally that decryption streams: the
// first frame's plaintext comes out before more than one frame and the
// read-ahead buffer have been read, from a message of 400 frames.
func TestDecryptStreams(t *testing.T) {
	kr := newWrapKeyring("k1")
	const frame = 4096
	pt := make([]byte, 400*frame)
	msg := encrypt(t, kr, esdk.SuiteByID(0x0578), frame, nil, pt)
	h, _ := esdk.ParseHeader(bytes.NewReader(msg), esdk.Limits{})
	g := &gatedReader{t: t, r: bytes.NewReader(msg), limit: len(h.Bytes()) + (4 + 12 + frame + 16) + 32<<10, open: make(chan struct{})}
	d, err := esdk.NewDecrypter(context.Background(), g, esdk.DecryptOptions{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, frame)
	if _, err := io.ReadFull(d, first); err != nil {
		t.Fatal(err)
	}
	close(g.open)
	rest, err := io.ReadAll(d)
	if err != nil || len(rest) != len(pt)-frame {
		t.Fatalf("rest: %d bytes, %v", len(rest), err)
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestConstantMemory streams 256 MiB through encrypt and decrypt over a
// pipe and checks, loosely, that the heap stays far below the stream's
// size.
func TestConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MiB")
	}
	kr := newWrapKeyring("k1")
	const size = 256 << 20
	pr, pw := io.Pipe()
	go func() {
		e, err := esdk.NewEncrypter(context.Background(), pw, esdk.EncryptOptions{Keyring: kr})
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		if _, err := io.Copy(e, io.LimitReader(zeros{}, size)); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(e.Close())
	}()
	d, err := esdk.NewDecrypter(context.Background(), pr, esdk.DecryptOptions{Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	peak := uint64(0)
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}()
	n, err := io.Copy(io.Discard, d)
	close(done)
	if err != nil || n != size {
		t.Fatalf("%d bytes, %v", n, err)
	}
	if peak > 32<<20 {
		t.Fatalf("heap in use peaked at %d MiB streaming %d MiB", peak>>20, size>>20)
	}
	t.Logf("heap in use peaked at %.1f MiB", float64(peak)/(1<<20))
}
