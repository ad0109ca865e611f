//go:build cgo

package hsm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Supported reports whether this build can use PKCS#11 tokens: true with
// cgo.
const Supported = true

// sessions is how many PKCS#11 sessions a connection keeps: a session
// runs one operation at a time.
const sessions = 4

// A PKCS#11 module is loaded and initialized once per process, and its
// login state is per token and process: the registries below keep one
// context per module path and remember which custom key store is logged
// in to which token.
var modules = struct {
	sync.Mutex
	ctx    map[string]*pkcs11.Ctx
	logins map[string]string // module path and slot -> custom key store id
}{ctx: map[string]*pkcs11.Ctx{}, logins: map[string]string{}}

func loadModule(path string) (*pkcs11.Ctx, error) {
	modules.Lock()
	defer modules.Unlock()
	if p := modules.ctx[path]; p != nil {
		return p, nil
	}
	p := pkcs11.New(path)
	if p == nil {
		return nil, fmt.Errorf("hsm: cannot load PKCS#11 module %s", path)
	}
	if err := p.Initialize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		p.Destroy()
		return nil, fmt.Errorf("hsm: initialize PKCS#11 module %s: %w", path, err)
	}
	modules.ctx[path] = p
	return p, nil
}

func isCode(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}

// findSlot returns the slot of the cluster's token.
func findSlot(p *pkcs11.Ctx, cl *Cluster) (uint, error) {
	slots, err := p.GetSlotList(true)
	if err != nil {
		return 0, err
	}
	for _, s := range slots {
		if cl.Slot != nil {
			if s == *cl.Slot {
				return s, nil
			}
			continue
		}
		ti, err := p.GetTokenInfo(s)
		if err == nil && strings.TrimRight(ti.Label, " \x00") == cl.TokenLabel {
			return s, nil
		}
	}
	return 0, errors.New("hsm: token not found")
}

// conn is a logged-in connection to a token: a pool of sessions. Every
// operation holds mu for reading; Close takes it for writing, so it waits
// for operations under way and the ones after it fail.
type conn struct {
	p       *pkcs11.Ctx
	slot    uint
	login   string // key of modules.logins
	cluster string
	pool    chan pkcs11.SessionHandle
	mu      sync.RWMutex
	closed  atomic.Bool
}

func connect(ctx context.Context, cl *Cluster, rec store.CustomKeyStore, pin []byte) (kms.KeyStoreConn, error) {
	fail := func(code string, err error) (kms.KeyStoreConn, error) {
		return nil, &kms.ConnectError{Code: code, Err: err}
	}
	p, err := loadModule(cl.Module)
	if err != nil {
		return fail("NETWORK_ERRORS", err)
	}
	slot, err := findSlot(p, cl)
	if err != nil {
		return fail("CLUSTER_NOT_FOUND", fmt.Errorf("cluster %s: %w", cl.ID, err))
	}
	login := fmt.Sprintf("%s#%d", cl.Module, slot)
	modules.Lock()
	holder := modules.logins[login]
	if holder == "" {
		modules.logins[login] = rec.ID
	}
	modules.Unlock()
	if holder != "" {
		return fail("USER_LOGGED_IN", fmt.Errorf("cluster %s: custom key store %s is logged in to the token", cl.ID, holder))
	}
	c := &conn{p: p, slot: slot, login: login, cluster: cl.ID, pool: make(chan pkcs11.SessionHandle, sessions)}
	release := func() {
		for len(c.pool) > 0 {
			p.CloseSession(<-c.pool)
		}
		modules.Lock()
		delete(modules.logins, login)
		modules.Unlock()
	}
	for range sessions {
		sh, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			release()
			return fail("NETWORK_ERRORS", fmt.Errorf("cluster %s: open session: %w", cl.ID, err))
		}
		c.pool <- sh
	}
	sh := <-c.pool
	err = p.Login(sh, pkcs11.CKU_USER, string(pin))
	c.pool <- sh
	if err != nil {
		code := "INTERNAL_ERROR"
		switch {
		case isCode(err, pkcs11.CKR_PIN_INCORRECT), isCode(err, pkcs11.CKR_PIN_INVALID), isCode(err, pkcs11.CKR_PIN_LEN_RANGE):
			code = "INVALID_CREDENTIALS"
		case isCode(err, pkcs11.CKR_PIN_LOCKED), isCode(err, pkcs11.CKR_PIN_EXPIRED):
			code = "USER_LOCKED_OUT"
		case isCode(err, pkcs11.CKR_USER_PIN_NOT_INITIALIZED):
			code = "USER_NOT_FOUND"
		case isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN), isCode(err, pkcs11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN):
			code = "USER_LOGGED_IN"
		case isCode(err, pkcs11.CKR_DEVICE_ERROR), isCode(err, pkcs11.CKR_DEVICE_REMOVED), isCode(err, pkcs11.CKR_TOKEN_NOT_PRESENT):
			code = "NETWORK_ERRORS"
		}
		release()
		return fail(code, fmt.Errorf("cluster %s: login: %w", cl.ID, err))
	}
	return c, nil
}

