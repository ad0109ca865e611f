package iam

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
)

// Session credentials are stateless: nothing is stored when a role is
// assumed. The session token carries, sealed under the root key, the
// session's secret access key and everything the session stands for; the
// fields that identify it (access key id, account, role ARN, session name,
// expiry) are also in clear in the token's header and bound to the sealed
// part as authenticated data (keystore.BoundAAD with the label
// "trent/session-token/v1"). Every node sharing the root key therefore
// accepts a session created on any of them, and a token altered in any
// bit, or presented with another access key id, does not open.
//
// Token layout (then base64url without padding, strict):
//
//	"T1" | u16 len | access key id | u16 len | account | u16 len | role ARN |
//	u16 len | session name | i64 expiry (Unix seconds, big-endian) | sealed payload
//
// The sealed payload is the JSON of sessionPayload.

// ErrSessionExpired is returned by [Service.Session] for a session token
// that is authentic but whose expiry has passed.
var ErrSessionExpired = errors.New("iam: session token expired")

// ErrInvalidSession is returned by [Service.Session] for a token that does
// not open, is not for the access key id, or whose role no longer exists
// (or was deleted and created again).
var ErrInvalidSession = errors.New("iam: invalid session token")

const (
	tokenMagic = "T1"
	tokenLabel = "trent/session-token/v1"
	// maxTokenLen bounds a presented token before any work; a token with
	// 50 session tags of the longest keys and values stays well below.
	maxTokenLen = 16 << 10
)

var tokenEncoding = base64.RawURLEncoding.Strict()

// sessionPayload is what the sealed part of a token holds.
type sessionPayload struct {
	Secret         string       `json:"sk"`
	RoleID         string       `json:"rid"`
	RoleName       string       `json:"rn"`
	Issued         int64        `json:"iat"`
	Tags           []policy.Tag `json:"tags,omitempty"` // session tags, in the order given
	TransitiveKeys []string     `json:"tt,omitempty"`
	Chained        bool         `json:"ch,omitempty"` // assumed with role credentials
	SourceIdentity string       `json:"si,omitempty"`
	Federated      string       `json:"fed,omitempty"` // web identity: the provider ARN
	Subject        string       `json:"sub,omitempty"` // web identity: the token's sub
}

// Session is an authenticated role session.
type Session struct {
	AccessKeyID string
	AccountID   string
	RoleARN     string // arn:aws:iam::ACCOUNT:role/PATH/NAME
	RoleName    string
	RoleID      string // AROA...
	Name        string // the role session name
	Expiration  time.Time
	// Tags are the session tags (aws:PrincipalTag beside the role's tags,
	// which they override); TransitiveKeys the keys that pass on to a
	// chained session.
	Tags           []policy.Tag
	TransitiveKeys []string
	Chained        bool
	SourceIdentity string
	Federated      string
	Subject        string
	secret         string
	token          string
}

// Secret returns the session's secret access key, for SigV4 only.
func (s *Session) Secret() string { return s.secret }

// ValidToken reports, in constant time, whether t is the session's token.
func (s *Session) ValidToken(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(s.token)) == 1
}

// ARN returns the session's principal ARN,
// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION (the role's path is not
// part of it, as in AWS).
func (s *Session) ARN() string {
	return AssumedRoleARN(s.AccountID, s.RoleName, s.Name)
}

// AssumedRoleARN returns a role session's ARN in the "aws" partition.
func AssumedRoleARN(accountID, roleName, session string) string {
	return "arn:aws:sts::" + accountID + ":assumed-role/" + roleName + "/" + session
}

// Principal returns the session as policies see it; roleTags are the
// role's current tags, which the session tags override key by key
// (case-insensitively).
func (s *Session) Principal(roleTags []store.Tag) policy.Principal {
	var tags []policy.Tag
	for _, t := range roleTags {
		if !hasTagKey(s.Tags, t.Key) {
			tags = append(tags, policy.Tag{Key: t.Key, Value: t.Value})
		}
	}
	tags = append(tags, s.Tags...)
	return policy.Principal{Type: policy.PrincipalAssumedRole, ARN: s.ARN(), Account: s.AccountID, RoleARN: s.RoleARN,
		UserID: s.RoleID + ":" + s.Name, Tags: tags}
}

func hasTagKey(tags []policy.Tag, key string) bool {
	for _, t := range tags {
		if strings.EqualFold(t.Key, key) {
			return true
		}
	}
	return false
}

// IsSessionKey reports whether an access key id is a session key's.
func IsSessionKey(accessKeyID string) bool { return strings.HasPrefix(accessKeyID, "ASIA") }

func tokenAAD(akid, account, roleARN, name string, exp int64) []byte {
	return keystore.BoundAAD(tokenLabel, akid, account, roleARN, name, strconv.FormatInt(exp, 10))
}

