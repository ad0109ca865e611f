// Package peer links Trent deployments that serve different regions, so
// that a multi-Region key can have replicas in another deployment (two
// data centres, each with its own database and root key).
//
// # Security
//
// Deployments talk over HTTPS with mutual TLS (TLS 1.3): each presents a
// certificate signed by the peering CA of the configuration, and a
// deployment accepts requests only from a client certificate that names
// one of its configured peers (a DNS name of the certificate equals the
// peer's name). On top of TLS, every key material a change carries is
// sealed to the receiving deployment with HPKE (RFC 9180,
// ML-KEM-768+X25519, HKDF-SHA256, AES-256-GCM; Go's crypto/hpke) under a
// wrapping key that the receiver draws at start and keeps in memory only,
// bound to the key's region, account, id and material id: material is
// never in plaintext on the wire, in a log or on disk. A peer may change
// only keys of multi-Region sets that have a key in a region it serves
// ([kms.Service.ApplyPeerChange]).
//
// # Protocol
//
//	GET  /peer/v1/wrapping-key  {"PublicKey": base64}: the receiver's HPKE public key
//	POST /peer/v1/changes       a kms.MemberChange, materials Wrapped; 204, or
//	                            409 (Create found the key), 410 (no such key),
//	                            400 {"Code","Message"}
//	                            (a KMS error to pass on, or "WrappingKeyChanged"),
//	                            403 (not a configured peer), 500
package peer

import (
	"bytes"
	"context"
	"crypto/hpke"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Peer is another deployment: its name (a DNS name in its certificate),
// its peering URL and the regions it serves.
type Peer struct {
	Name    string
	URL     string
	Regions []string
}

// Config configures a Link.
type Config struct {
	Peers []Peer
	// TLS holds this deployment's certificate and the peering CA, as
	// RootCAs (to check peers' server certificates) and ClientCAs (to
	// check their client certificates).
	TLS    *tls.Config
	Logger *slog.Logger // nil discards
}

// Link is this deployment's side of its peer links: a [kms.Peers] for the
// KMS service and, through Handler, the server peers call.
type Link struct {
	peers    []Peer
	byRegion map[string]*remote
	client   *http.Client
	wrapKey  hpke.PrivateKey
	log      *slog.Logger
}

var _ kms.Peers = (*Link)(nil)

// remote is one peer as a client sees it.
type remote struct {
	Peer
	mu  sync.Mutex
	pub hpke.PublicKey // its wrapping key, fetched on first use
}

// HPKE suite of material wrapping.
var (
	kem  = hpke.MLKEM768X25519()
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES256GCM()
)

const maxBody = 8 << 20 // a change holds every material of a key, wrapped

// New returns a Link. It draws the wrapping key peers seal material to.
func New(cfg Config) (*Link, error) {
	if cfg.TLS == nil || len(cfg.TLS.Certificates) == 0 || cfg.TLS.RootCAs == nil || cfg.TLS.ClientCAs == nil {
		return nil, errors.New("peer: Config.TLS needs a certificate, RootCAs and ClientCAs")
	}
	l := &Link{peers: cfg.Peers, byRegion: map[string]*remote{}, log: cfg.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	for _, p := range cfg.Peers {
		r := &remote{Peer: p}
		for _, reg := range p.Regions {
			if _, dup := l.byRegion[reg]; dup {
				return nil, fmt.Errorf("peer: region %s is served by two peers", reg)
			}
			l.byRegion[reg] = r
		}
	}
	var err error
	if l.wrapKey, err = kem.GenerateKey(); err != nil {
		return nil, fmt.Errorf("peer: wrapping key: %w", err)
	}
	ct := cfg.TLS.Clone()
	ct.MinVersion = tls.VersionTLS13
	ct.ClientCAs, ct.ClientAuth = nil, tls.NoClientCert
	l.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: ct, ForceAttemptHTTP2: true},
		// A peer answers; it never sends this deployment elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return l, nil
}

// ServerTLS returns the TLS configuration of the peering listener: client
// certificates are required and checked against the peering CA.
func ServerTLS(base *tls.Config) *tls.Config {
	c := base.Clone()
	c.MinVersion = tls.VersionTLS13
	c.ClientAuth = tls.RequireAndVerifyClientCert
	return c
}

// Serves reports whether a peer serves region.
func (l *Link) Serves(region string) bool { _, ok := l.byRegion[region]; return ok }

// info binds a wrapped material to its key and material id.
func info(ch *kms.MemberChange, materialID string) []byte {
	return []byte("trent/peer-material/v1\x00" + ch.Region + "\x00" + ch.AccountID + "\x00" + ch.KeyID + "\x00" + materialID)
}

// Send applies ch in the peer that serves its region.
func (l *Link) Send(ctx context.Context, ch *kms.MemberChange) error {
	r := l.byRegion[ch.Region]
	if r == nil {
		return fmt.Errorf("peer: no peer serves %s", ch.Region)
	}
	err := l.send(ctx, r, ch)
	if errors.Is(err, errWrappingKeyChanged) {
		// The peer restarted since its key was fetched: once more with
		// its new key.
		r.mu.Lock()
		r.pub = nil
		r.mu.Unlock()
		err = l.send(ctx, r, ch)
	}
	return err
}

var errWrappingKeyChanged = errors.New("peer: the peer's wrapping key changed")

func (l *Link) send(ctx context.Context, r *remote, ch *kms.MemberChange) error {
	pub, err := l.wrappingKey(ctx, r)
	if err != nil {
		return err
	}
	out := *ch
	out.Materials = make([]kms.MemberMaterial, len(ch.Materials))
	for i, m := range ch.Materials {
		w, err := hpke.Seal(pub, kdf, aead, info(ch, m.ID), m.Raw)
		if err != nil {
			return fmt.Errorf("peer: wrap material %s: %w", m.ID, err)
		}
		out.Materials[i] = kms.MemberMaterial{ID: m.ID, CreatedAt: m.CreatedAt, RotationType: m.RotationType, Wrapped: w}
	}
	body, err := json.Marshal(&out)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(r.URL, "/")+"/peer/v1/changes", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("peer %s: %w", r.Name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil
	case http.StatusConflict:
		return fmt.Errorf("peer %s: %w", r.Name, store.ErrExists)
	case http.StatusGone:
		return fmt.Errorf("peer %s: %w", r.Name, store.ErrNotFound)
	case http.StatusBadRequest:
		var e struct{ Code, Message string }
		if json.Unmarshal(msg, &e) == nil && e.Code != "" {
			if e.Code == "WrappingKeyChanged" {
				return errWrappingKeyChanged
			}
			return &wire.Error{Code: e.Code, Message: e.Message, Err: fmt.Errorf("answer of peer %s", r.Name)}
		}
	}
	return fmt.Errorf("peer %s: %s: %s", r.Name, resp.Status, bytes.TrimSpace(msg))
}

// wrappingKey returns r's wrapping key, fetching it on first use.
func (l *Link) wrappingKey(ctx context.Context, r *remote) (hpke.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pub != nil {
		return r.pub, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(r.URL, "/")+"/peer/v1/wrapping-key", nil)
	if err != nil {
		return nil, err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", r.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("peer %s: wrapping key: %s", r.Name, resp.Status)
	}
	var k struct{ PublicKey []byte }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&k); err != nil {
		return nil, fmt.Errorf("peer %s: wrapping key: %w", r.Name, err)
	}
	pub, err := kem.NewPublicKey(k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("peer %s: wrapping key: %w", r.Name, err)
	}
	r.pub = pub
	return pub, nil
}