// errUnavailable wraps err, a failure that means the token or the login
// is gone, with kms.ErrKeyStoreUnavailable.
func unavailable(err error) error {
	for _, code := range []uint{pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_USER_NOT_LOGGED_IN,
		pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED} {
		if isCode(err, code) {
			return fmt.Errorf("%w: %w", kms.ErrKeyStoreUnavailable, err)
		}
	}
	return err
}

var errClosed = fmt.Errorf("%w: the connection is closed", kms.ErrKeyStoreUnavailable)

// do runs fn with a session of the pool.
func (c *conn) do(fn func(sh pkcs11.SessionHandle) error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed.Load() {
		return errClosed
	}
	sh := <-c.pool
	defer func() { c.pool <- sh }()
	return unavailable(fn(sh))
}

// Close logs out and closes the sessions, after the operations under way.
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sh := <-c.pool
	err := c.p.Logout(sh)
	c.p.CloseSession(sh)
	for len(c.pool) > 0 {
		c.p.CloseSession(<-c.pool)
	}
	modules.Lock()
	delete(modules.logins, c.login)
	modules.Unlock()
	if err != nil && !isCode(err, pkcs11.CKR_USER_NOT_LOGGED_IN) {
		return fmt.Errorf("hsm: logout: %w", err)
	}
	return nil
}

// NewKey generates the AES-256 key of k in the token: a token object,
// private, sensitive and not extractable, that can only encrypt and
// decrypt, labelled with the key id; its CKA_ID is the material id.
func (c *conn) NewKey(ctx context.Context, k *store.Key, in *wire.CreateKeyRequest) error {
	matID, err := keystore.GenerateMaterialID(rand.Reader)
	if err != nil {
		return err
	}
	idBytes, _ := hex.DecodeString(matID)
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, keystore.SymmetricKeySize),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.KeyID),
		pkcs11.NewAttribute(pkcs11.CKA_ID, idBytes),
	}
	err = c.do(func(sh pkcs11.SessionHandle) error {
		_, err := c.p.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, tmpl)
		return err
	})
	if err != nil {
		return fmt.Errorf("hsm: generate key %s in cluster %s: %w", k.KeyID, c.cluster, err)
	}
	k.CurrentMaterialID = matID
	k.Materials = []store.Material{{ID: matID, CreatedAt: k.CreationDate}}
	k.CloudHsmClusterID = c.cluster
	return nil
}

// find returns the handle of k's key object.
func (c *conn) find(sh pkcs11.SessionHandle, k *store.Key) (pkcs11.ObjectHandle, bool, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.KeyID),
	}
	if err := c.p.FindObjectsInit(sh, tmpl); err != nil {
		return 0, false, err
	}
	hs, _, err := c.p.FindObjects(sh, 2)
	if ferr := c.p.FindObjectsFinal(sh); err == nil {
		err = ferr
	}
	if err != nil {
		return 0, false, err
	}
	switch len(hs) {
	case 0:
		return 0, false, nil
	case 1:
		return hs[0], true, nil
	}
	return 0, false, fmt.Errorf("hsm: more than one key labelled %s in cluster %s", k.KeyID, c.cluster)
}

