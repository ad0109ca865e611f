package iam

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/policy"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
)

func testService(t *testing.T) (*Service, *time.Time) {
	t.Helper()
	db, err := embedded.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	root, err := keystore.GenerateMemoryRoot(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := New(Config{Store: db, Root: root, Rand: rand.Reader, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := db.CreateAccount(ctx, store.Account{ID: "111122223333", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateEntity(ctx, store.Entity{AccountID: "111122223333", Kind: store.KindRole, Name: "app", Path: "/", ID: "AROAEXAMPLEEXAMPLE01",
		CreatedAt: now, MaxSessionDuration: 3600, TrustPolicy: "{}"}); err != nil {
		t.Fatal(err)
	}
	return s, &now
}

// TestSessionTokenEveryBitFlipped: a session token altered in any single
// bit does not authenticate, nor does a token presented with another
// access key id; the unaltered token does until it expires.
func TestSessionTokenEveryBitFlipped(t *testing.T) {
	ctx := context.Background()
	s, now := testService(t)
	role, err := s.store.GetEntity(ctx, "111122223333", store.KindRole, "app")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.newSession(role, "sess", now.Add(time.Hour), sessionPayload{Tags: []policy.Tag{{Key: "team", Value: "red"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Session(ctx, sess.AccessKeyID, sess.token)
	if err != nil || got.Secret() != sess.Secret() || got.ARN() != "arn:aws:sts::111122223333:assumed-role/app/sess" || got.Tags[0].Value != "red" {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	tok := []byte(sess.token)
	for i := range tok {
		for bit := range 8 {
			v := append([]byte(nil), tok...)
			v[i] ^= 1 << bit
			if _, _, err := s.Session(ctx, sess.AccessKeyID, string(v)); !errors.Is(err, ErrInvalidSession) {
				t.Fatalf("bit %d of byte %d flipped: err = %v, want ErrInvalidSession", bit, i, err)
			}
		}
	}
	other := []byte(sess.AccessKeyID)
	other[5] ^= 1
	if _, _, err := s.Session(ctx, string(other), sess.token); !errors.Is(err, ErrInvalidSession) {
		t.Fatalf("other key id: err = %v", err)
	}
	*now = now.Add(time.Hour)
	if _, _, err := s.Session(ctx, sess.AccessKeyID, sess.token); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("at expiry: err = %v, want ErrSessionExpired", err)
	}
}
