package esdk_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/trent-kms/trent/internal/esdk"
)

// wrapKeyring is a local keyring for tests: it wraps data keys with
// AES-GCM under a fixed wrapping key, bound to the key name only. Name
// selects which wrapped keys it accepts.
type wrapKeyring struct {
	name    string
	wrap    []byte
	dataKey []byte // when set, GenerateDataKey returns it (for field checks)
	calls   int
}

func newWrapKeyring(name string) *wrapKeyring {
	k := make([]byte, 32)
	copy(k, name)
	return &wrapKeyring{name: name, wrap: k}
}

func (k *wrapKeyring) gcm() cipher.AEAD {
	b, _ := aes.NewCipher(k.wrap)
	g, _ := cipher.NewGCM(b)
	return g
}

func (k *wrapKeyring) GenerateDataKey(_ context.Context, s *esdk.Suite, _ map[string]string) ([]byte, []esdk.EncryptedDataKey, error) {
	k.calls++
	dk := make([]byte, s.KeyLen)
	if k.dataKey != nil {
		copy(dk, k.dataKey)
	} else {
		rand.Read(dk)
	}
	nonce := make([]byte, 12)
	rand.Read(nonce)
	ct := k.gcm().Seal(nonce, nonce, dk, []byte(k.name))
	return dk, []esdk.EncryptedDataKey{{ProviderID: "test", ProviderInfo: []byte(k.name), Ciphertext: ct}}, nil
}

func (k *wrapKeyring) DecryptDataKey(_ context.Context, s *esdk.Suite, _ map[string]string, edks []esdk.EncryptedDataKey) ([]byte, error) {
	k.calls++
	for _, e := range edks {
		if e.ProviderID != "test" || string(e.ProviderInfo) != k.name || len(e.Ciphertext) < 12 {
			continue
		}
		if dk, err := k.gcm().Open(nil, e.Ciphertext[:12], e.Ciphertext[12:], []byte(k.name)); err == nil {
			return dk, nil
		}
	}
	return nil, &esdk.Error{Kind: esdk.ErrNoKey, Detail: "not for " + k.name}
}

var anyPolicy = esdk.RequireEncryptAllowDecrypt

// encryptPolicy is the policy under which s may encrypt.
func encryptPolicy(s *esdk.Suite) esdk.CommitmentPolicy {
	if s.Commit {
		return esdk.RequireEncryptRequireDecrypt
	}
	return esdk.ForbidEncryptAllowDecrypt
}