// Handler returns the server side of the links: the requests peers make,
// applied to svc.
func (l *Link) Handler(svc *kms.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := l.caller(r)
		if p == nil {
			http.Error(w, "not a configured peer", http.StatusForbidden)
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/peer/v1/wrapping-key":
			writeJSON(w, http.StatusOK, map[string][]byte{"PublicKey": l.wrapKey.PublicKey().Bytes()})
		case r.Method == http.MethodPost && r.URL.Path == "/peer/v1/changes":
			l.change(w, r, svc, p)
		default:
			http.NotFound(w, r)
		}
	})
}

// caller returns the configured peer the client certificate names, or
// nil. The certificate chain was verified by the TLS handshake.
func (l *Link) caller(r *http.Request) *Peer {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return nil
	}
	leaf := r.TLS.VerifiedChains[0][0]
	for i := range l.peers {
		if slices.Contains(leaf.DNSNames, l.peers[i].Name) {
			return &l.peers[i]
		}
	}
	return nil
}

func (l *Link) change(w http.ResponseWriter, r *http.Request, svc *kms.Service, p *Peer) {
	var ch kms.MemberChange
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ch); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"Code": "ValidationException", "Message": "malformed change"})
		return
	}
	defer func() {
		for i := range ch.Materials {
			clear(ch.Materials[i].Raw)
		}
	}()
	for i := range ch.Materials {
		raw, err := hpke.Open(l.wrapKey, kdf, aead, info(&ch, ch.Materials[i].ID), ch.Materials[i].Wrapped)
		if err != nil {
			l.log.Warn("peer change: material does not unwrap", "peer", p.Name, "key_id", ch.KeyID, "material_id", ch.Materials[i].ID)
			writeJSON(w, http.StatusBadRequest, map[string]string{"Code": "WrappingKeyChanged", "Message": "material is not wrapped to this deployment's current key"})
			return
		}
		ch.Materials[i].Raw, ch.Materials[i].Wrapped = raw, nil
	}
	err := svc.ApplyPeerChange(r.Context(), &ch, func(region string) bool { return slices.Contains(p.Regions, region) })
	var we *wire.Error
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, store.ErrExists):
		w.WriteHeader(http.StatusConflict)
	case errors.Is(err, store.ErrNotFound):
		w.WriteHeader(http.StatusGone)
	case errors.As(err, &we):
		writeJSON(w, http.StatusBadRequest, map[string]string{"Code": we.Code, "Message": we.Message})
	default:
		l.log.Error("peer change", "peer", p.Name, "region", ch.Region, "key_id", ch.KeyID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
