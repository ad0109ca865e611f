package kms

import (
	"strings"

	"github.com/trent-kms/trent/internal/store"
)

// Invalidate drops what this Service has cached about a change that a
// node, this one or another, committed to a shared store (see
// [store.Notifier]): the key, the alias and the alias lists of the keys
// it pointed to, the key whose grants changed, the access key, or the
// access keys of an IAM user whose tags or existence changed. A
// [store.ChangeReset] drops everything ([Service.ForgetAll]). Loads that
// started before Invalidate do not cache what they read.
func (s *Service) Invalidate(c store.Change) {
	switch c.Kind {
	case store.ChangeKey, store.ChangeGrant:
		s.forgetKey(store.KeyRef{Region: c.Region, KeyID: c.KeyID})
		if c.Deleted {
			s.forgetAliasesOf(c.KeyID)
		}
	case store.ChangeAlias:
		s.forgetAlias(aliasRef{c.Region, c.AccountID, c.Name})
		for _, id := range c.KeyIDs {
			s.forgetKey(store.KeyRef{Region: c.Region, KeyID: id})
		}
	case store.ChangeAccessKey:
		s.ForgetAccessKey(c.AccessKeyID)
	case store.ChangeIAM:
		if c.Entity != store.KindUser {
			return // identities carry users only; policies are iam's
		}
		s.mu.Lock()
		s.gen++
		for id, e := range s.idents.m {
			if e.v.AccountID == c.AccountID && strings.EqualFold(e.v.UserName, c.Name) {
				s.idents.del(id)
			}
		}
		s.mu.Unlock()
	case store.ChangeSynced:
		s.Synced(c.Synced)
	default: // ChangeReset, and kinds this build does not know
		s.ForgetAll()
	}
}

// ForgetAll empties every cache: keys, aliases and access keys. Loads
// that started before it do not cache what they read.
func (s *Service) ForgetAll() {
	// Until the listener's next probe comes back, entries are trusted
	// for CacheTTL after their load only.
	s.synced.Store(nil)
	s.mu.Lock()
	s.gen++
	clear(s.keys.m)
	clear(s.aliases.m)
	clear(s.idents.m)
	s.mu.Unlock()
}
