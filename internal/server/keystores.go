package server

import (
	"github.com/trent-kms/trent/internal/hsm"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
)

// keyStoreBackends returns the custom key store backends the node serves,
// by CustomKeyStoreType (docs/hsm.md).
func keyStoreBackends(cfg *Config) (map[string]kms.KeyStoreBackend, error) {
	cloudHSM, err := hsm.New(cfg.HSMClusters)
	if err != nil {
		return nil, err
	}
	return map[string]kms.KeyStoreBackend{
		store.TypeCloudHSM: cloudHSM,
	}, nil
}
