package keystore

import (
	"fmt"
	"io"
)

// GenerateMemoryRoot returns a [FileRoot] whose root key is drawn from rand
// (crypto/rand.Reader outside tests) and lives only in memory: nothing is
// read from or written to disk, and what it seals cannot be opened once the
// process ends. `trent server --dev` uses it together with an in-memory
// store. Its check value is derived as for a root key file.
func GenerateMemoryRoot(rand io.Reader) (*FileRoot, error) {
	key := make([]byte, rootKeySize)
	defer clear(key)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, fmt.Errorf("keystore: generate in-memory root key: %w", err)
	}
	return newFileRoot(key)
}
