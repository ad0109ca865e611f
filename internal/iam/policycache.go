package iam

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
)

// maxCachedPolicySets bounds the identity-policy cache: one entry per user
// or role that has called recently.
const maxCachedPolicySets = 10000

type entityRef struct {
	account string
	kind    store.EntityKind
	name    string // lower case: IAM names are unique without regard to case
}

type cachedPolicies struct {
	pols   []*policy.Policy
	loaded time.Time
}

// CachedIdentityPolicies is [Service.IdentityPolicies] for the request
// path: the parsed policies of a user or role are kept in memory, so a
// KMS request by a user does not read and parse its policies every time.
// An IAM write on this node that can change an entity's policies (put or
// delete an inline policy, attach, detach, delete a managed policy or the
// entity) empties the cache at once; other nodes reload within
// Config.CacheTTL (0: until this node writes, right for one node).
func (s *Service) CachedIdentityPolicies(ctx context.Context, accountID string, kind store.EntityKind, name string) ([]*policy.Policy, error) {
	ref := entityRef{accountID, kind, strings.ToLower(name)}
	s.pmu.RLock()
	cp, ok := s.pcache[ref]
	gen := s.pgen
	s.pmu.RUnlock()
	if ok && (s.ttl == 0 || s.now().Sub(cp.loaded) < s.ttl) {
		return cp.pols, nil
	}
	pols, err := s.IdentityPolicies(ctx, accountID, kind, name)
	if err != nil {
		return nil, err
	}
	s.pmu.Lock()
	if s.pgen == gen { // nothing was written meanwhile
		if len(s.pcache) >= maxCachedPolicySets {
			clear(s.pcache)
		}
		s.pcache[ref] = cachedPolicies{pols: pols, loaded: s.now()}
	}
	s.pmu.Unlock()
	return pols, nil
}

// forgetPolicies empties the identity-policy cache after an IAM write.
func (s *Service) forgetPolicies() {
	s.pmu.Lock()
	s.pgen++
	clear(s.pcache)
	clear(s.rcache)
	s.pmu.Unlock()
}

// PrincipalExists reports whether an IAM principal ARN names an existing
// principal of this server: a user or role (by its name; the path is not
// compared), or an assumed-role session of an existing role. Account ids
// and root ARNs are checked by the caller against the accounts.
func (s *Service) PrincipalExists(ctx context.Context, arn string) (bool, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return false, nil
	}
	account, resource := parts[4], parts[5]
	var kind store.EntityKind
	var name string
	switch {
	case parts[2] == "iam" && strings.HasPrefix(resource, "user/"):
		kind, name = store.KindUser, resource[strings.LastIndexByte(resource, '/')+1:]
	case parts[2] == "iam" && strings.HasPrefix(resource, "role/"):
		kind, name = store.KindRole, resource[strings.LastIndexByte(resource, '/')+1:]
	case parts[2] == "sts" && strings.HasPrefix(resource, "assumed-role/"):
		role, _, ok := strings.Cut(strings.TrimPrefix(resource, "assumed-role/"), "/")
		if !ok {
			return false, nil
		}
		kind, name = store.KindRole, role
	default:
		return false, nil
	}
	_, err := s.store.GetEntity(ctx, account, kind, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
