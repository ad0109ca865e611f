package server

import (
	"context"

	"github.com/trent-kms/trent/internal/store"
)

// PrepareDataDir exposes prepareDataDir so tests can inject the uid the
// server runs as (the tests themselves run as root in CI).
var PrepareDataDir = prepareDataDir

// StoredKeyState reads a key's state straight from the node's store,
// without a request (which would act on the key, e.g. delete its expired
// imported material).
func (s *Server) StoredKeyState(ctx context.Context, region, keyID string) (string, error) {
	k, err := s.raw.GetKey(ctx, store.KeyRef{Region: region, KeyID: keyID})
	return k.KeyState, err
}
