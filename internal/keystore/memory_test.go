package keystore_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"testing/iotest"

	"github.com/trent-kms/trent/internal/keystore"
)

func TestGenerateMemoryRoot(t *testing.T) {
	a, err := keystore.GenerateMemoryRoot(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := keystore.GenerateMemoryRoot(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.CheckValue(), b.CheckValue()) {
		t.Fatal("two in-memory root keys have the same check value")
	}
	aad := keystore.MaterialAAD("arn:aws:kms:us-east-1:111122223333:key/k", "m")
	sealed, err := a.Seal([]byte("material"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Open(sealed, aad); err != nil || string(got) != "material" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := b.Open(sealed, aad); !errors.Is(err, keystore.ErrSealed) {
		t.Fatalf("another in-memory root opened the value: %v", err)
	}
	if _, err := keystore.GenerateMemoryRoot(iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Fatal("GenerateMemoryRoot succeeded with a failing random source")
	}
}
