package embedded_test

import (
	"path/filepath"
	"testing"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
	"github.com/trent-kms/trent/internal/store/storetest"
)

func openTemp(t *testing.T) *embedded.DB {
	t.Helper()
	db, err := embedded.Open(filepath.Join(t.TempDir(), "trent.db"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}
