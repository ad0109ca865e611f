//go:build !cgo

package hsm

import (
	"context"
	"errors"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
)

// Supported reports whether this build can use PKCS#11 tokens: false
// without cgo.
const Supported = false

func connect(context.Context, *Cluster, store.CustomKeyStore, []byte) (kms.KeyStoreConn, error) {
	return nil, &kms.ConnectError{Code: "INTERNAL_ERROR", Err: errors.New("hsm: this build has no PKCS#11 support (built without cgo)")}
}