// newSession creates session credentials for the role: a fresh ASIA
// access key id and secret, and the sealed token.
func (s *Service) newSession(role store.Entity, name string, exp time.Time, p sessionPayload) (*Session, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return nil, err
	}
	akid := "ASIA" + base32.StdEncoding.EncodeToString(b)
	sb := make([]byte, 30)
	if _, err := io.ReadFull(s.rand, sb); err != nil {
		return nil, err
	}
	p.Secret = base64.StdEncoding.EncodeToString(sb)
	p.RoleID, p.RoleName, p.Issued = role.ID, role.Name, s.now().Unix()
	roleARN := RoleARN(role.AccountID, role.Path, role.Name)
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	sealed, err := s.root.Seal(plain, tokenAAD(akid, role.AccountID, roleARN, name, exp.Unix()))
	if err != nil {
		return nil, fmt.Errorf("seal session token: %w", err)
	}
	var raw []byte
	raw = append(raw, tokenMagic...)
	for _, f := range []string{akid, role.AccountID, roleARN, name} {
		raw = binary.BigEndian.AppendUint16(raw, uint16(len(f)))
		raw = append(raw, f...)
	}
	raw = binary.BigEndian.AppendUint64(raw, uint64(exp.Unix()))
	raw = append(raw, sealed...)
	return &Session{AccessKeyID: akid, AccountID: role.AccountID, RoleARN: roleARN, RoleName: role.Name, RoleID: role.ID,
		Name: name, Expiration: time.Unix(exp.Unix(), 0).UTC(), Tags: p.Tags, TransitiveKeys: p.TransitiveKeys,
		Chained: p.Chained, SourceIdentity: p.SourceIdentity, Federated: p.Federated, Subject: p.Subject,
		secret: p.Secret, token: tokenEncoding.EncodeToString(raw)}, nil
}

// openToken authenticates a token presented with accessKeyID and returns
// its session, without checking expiry or the role.
func (s *Service) openToken(accessKeyID, token string) (*Session, error) {
	if len(token) > maxTokenLen {
		return nil, ErrInvalidSession
	}
	raw, err := tokenEncoding.DecodeString(token)
	if err != nil || len(raw) < len(tokenMagic) || string(raw[:len(tokenMagic)]) != tokenMagic {
		return nil, ErrInvalidSession
	}
	rest := raw[len(tokenMagic):]
	var f [4]string
	for i := range f {
		if len(rest) < 2 {
			return nil, ErrInvalidSession
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+n {
			return nil, ErrInvalidSession
		}
		f[i], rest = string(rest[2:2+n]), rest[2+n:]
	}
	if len(rest) < 8 {
		return nil, ErrInvalidSession
	}
	exp := int64(binary.BigEndian.Uint64(rest))
	sealed := rest[8:]
	// The key id is compared before opening: a token presented with
	// another key id is refused without touching the root.
	if subtle.ConstantTimeCompare([]byte(f[0]), []byte(accessKeyID)) != 1 {
		return nil, ErrInvalidSession
	}
	plain, err := s.root.Open(sealed, tokenAAD(f[0], f[1], f[2], f[3], exp))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSession, err)
	}
	defer clear(plain)
	var p sessionPayload
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrInvalidSession, err)
	}
	return &Session{AccessKeyID: f[0], AccountID: f[1], RoleARN: f[2], RoleName: p.RoleName, RoleID: p.RoleID, Name: f[3],
		Expiration: time.Unix(exp, 0).UTC(), Tags: p.Tags, TransitiveKeys: p.TransitiveKeys, Chained: p.Chained,
		SourceIdentity: p.SourceIdentity, Federated: p.Federated, Subject: p.Subject, secret: p.Secret, token: token}, nil
}

// Session authenticates the session token presented with a session
// access key id. It returns the session and the role's current tags; or
// ErrInvalidSession (the token does not open, is not for this key id, or
// its role was deleted, or deleted and created again), or
// ErrSessionExpired (authentic but expired). Whether the role still exists
// is read through a cache trusted for Config.CacheTTL, so a role deleted
// through another node stops its sessions here within that time; a role
// deleted through this node stops them at once.
func (s *Service) Session(ctx context.Context, accessKeyID, token string) (*Session, []store.Tag, error) {
	sess, err := s.openToken(accessKeyID, token)
	if err != nil {
		return nil, nil, err
	}
	if !s.now().Before(sess.Expiration) {
		return nil, nil, ErrSessionExpired
	}
	role, err := s.cachedRole(ctx, sess.AccountID, sess.RoleName)
	if errors.Is(err, store.ErrNotFound) || err == nil && role.ID != sess.RoleID {
		return nil, nil, fmt.Errorf("%w: role %s no longer exists", ErrInvalidSession, sess.RoleARN)
	}
	if err != nil {
		return nil, nil, err
	}
	return sess, role.Tags, nil
}

type cachedRole struct {
	e      store.Entity
	err    error // store.ErrNotFound is cached too
	loaded time.Time
}

// cachedRole returns the role through the per-node role cache (see
// [Service.Session]).
func (s *Service) cachedRole(ctx context.Context, accountID, name string) (store.Entity, error) {
	ref := entityRef{accountID, store.KindRole, strings.ToLower(name)}
	s.pmu.RLock()
	cr, ok := s.rcache[ref]
	gen := s.pgen
	s.pmu.RUnlock()
	if ok && (s.ttl == 0 || s.now().Sub(cr.loaded) < s.ttl) {
		return cr.e, cr.err
	}
	e, err := s.store.GetEntity(ctx, accountID, store.KindRole, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Entity{}, err
	}
	s.pmu.Lock()
	if s.pgen == gen {
		if len(s.rcache) >= maxCachedPolicySets {
			clear(s.rcache)
		}
		s.rcache[ref] = cachedRole{e: e, err: err, loaded: s.now()}
	}
	s.pmu.Unlock()
	return e, err
}
