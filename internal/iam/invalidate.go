package iam

import "github.com/trent-kms/trent/internal/store"

// Invalidate drops the cached identity policies that a change committed
// to a shared store, by any node, may have made stale (see
// [store.Notifier]): an IAM change or a reset empties the
// identity-policy cache; other kinds do not touch it.
func (s *Service) Invalidate(c store.Change) {
	switch c.Kind {
	case store.ChangeKey, store.ChangeAlias, store.ChangeGrant, store.ChangeAccessKey, store.ChangeSynced:
	default: // ChangeIAM, ChangeReset, and kinds this build does not know
		s.forgetPolicies()
	}
}

// ForgetAll empties the identity-policy cache.
func (s *Service) ForgetAll() { s.forgetPolicies() }