// Engine returns the engine of k's key object.
func (c *conn) Engine(k *store.Key) (kms.Engine, error) {
	var h pkcs11.ObjectHandle
	err := c.do(func(sh pkcs11.SessionHandle) error {
		var ok bool
		var err error
		h, ok, err = c.find(sh, k)
		if err == nil && !ok {
			err = fmt.Errorf("hsm: key %s has no key object in cluster %s", k.KeyID, c.cluster)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &engine{c: c, h: h, materialID: k.CurrentMaterialID}, nil
}

// DestroyKey destroys k's key object; a key object already gone is not an
// error.
func (c *conn) DestroyKey(ctx context.Context, k *store.Key) error {
	return c.do(func(sh pkcs11.SessionHandle) error {
		h, ok, err := c.find(sh, k)
		if err != nil || !ok {
			return err
		}
		return c.p.DestroyObject(sh, h)
	})
}

// engine is the [kms.Engine] of a key object: SealBlob and OpenBlob run
// AES-GCM in the token. It prints as "[redacted]" like the others,
// though it holds only a handle.
type engine struct {
	c          *conn
	h          pkcs11.ObjectHandle
	materialID string
}

// gcm is one call's [keystore.AEAD] over the token: Seal and Open return
// no device error, so it keeps the first one for the engine to report.
type gcm struct {
	e   *engine
	err error
}

const tagBits = 128

func (g *gcm) Seal(dst, nonce, plaintext, aad []byte) []byte {
	var out []byte
	g.err = g.e.c.do(func(sh pkcs11.SessionHandle) error {
		params := pkcs11.NewGCMParams(nonce, aad, tagBits)
		defer params.Free()
		if err := g.e.c.p.EncryptInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, g.e.h); err != nil {
			return err
		}
		ct, err := g.e.c.p.Encrypt(sh, plaintext)
		if err != nil {
			return err
		}
		// An HSM that makes its own IV (CloudHSM, FIPS-mode HSMs) writes
		// it back; the blob must record the one used. nonce is the blob's
		// nonce field (keystore.SealBlob) and is not part of the
		// additional data.
		if iv := params.IV(); len(iv) == len(nonce) && !bytes.Equal(iv, nonce) {
			copy(nonce, iv)
		} else if len(iv) != len(nonce) {
			return fmt.Errorf("hsm: token used a %d-byte IV, want %d", len(iv), len(nonce))
		}
		out = ct
		return nil
	})
	if g.err != nil {
		return dst[:0]
	}
	return append(dst, out...)
}

func (g *gcm) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	var out []byte
	err := g.e.c.do(func(sh pkcs11.SessionHandle) error {
		params := pkcs11.NewGCMParams(nonce, aad, tagBits)
		defer params.Free()
		if err := g.e.c.p.DecryptInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, g.e.h); err != nil {
			return err
		}
		pt, err := g.e.c.p.Decrypt(sh, ciphertext)
		out = pt
		return err
	})
	if errors.Is(err, kms.ErrKeyStoreUnavailable) {
		g.err = err
	}
	if err != nil {
		return nil, err
	}
	return append(dst, out...), nil
}

func (e *engine) SealBlob(rand io.Reader, keyID string, pt []byte, encCtx map[string]string) ([]byte, string, error) {
	g := &gcm{e: e}
	blob, err := keystore.SealBlob(g, rand, keyID, e.materialID, pt, encCtx)
	if g.err != nil {
		return nil, "", g.err
	}
	return blob, e.materialID, err
}

func (e *engine) OpenBlob(c *keystore.Ciphertext, encCtx map[string]string) ([]byte, error) {
	if c.MaterialID != e.materialID {
		return nil, kms.ErrUnknownMaterial
	}
	g := &gcm{e: e}
	pt, err := keystore.OpenBlob(g, c, encCtx)
	if g.err != nil {
		return nil, g.err
	}
	return pt, err
}

func (e *engine) Encrypt(io.Reader, string, []byte) ([]byte, error) { return nil, kms.ErrNoMaterial }
func (e *engine) Decrypt(string, []byte) ([]byte, error)            { return nil, kms.ErrNoMaterial }
func (e *engine) Sign(io.Reader, string, string, []byte) ([]byte, error) {
	return nil, kms.ErrNoMaterial
}
func (e *engine) Verify(string, string, []byte, []byte) error { return kms.ErrNoMaterial }
func (e *engine) MAC(string, []byte) ([]byte, error)          { return nil, kms.ErrNoMaterial }
func (e *engine) VerifyMAC(string, []byte, []byte) error      { return kms.ErrNoMaterial }
func (e *engine) DeriveSharedSecret(string, []byte) ([]byte, error) {
	return nil, kms.ErrNoMaterial
}
func (e *engine) Encapsulate(io.Reader, string) ([]byte, []byte, error) {
	return nil, nil, kms.ErrNoMaterial
}
func (e *engine) Decapsulate(string, []byte) ([]byte, error) { return nil, kms.ErrNoMaterial }
func (e *engine) PublicKey() ([]byte, error)                 { return nil, kms.ErrNoMaterial }

// String returns "[redacted]".
func (e *engine) String() string { return "[redacted]" }