func encrypt(t testing.TB, kr esdk.Keyring, s *esdk.Suite, frameLen int, ec map[string]string, pt []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	e, err := esdk.NewEncrypter(context.Background(), &out, esdk.EncryptOptions{Keyring: kr, Suite: s, Policy: encryptPolicy(s), FrameLength: frameLen, Context: ec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write(pt); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func decrypt(kr esdk.Keyring, msg []byte, o esdk.DecryptOptions) ([]byte, error) {
	o.Keyring = kr
	d, err := esdk.NewDecrypter(context.Background(), bytes.NewReader(msg), o)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(d)
}

func TestRoundTripEverySuiteAndFrameEdge(t *testing.T) {
	kr := newWrapKeyring("k1")
	const frame = 64
	for _, s := range esdk.Suites() {
		for _, n := range []int{0, 1, frame - 1, frame, frame + 1, 2 * frame, 3*frame + 7} {
			t.Run(fmt.Sprintf("%s/%d", s.Name, n), func(t *testing.T) {
				pt := make([]byte, n)
				rand.Read(pt)
				msg := encrypt(t, kr, s, frame, map[string]string{"purpose": "test"}, pt)
				got, err := decrypt(kr, msg, esdk.DecryptOptions{Policy: anyPolicy, RequiredContext: map[string]string{"purpose": "test"}})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, pt) {
					t.Fatalf("plaintext differs")
				}
				// Written in small pieces, the message is as long.
				var out bytes.Buffer
				e, err := esdk.NewEncrypter(context.Background(), &out, esdk.EncryptOptions{Keyring: kr, Suite: s, Policy: encryptPolicy(s), FrameLength: frame})
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < n; i += 5 {
					e.Write(pt[i:min(i+5, n)])
				}
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				if got, err := decrypt(kr, out.Bytes(), esdk.DecryptOptions{Policy: anyPolicy}); err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("piecewise: %v", err)
				}
			})
		}
	}
}

func TestWrongKeyAndPolicies(t *testing.T) {
	kr := newWrapKeyring("k1")
	s := esdk.SuiteByID(esdk.DefaultSuite)
	msg := encrypt(t, kr, s, 0, map[string]string{"a": "1"}, []byte("hello"))
	if _, err := decrypt(newWrapKeyring("k2"), msg, esdk.DecryptOptions{}); !errors.Is(err, esdk.ErrNoKey) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := decrypt(kr, msg, esdk.DecryptOptions{RequiredContext: map[string]string{"b": "1"}}); !errors.Is(err, esdk.ErrContext) {
		t.Fatalf("missing context: %v", err)
	}
	if _, err := decrypt(kr, msg, esdk.DecryptOptions{RequiredContext: map[string]string{"a": "2"}}); !errors.Is(err, esdk.ErrContext) {
		t.Fatalf("wrong context value: %v", err)
	}
	v1 := encrypt(t, kr, esdk.SuiteByID(0x0378), 0, nil, []byte("hello"))
	if _, err := decrypt(kr, v1, esdk.DecryptOptions{}); !errors.Is(err, esdk.ErrPolicy) {
		t.Fatalf("non-committing under require-decrypt: %v", err)
	}
	if got, err := decrypt(kr, v1, esdk.DecryptOptions{Policy: esdk.ForbidEncryptAllowDecrypt}); err != nil || string(got) != "hello" {
		t.Fatalf("forbid-encrypt-allow-decrypt: %v", err)
	}
	_, err := esdk.NewEncrypter(context.Background(), io.Discard, esdk.EncryptOptions{Keyring: kr, Suite: esdk.SuiteByID(0x0378)})
	if !errors.Is(err, esdk.ErrPolicy) {
		t.Fatalf("encrypting non-committing under require-encrypt: %v", err)
	}
	_, err = esdk.NewEncrypter(context.Background(), io.Discard, esdk.EncryptOptions{Keyring: kr, Policy: esdk.ForbidEncryptAllowDecrypt})
	if !errors.Is(err, esdk.ErrPolicy) {
		t.Fatalf("encrypting committing under forbid-encrypt: %v", err)
	}
	_, err = esdk.NewEncrypter(context.Background(), io.Discard, esdk.EncryptOptions{Keyring: kr, Context: map[string]string{"aws-crypto-public-key": "x"}})
	if !errors.Is(err, esdk.ErrContext) {
		t.Fatalf("reserved context key: %v", err)
	}
	for _, fl := range []int{-1, esdk.MaxFrameLength + 1} {
		if _, err = esdk.NewEncrypter(context.Background(), io.Discard, esdk.EncryptOptions{Keyring: kr, FrameLength: fl}); !errors.Is(err, esdk.ErrPolicy) {
			t.Fatalf("frame length %d: %v", fl, err)
		}
	}
}

// multiKeyring returns the data keys of several wrapKeyrings, as a KMS
// keyring with several keys does.
type multiKeyring []*wrapKeyring

func (m multiKeyring) GenerateDataKey(ctx context.Context, s *esdk.Suite, ec map[string]string) ([]byte, []esdk.EncryptedDataKey, error) {
	m[0].dataKey = nil
	dk, edks, _ := m[0].GenerateDataKey(ctx, s, ec)
	for _, k := range m[1:] {
		k.dataKey = dk
		_, e, _ := k.GenerateDataKey(ctx, s, ec)
		edks = append(edks, e...)
	}
	return dk, edks, nil
}

func (m multiKeyring) DecryptDataKey(context.Context, *esdk.Suite, map[string]string, []esdk.EncryptedDataKey) ([]byte, error) {
	panic("unused")
}

func TestMaxDataKeys(t *testing.T) {
	var m multiKeyring
	for i := range 3 {
		m = append(m, newWrapKeyring(fmt.Sprint("k", i)))
	}
	_, err := esdk.NewEncrypter(context.Background(), io.Discard, esdk.EncryptOptions{Keyring: m, MaxDataKeys: 2})
	if !errors.Is(err, esdk.ErrPolicy) {
		t.Fatalf("3 keys, limit 2: %v", err)
	}
	var out bytes.Buffer
	e, err := esdk.NewEncrypter(context.Background(), &out, esdk.EncryptOptions{Keyring: m, MaxDataKeys: 3})
	if err != nil {
		t.Fatal(err)
	}
	e.Write([]byte("multi"))
	e.Close()
	for i, k := range m { // any one key decrypts
		if got, err := decrypt(k, out.Bytes(), esdk.DecryptOptions{}); err != nil || string(got) != "multi" {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if _, err := decrypt(m[2], out.Bytes(), esdk.DecryptOptions{MaxDataKeys: 2}); !errors.Is(err, esdk.ErrPolicy) {
		t.Fatalf("decrypt over the limit: %v", err)
	}
	if m[2].calls != 3 { // two encryptions and one decryption: the refused one never asked the keyring
		t.Fatalf("keyring called %d times; want 3", m[2].calls)
	}
}
