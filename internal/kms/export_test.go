package kms

// CacheLens returns the number of entries in the key, alias and access
// key caches.
func (s *Service) CacheLens() (keys, aliases, idents int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys.len(), s.aliases.len(), s.idents.len()
}

// UsageCells returns the number of keys whose last use this node holds in
// memory.
func (s *Service) UsageCells() int {
	n := 0
	s.usage.Range(func(any, any) bool { n++; return true })
	return n
}
