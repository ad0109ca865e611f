// Package storetest is the conformance suite for [store.Store]: every backend
// runs [Run], and the suite is the precise definition of the interface's
// behaviour.
//
// # Conventions the suite fixes
//
//   - Times come back in UTC and equal (time.Equal) what was stored; the
//     suite uses millisecond precision, the least a backend must keep.
//   - The zero time round-trips as the zero time.
//   - List orders compare strings bytewise (Go's < on strings), not by a
//     locale's collation.
//   - nil and empty byte slices and tag lists are interchangeable.
//   - UpdateKey returns an error and saves nothing if fn changes Region,
//     KeyID or AccountID; a change fn makes to Revision is ignored.
//   - An alias may only target a key in its own region and account; any
//     other target is [store.ErrNotFound].
//   - ListKeys returns only refs (region and key id): listing never loads a
//     key's policy, tags or sealed material.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/store"
)

// Run runs the conformance suite. newStore must return a new, empty store
// each time it is called; Run closes it when the subtest that asked for it
// ends, before any cleanup newStore registered with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	open := func(t *testing.T) store.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	for _, g := range []struct {
		name  string
		tests []test
	}{
		{"meta", metaTests},
		{"accounts", accountTests},
		{"access-keys", accessKeyTests},
		{"keys", keyTests},
		{"aliases", aliasTests},
		{"iam", iamTests},
		{"grants", grantTests},
		{"custom-key-stores", cksTests},
		{"concurrency", concurrencyTests},
	} {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, open(t))
				})
			}
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// zone is a non-UTC location: the store must hand times back in UTC.
var zone = time.FixedZone("UTC+05:30", 5*3600+30*60)

// at returns a time with millisecond precision in zone, offset by d from a
// fixed instant.
func at(d time.Duration) time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, zone).Add(d)
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// checkTime reports a difference between got and want, and a got that is
// not in UTC.
func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if got.IsZero() != want.IsZero() {
		t.Errorf("%s: IsZero() = %v, want %v", what, got.IsZero(), want.IsZero())
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", what, got.Location())
	}
}

// --- meta -------------------------------------------------------------------

var metaTests = []test{
	{"get-missing", func(t *testing.T, s store.Store) {
		_, err := s.GetMeta(t.Context(), "nope")
		wantErr(t, "GetMeta", err, store.ErrNotFound)
	}},
	{"put-get", func(t *testing.T, s store.Store) {
		v := []byte{0, 1, 2, 0xff, 0xfe, 0}
		must(t, "PutMeta", s.PutMeta(t.Context(), "root", v))
		got, err := s.GetMeta(t.Context(), "root")
		must(t, "GetMeta", err)
		if !bytes.Equal(got, v) {
			t.Fatalf("GetMeta = %x, want %x", got, v)
		}
		_, err = s.GetMeta(t.Context(), "Root")
		wantErr(t, "GetMeta of another name", err, store.ErrNotFound)
	}},
	{"replace", func(t *testing.T, s store.Store) {
		must(t, "PutMeta", s.PutMeta(t.Context(), "n", []byte("first value, longer")))
		must(t, "PutMeta", s.PutMeta(t.Context(), "n", []byte("second")))
		got, err := s.GetMeta(t.Context(), "n")
		must(t, "GetMeta", err)
		if string(got) != "second" {
			t.Fatalf("GetMeta = %q, want %q", got, "second")
		}
	}},
	{"create-first-writer-wins", func(t *testing.T, s store.Store) {
		must(t, "CreateMeta", s.CreateMeta(t.Context(), "once", []byte("first")))
		wantErr(t, "CreateMeta again", s.CreateMeta(t.Context(), "once", []byte("second")), store.ErrExists)
		got, err := s.GetMeta(t.Context(), "once")
		must(t, "GetMeta", err)
		if string(got) != "first" {
			t.Fatalf("GetMeta = %q, want %q", got, "first")
		}
		// Racing creators: exactly one wins.
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() { errs <- s.CreateMeta(t.Context(), "race", []byte{byte(i)}) }()
		}
		won := 0
		for range n {
			switch err := <-errs; {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrExists):
				t.Fatalf("CreateMeta in a race: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d racing CreateMeta calls succeeded, want exactly 1", won)
		}
	}},
	{"empty-value", func(t *testing.T, s store.Store) {
		must(t, "PutMeta", s.PutMeta(t.Context(), "empty", nil))
		got, err := s.GetMeta(t.Context(), "empty")
		must(t, "GetMeta", err)
		if len(got) != 0 {
			t.Fatalf("GetMeta = %x, want empty", got)
		}
	}},
}

// --- accounts ---------------------------------------------------------------

var accountTests = []test{
	{"create-get", func(t *testing.T, s store.Store) {
		a := store.Account{ID: "111122223333", CreatedAt: at(0)}
		must(t, "CreateAccount", s.CreateAccount(t.Context(), a))
		got, err := s.GetAccount(t.Context(), a.ID)
		must(t, "GetAccount", err)
		if got.ID != a.ID {
			t.Errorf("ID = %q, want %q", got.ID, a.ID)
		}
		checkTime(t, "CreatedAt", got.CreatedAt, a.CreatedAt)
	}},
	{"duplicate", func(t *testing.T, s store.Store) {
		a := store.Account{ID: "111122223333", CreatedAt: at(0)}
		must(t, "CreateAccount", s.CreateAccount(t.Context(), a))
		a.CreatedAt = at(time.Hour)
		wantErr(t, "second CreateAccount", s.CreateAccount(t.Context(), a), store.ErrExists)
		got, err := s.GetAccount(t.Context(), a.ID)
		must(t, "GetAccount", err)
		checkTime(t, "CreatedAt after failed duplicate", got.CreatedAt, at(0))
	}},
	{"get-missing", func(t *testing.T, s store.Store) {
		_, err := s.GetAccount(t.Context(), "999999999999")
		wantErr(t, "GetAccount", err, store.ErrNotFound)
	}},
	{"list-empty", func(t *testing.T, s store.Store) {
		got, err := s.ListAccounts(t.Context())
		must(t, "ListAccounts", err)
		if len(got) != 0 {
			t.Fatalf("ListAccounts = %v, want none", got)
		}
	}},
	{"list-ordered-by-id", func(t *testing.T, s store.Store) {
		ids := []string{"333333333333", "111111111111", "222222222222", "011111111111"}
		for i, id := range ids {
			must(t, "CreateAccount", s.CreateAccount(t.Context(), store.Account{ID: id, CreatedAt: at(time.Duration(i) * time.Second)}))
		}
		got, err := s.ListAccounts(t.Context())
		must(t, "ListAccounts", err)
		var gotIDs []string
		for _, a := range got {
			gotIDs = append(gotIDs, a.ID)
			i := slices.Index(ids, a.ID)
			if i >= 0 {
				checkTime(t, "CreatedAt of "+a.ID, a.CreatedAt, at(time.Duration(i)*time.Second))
			}
		}
		want := slices.Sorted(slices.Values(ids))
		if !slices.Equal(gotIDs, want) {
			t.Fatalf("ListAccounts ids = %v, want %v", gotIDs, want)
		}
	}},
}

// --- access keys ------------------------------------------------------------

func mkAccounts(t *testing.T, s store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		must(t, "CreateAccount "+id, s.CreateAccount(t.Context(), store.Account{ID: id, CreatedAt: at(0)}))
	}
}

func accessKey(id, account string) store.AccessKey {
	return store.AccessKey{
		ID:           id,
		AccountID:    account,
		Principal:    "arn:aws:iam::" + account + ":root",
		SealedSecret: []byte("sealed\x00secret\xff" + id),
		CreatedAt:    at(time.Minute),
	}
}

func checkAccessKey(t *testing.T, got, want store.AccessKey) {
	t.Helper()
	if got.ID != want.ID || got.AccountID != want.AccountID || got.Principal != want.Principal {
		t.Errorf("access key = %q/%q/%q, want %q/%q/%q", got.ID, got.AccountID, got.Principal, want.ID, want.AccountID, want.Principal)
	}
	if !bytes.Equal(got.SealedSecret, want.SealedSecret) {
		t.Errorf("SealedSecret of %s differs", want.ID)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
}

var accessKeyTests = []test{
	{"create-get", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111122223333")
		k := accessKey("AKIAEXAMPLE0000001", "111122223333")
		must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), k))
		got, err := s.GetAccessKey(t.Context(), k.ID)
		must(t, "GetAccessKey", err)
		checkAccessKey(t, got, k)
	}},
	{"duplicate", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111122223333", "444455556666")
		k := accessKey("AKIAEXAMPLE0000001", "111122223333")
		must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), k))
		wantErr(t, "CreateAccessKey same id, other account",
			s.CreateAccessKey(t.Context(), accessKey(k.ID, "444455556666")), store.ErrExists)
		got, err := s.GetAccessKey(t.Context(), k.ID)
		must(t, "GetAccessKey", err)
		checkAccessKey(t, got, k)
	}},
	{"unknown-account", func(t *testing.T, s store.Store) {
		k := accessKey("AKIAEXAMPLE0000001", "111122223333")
		wantErr(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), k), store.ErrNotFound)
		_, err := s.GetAccessKey(t.Context(), k.ID)
		wantErr(t, "GetAccessKey", err, store.ErrNotFound)
	}},
	{"get-missing", func(t *testing.T, s store.Store) {
		_, err := s.GetAccessKey(t.Context(), "AKIANOPE")
		wantErr(t, "GetAccessKey", err, store.ErrNotFound)
	}},
	{"list-per-account", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111111111111", "222222222222")
		for _, id := range []string{"AKIAC", "AKIAA", "AKIAB"} {
			must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), accessKey(id, "111111111111")))
		}
		must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), accessKey("AKIAAA", "222222222222")))
		got, err := s.ListAccessKeys(t.Context(), "111111111111")
		must(t, "ListAccessKeys", err)
		var ids []string
		for _, k := range got {
			ids = append(ids, k.ID)
			checkAccessKey(t, k, accessKey(k.ID, "111111111111"))
		}
		if want := []string{"AKIAA", "AKIAB", "AKIAC"}; !slices.Equal(ids, want) {
			t.Fatalf("ListAccessKeys = %v, want %v", ids, want)
		}
		got, err = s.ListAccessKeys(t.Context(), "333333333333")
		must(t, "ListAccessKeys of unknown account", err)
		if len(got) != 0 {
			t.Fatalf("ListAccessKeys of unknown account = %v, want none", got)
		}
	}},
	{"delete", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111111111111")
		must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), accessKey("AKIAA", "111111111111")))
		must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), accessKey("AKIAB", "111111111111")))
		must(t, "DeleteAccessKey", s.DeleteAccessKey(t.Context(), "AKIAA"))
		_, err := s.GetAccessKey(t.Context(), "AKIAA")
		wantErr(t, "GetAccessKey after delete", err, store.ErrNotFound)
		wantErr(t, "second DeleteAccessKey", s.DeleteAccessKey(t.Context(), "AKIAA"), store.ErrNotFound)
		got, err := s.ListAccessKeys(t.Context(), "111111111111")
		must(t, "ListAccessKeys", err)
		if len(got) != 1 || got[0].ID != "AKIAB" {
			t.Fatalf("ListAccessKeys after delete = %v, want only AKIAB", got)
		}
	}},
	{"delete-missing", func(t *testing.T, s store.Store) {
		wantErr(t, "DeleteAccessKey", s.DeleteAccessKey(t.Context(), "AKIANOPE"), store.ErrNotFound)
	}},
	{"update/saves-account-principal-secret", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111111111111", "222222222222")
		k := accessKey("AKIAA", "111111111111")
		must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), k))
		must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), accessKey("AKIAB", "111111111111")))
		want := k
		want.AccountID = "222222222222"
		want.Principal = "arn:aws:iam::222222222222:user/bob"
		want.SealedSecret = []byte("resealed\x00\xff")
		calls := 0
		saved, err := s.UpdateAccessKey(t.Context(), k.ID, func(got *store.AccessKey) error {
			calls++
			checkAccessKey(t, *got, k)
			got.AccountID, got.Principal, got.SealedSecret = want.AccountID, want.Principal, want.SealedSecret
			return nil
		})
		must(t, "UpdateAccessKey", err)
		if calls != 1 {
			t.Fatalf("fn called %d times, want 1", calls)
		}
		checkAccessKey(t, saved, want)
		got, err := s.GetAccessKey(t.Context(), k.ID)
		must(t, "GetAccessKey", err)
		checkAccessKey(t, got, want)
		for account, ids := range map[string][]string{"111111111111": {"AKIAB"}, "222222222222": {"AKIAA"}} {
			list, err := s.ListAccessKeys(t.Context(), account)
			must(t, "ListAccessKeys", err)
			var got []string
			for _, k := range list {
				got = append(got, k.ID)
			}
			if !slices.Equal(got, ids) {
				t.Errorf("ListAccessKeys(%s) = %v, want %v", account, got, ids)
			}
		}
		other, err := s.GetAccessKey(t.Context(), "AKIAB")
		must(t, "GetAccessKey of the other key", err)
		checkAccessKey(t, other, accessKey("AKIAB", "111111111111"))
	}},
	{"update/fn-error-saves-nothing", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111111111111")
		k := accessKey("AKIAA", "111111111111")
		must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), k))
		boom := errors.New("boom")
		_, err := s.UpdateAccessKey(t.Context(), k.ID, func(got *store.AccessKey) error {
			got.Principal = "arn:aws:iam::111111111111:user/mallory"
			got.SealedSecret = []byte("other")
			return boom
		})
		if err != boom {
			t.Fatalf("UpdateAccessKey = %v, want fn's error unchanged", err)
		}
		got, err := s.GetAccessKey(t.Context(), k.ID)
		must(t, "GetAccessKey", err)
		checkAccessKey(t, got, k)
	}},
	{"update/id-and-created-are-fixed", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111111111111")
		k := accessKey("AKIAA", "111111111111")
		must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), k))
		for name, change := range map[string]func(*store.AccessKey){
			"id":         func(k *store.AccessKey) { k.ID = "AKIAZ" },
			"created-at": func(k *store.AccessKey) { k.CreatedAt = k.CreatedAt.Add(time.Second) },
		} {
			_, err := s.UpdateAccessKey(t.Context(), k.ID, func(got *store.AccessKey) error {
				change(got)
				got.SealedSecret = []byte("other")
				return nil
			})
			if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) {
				t.Errorf("%s: UpdateAccessKey = %v, want a plain error", name, err)
			}
			got, err := s.GetAccessKey(t.Context(), k.ID)
			must(t, "GetAccessKey", err)
			checkAccessKey(t, got, k)
		}
		_, err := s.GetAccessKey(t.Context(), "AKIAZ")
		wantErr(t, "GetAccessKey of the new id", err, store.ErrNotFound)
	}},
	{"update/unknown-account", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111111111111")
		k := accessKey("AKIAA", "111111111111")
		must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), k))
		_, err := s.UpdateAccessKey(t.Context(), k.ID, func(got *store.AccessKey) error {
			got.AccountID = "999999999999"
			got.SealedSecret = []byte("other")
			return nil
		})
		wantErr(t, "UpdateAccessKey to an unknown account", err, store.ErrNotFound)
		got, err := s.GetAccessKey(t.Context(), k.ID)
		must(t, "GetAccessKey", err)
		checkAccessKey(t, got, k)
	}},
	{"update/missing", func(t *testing.T, s store.Store) {
		_, err := s.UpdateAccessKey(t.Context(), "AKIANOPE", func(*store.AccessKey) error {
			t.Error("fn called for a missing access key")
			return nil
		})
		wantErr(t, "UpdateAccessKey", err, store.ErrNotFound)
	}},
}

// --- keys -------------------------------------------------------------------

const (
	region1  = "us-east-1"
	region2  = "eu-west-3"
	account1 = "111122223333"
	account2 = "444455556666"
)

// fullKey returns a key with every field set to a non-zero value.
func fullKey(region, account, id string) store.Key {
	return store.Key{
		Region:              region,
		KeyID:               id,
		AccountID:           account,
		Revision:            42, // ignored: the store sets 1
		Description:         "full key " + id + " \u00e9\u4e2d\"quoted\"\n",
		KeyUsage:            "ENCRYPT_DECRYPT",
		KeySpec:             "SYMMETRIC_DEFAULT",
		Origin:              "AWS_KMS",
		KeyManager:          "CUSTOMER",
		KeyState:            "PendingDeletion",
		MultiRegion:         true,
		CreationDate:        at(0),
		DeletionDate:        at(7 * 24 * time.Hour),
		PendingWindowInDays: 7,
		Policy:              "{\n  \"Version\" : \"2012-10-17\",\n  \"Statement\" : [ ]\n}",
		PolicyName:          "default",
		Tags: []store.Tag{
			{Key: "z-last-sorted", Value: "1"},
			{Key: "Alpha", Value: ""},
			{Key: "mid", Value: "v\u00fc"},
		},
		CurrentMaterialID: "bb00000000000000000000000000000000000000000000000000000000000002",
		Materials: []store.Material{
			{ID: "aa00000000000000000000000000000000000000000000000000000000000001", Sealed: []byte{0, 1, 2, 3, 0, 0xff, 0x80}, CreatedAt: at(0)},
			{ID: "bb00000000000000000000000000000000000000000000000000000000000002", Sealed: bytes.Repeat([]byte{0xa5, 0}, 300), CreatedAt: at(time.Hour + time.Millisecond)},
		},
	}
}

// plainKey returns an enabled key with only the basic fields set.
func plainKey(region, account, id string) store.Key {
	return store.Key{
		Region:       region,
		KeyID:        id,
		AccountID:    account,
		KeyUsage:     "ENCRYPT_DECRYPT",
		KeySpec:      "SYMMETRIC_DEFAULT",
		Origin:       "AWS_KMS",
		KeyManager:   "CUSTOMER",
		KeyState:     "Enabled",
		CreationDate: at(0),
		PolicyName:   "default",
		Materials:    []store.Material{{ID: "cc00000000000000000000000000000000000000000000000000000000000003", Sealed: []byte("sealed:" + id), CreatedAt: at(0)}},
	}
}

// checkKey compares every field of got and want except Revision.
func checkKey(t *testing.T, got, want store.Key) {
	t.Helper()
	str := func(name, g, w string) {
		t.Helper()
		if g != w {
			t.Errorf("key %s: %s = %q, want %q", want.KeyID, name, g, w)
		}
	}
	str("Region", got.Region, want.Region)
	str("KeyID", got.KeyID, want.KeyID)
	str("AccountID", got.AccountID, want.AccountID)
	str("Description", got.Description, want.Description)
	str("KeyUsage", got.KeyUsage, want.KeyUsage)
	str("KeySpec", got.KeySpec, want.KeySpec)
	str("Origin", got.Origin, want.Origin)
	str("KeyManager", got.KeyManager, want.KeyManager)
	str("KeyState", got.KeyState, want.KeyState)
	str("Policy", got.Policy, want.Policy)
	str("PolicyName", got.PolicyName, want.PolicyName)
	str("CurrentMaterialID", got.CurrentMaterialID, want.CurrentMaterialID)
	if got.MultiRegion != want.MultiRegion {
		t.Errorf("key %s: MultiRegion = %v, want %v", want.KeyID, got.MultiRegion, want.MultiRegion)
	}
	if got.PendingWindowInDays != want.PendingWindowInDays {
		t.Errorf("key %s: PendingWindowInDays = %d, want %d", want.KeyID, got.PendingWindowInDays, want.PendingWindowInDays)
	}
	checkTime(t, "CreationDate", got.CreationDate, want.CreationDate)
	checkTime(t, "DeletionDate", got.DeletionDate, want.DeletionDate)
	if len(got.Tags) != 0 || len(want.Tags) != 0 {
		if !slices.Equal(got.Tags, want.Tags) {
			t.Errorf("key %s: Tags = %v, want %v", want.KeyID, got.Tags, want.Tags)
		}
	}
	if len(got.Materials) != len(want.Materials) {
		t.Fatalf("key %s: %d materials, want %d", want.KeyID, len(got.Materials), len(want.Materials))
	}
	for i := range want.Materials {
		g, w := got.Materials[i], want.Materials[i]
		str(fmt.Sprintf("Materials[%d].ID", i), g.ID, w.ID)
		if !bytes.Equal(g.Sealed, w.Sealed) {
			t.Errorf("key %s: Materials[%d].Sealed = %x, want %x", want.KeyID, i, g.Sealed, w.Sealed)
		}
		checkTime(t, fmt.Sprintf("Materials[%d].CreatedAt", i), g.CreatedAt, w.CreatedAt)
	}
}

func mustCreateKey(t *testing.T, s store.Store, k store.Key) {
	t.Helper()
	must(t, "CreateKey "+k.Region+"/"+k.KeyID, s.CreateKey(t.Context(), k))
}

func mustGetKey(t *testing.T, s store.Store, region, id string) store.Key {
	t.Helper()
	k, err := s.GetKey(t.Context(), store.KeyRef{Region: region, KeyID: id})
	must(t, "GetKey "+region+"/"+id, err)
	return k
}

func keyIDs(ks []store.KeyRef) []string {
	ids := []string{}
	for _, k := range ks {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// listKeyIDs are the ids of account1's keys in region1 used by the list tests,
// chosen so that bytewise order differs from case-insensitive and locale
// order.
var listKeyIDs = []string{"b-2", "B-1", "a-3", "A-4", "_x", "0000", "mrk-1", "\u00e9t\u00e9", "a"}

func setupListKeys(t *testing.T, s store.Store) {
	t.Helper()
	for _, id := range listKeyIDs {
		mustCreateKey(t, s, plainKey(region1, account1, id))
	}
	// Noise that must never show up: another account in the same region and
	// the same account in another region.
	mustCreateKey(t, s, plainKey(region1, account2, "aa-other-account"))
	mustCreateKey(t, s, plainKey(region2, account1, "aa-other-region"))
	mustCreateKey(t, s, plainKey(region2, account1, "b-2x"))
}

var keyTests = []test{
	{"create-get/every-field", func(t *testing.T, s store.Store) {
		k := fullKey(region1, account1, "1234abcd-12ab-34cd-56ef-1234567890ab")
		mustCreateKey(t, s, k)
		got := mustGetKey(t, s, region1, k.KeyID)
		checkKey(t, got, k)
		if got.Revision != 1 {
			t.Errorf("Revision = %d, want 1", got.Revision)
		}
	}},
	{"create-get/zero-fields", func(t *testing.T, s store.Store) {
		k := store.Key{Region: region1, KeyID: "bare", AccountID: account1}
		mustCreateKey(t, s, k)
		got := mustGetKey(t, s, region1, "bare")
		checkKey(t, got, k)
		if got.Revision != 1 {
			t.Errorf("Revision = %d, want 1", got.Revision)
		}
	}},
	{"create-get/no-aliasing", func(t *testing.T, s store.Store) {
		k := fullKey(region1, account1, "k1")
		want := fullKey(region1, account1, "k1")
		mustCreateKey(t, s, k)
		// Changing the caller's slices after CreateKey must not reach the store.
		k.Materials[0].Sealed[0] ^= 0xff
		k.Tags[0].Value = "changed"
		got := mustGetKey(t, s, region1, "k1")
		checkKey(t, got, want)
		// Nor may changing a returned key.
		got.Materials[1].Sealed[0] ^= 0xff
		got.Tags[1].Key = "changed"
		checkKey(t, mustGetKey(t, s, region1, "k1"), want)
	}},
	{"create/duplicate", func(t *testing.T, s store.Store) {
		k := plainKey(region1, account1, "dup")
		mustCreateKey(t, s, k)
		other := fullKey(region1, account2, "dup")
		wantErr(t, "CreateKey same ref, other account", s.CreateKey(t.Context(), other), store.ErrExists)
		checkKey(t, mustGetKey(t, s, region1, "dup"), k)
	}},
	{"create/same-id-two-regions", func(t *testing.T, s store.Store) {
		k1 := plainKey(region1, account1, "same")
		k2 := fullKey(region2, account1, "same")
		mustCreateKey(t, s, k1)
		mustCreateKey(t, s, k2)
		checkKey(t, mustGetKey(t, s, region1, "same"), k1)
		checkKey(t, mustGetKey(t, s, region2, "same"), k2)
	}},
	{"get/missing", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		_, err := s.GetKey(t.Context(), store.KeyRef{Region: region1, KeyID: "k2"})
		wantErr(t, "GetKey unknown id", err, store.ErrNotFound)
		_, err = s.GetKey(t.Context(), store.KeyRef{Region: region2, KeyID: "k1"})
		wantErr(t, "GetKey other region", err, store.ErrNotFound)
	}},
	{"list/all-ordered", func(t *testing.T, s store.Store) {
		setupListKeys(t, s)
		want := slices.Sorted(slices.Values(listKeyIDs))
		for _, limit := range []int{0, -1} {
			got, err := s.ListKeys(t.Context(), region1, account1, "", limit)
			must(t, "ListKeys", err)
			if ids := keyIDs(got); !slices.Equal(ids, want) {
				t.Fatalf("ListKeys(limit %d) = %q, want %q", limit, ids, want)
			}
			for _, r := range got {
				if r.Region != region1 {
					t.Errorf("listed key %s: Region = %q, want %q", r.KeyID, r.Region, region1)
				}
			}
		}
	}},
	{"list/paginate", func(t *testing.T, s store.Store) {
		setupListKeys(t, s)
		want := slices.Sorted(slices.Values(listKeyIDs))
		for _, limit := range []int{1, 2, 4, len(want), len(want) + 1} {
			var all []string
			after := ""
			for page := 0; ; page++ {
				if page > len(want)+1 {
					t.Fatalf("limit %d: pagination does not end", limit)
				}
				got, err := s.ListKeys(t.Context(), region1, account1, after, limit)
				must(t, "ListKeys", err)
				if len(got) > limit {
					t.Fatalf("limit %d: got %d keys", limit, len(got))
				}
				if len(got) == 0 {
					break
				}
				all = append(all, keyIDs(got)...)
				after = got[len(got)-1].KeyID
			}
			if !slices.Equal(all, want) {
				t.Fatalf("limit %d: pages = %q, want %q", limit, all, want)
			}
		}
	}},
	{"list/after", func(t *testing.T, s store.Store) {
		setupListKeys(t, s)
		sorted := slices.Sorted(slices.Values(listKeyIDs))
		// after need not be an existing id.
		got, err := s.ListKeys(t.Context(), region1, account1, "a-", 0)
		must(t, "ListKeys", err)
		var want []string
		for _, id := range sorted {
			if id > "a-" {
				want = append(want, id)
			}
		}
		if ids := keyIDs(got); !slices.Equal(ids, want) {
			t.Fatalf("ListKeys after %q = %q, want %q", "a-", ids, want)
		}
		got, err = s.ListKeys(t.Context(), region1, account1, sorted[len(sorted)-1], 10)
		must(t, "ListKeys", err)
		if len(got) != 0 {
			t.Fatalf("ListKeys after the last id = %q, want none", keyIDs(got))
		}
	}},
	{"list/isolation", func(t *testing.T, s store.Store) {
		setupListKeys(t, s)
		got, err := s.ListKeys(t.Context(), region1, account2, "", 0)
		must(t, "ListKeys", err)
		if ids := keyIDs(got); !slices.Equal(ids, []string{"aa-other-account"}) {
			t.Errorf("ListKeys(region1, account2) = %q", ids)
		}
		got, err = s.ListKeys(t.Context(), region2, account1, "", 0)
		must(t, "ListKeys", err)
		if ids := keyIDs(got); !slices.Equal(ids, []string{"aa-other-region", "b-2x"}) {
			t.Errorf("ListKeys(region2, account1) = %q", ids)
		}
		got, err = s.ListKeys(t.Context(), "ap-south-1", account1, "", 0)
		must(t, "ListKeys", err)
		if len(got) != 0 {
			t.Errorf("ListKeys(unknown region) = %q, want none", keyIDs(got))
		}
	}},
	{"count", func(t *testing.T, s store.Store) {
		count := func(region, account string, want int) {
			t.Helper()
			n, err := s.CountKeys(t.Context(), region, account)
			must(t, "CountKeys", err)
			if n != want {
				t.Errorf("CountKeys(%s, %s) = %d, want %d", region, account, n, want)
			}
		}
		count(region1, account1, 0)
		setupListKeys(t, s)
		count(region1, account1, len(listKeyIDs))
		count(region1, account2, 1)
		count(region2, account1, 2)
		count("ap-south-1", account1, 0)
		// A key pending deletion still counts: AWS's key quota applies to
		// keys in every state.
		_, err := s.UpdateKey(t.Context(), store.KeyRef{Region: region1, KeyID: "a"}, func(k *store.Key) error {
			k.KeyState, k.DeletionDate = "PendingDeletion", at(time.Hour)
			return nil
		})
		must(t, "UpdateKey", err)
		count(region1, account1, len(listKeyIDs))
		must(t, "DeleteKey", s.DeleteKey(t.Context(), store.KeyRef{Region: region1, KeyID: "a"}))
		count(region1, account1, len(listKeyIDs)-1)
		// AWS managed keys do not count against the quota (the model's
		// ListAliases: aliases AWS creates "do not count against your KMS
		// aliases quota"; the Resource quotas page says the key quota is
		// of customer managed keys), neither when made nor when deleted.
		managed := store.Key{Region: region1, KeyID: "managed", AccountID: account1, KeyState: "Enabled", KeyManager: "AWS", CreationDate: at(0)}
		mustCreateKey(t, s, managed)
		count(region1, account1, len(listKeyIDs)-1)
		must(t, "DeleteKey", s.DeleteKey(t.Context(), store.KeyRef{Region: region1, KeyID: "managed"}))
		count(region1, account1, len(listKeyIDs)-1)
	}},
	{"key-counts", func(t *testing.T, s store.Store) {
		counts := func() []store.KeyCount {
			t.Helper()
			got, err := s.KeyCounts(t.Context())
			must(t, "KeyCounts", err)
			return got
		}
		if got := counts(); len(got) != 0 {
			t.Fatalf("KeyCounts of an empty store = %v", got)
		}
		setupListKeys(t, s) // every region and account counts
		mustCreateKey(t, s, fullKey(region2, account2, "1234abcd-12ab-34cd-56ef-1234567890ab"))
		rsa := plainKey(region1, account2, "rsa")
		rsa.KeySpec, rsa.KeyState = "RSA_2048", "Disabled"
		mustCreateKey(t, s, rsa)
		_, err := s.UpdateKey(t.Context(), store.KeyRef{Region: region1, KeyID: "a"}, func(k *store.Key) error {
			k.KeyState, k.DeletionDate = "PendingDeletion", at(time.Hour)
			return nil
		})
		must(t, "UpdateKey", err)
		// check compares KeyCounts with counts made from the keys
		// themselves.
		check := func(when string) {
			t.Helper()
			want := map[[2]string]int{}
			for _, ref := range allKeyRefs(t, s) {
				k := mustGetKey(t, s, ref.Region, ref.KeyID)
				want[[2]string{k.KeyState, k.KeySpec}]++
			}
			got := counts()
			for i, c := range got {
				if n := want[[2]string{c.KeyState, c.KeySpec}]; c.N != n {
					t.Errorf("%s: KeyCounts has %+v, want N = %d", when, c, n)
				}
				delete(want, [2]string{c.KeyState, c.KeySpec})
				if i > 0 && (got[i-1].KeyState > c.KeyState || got[i-1].KeyState == c.KeyState && got[i-1].KeySpec >= c.KeySpec) {
					t.Errorf("%s: KeyCounts not ordered by state, spec: %v", when, got)
				}
			}
			if len(want) > 0 {
				t.Errorf("%s: KeyCounts = %v misses %v", when, got, want)
			}
		}
		check("after creates and a state change")
		// The store keeps the counts as keys change: a state change back,
		// an update that leaves the state alone, a recorded use (which
		// rewrites the document), deletions, down to a state no key has.
		_, err = s.UpdateKey(t.Context(), store.KeyRef{Region: region1, KeyID: "rsa"}, func(k *store.Key) error {
			k.KeyState = "Enabled"
			return nil
		})
		must(t, "UpdateKey", err)
		_, err = s.UpdateKey(t.Context(), store.KeyRef{Region: region1, KeyID: "a"}, func(k *store.Key) error {
			k.Description = "no state change"
			return nil
		})
		must(t, "UpdateKey", err)
		_, _, err = store.RecordKeyUsage(t.Context(), s, []store.KeyUsageRecord{{Ref: store.KeyRef{Region: region1, KeyID: "b-2"},
			Usage: store.KeyUsage{Time: at(time.Minute), Operation: "Encrypt", RequestID: "r"}}})
		must(t, "RecordKeyUsage", err)
		must(t, "DeleteKey", s.DeleteKey(t.Context(), store.KeyRef{Region: region1, KeyID: "a"}))
		must(t, "DeleteKey", s.DeleteKey(t.Context(), store.KeyRef{Region: region2, KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab"}))
		check("after updates and deletions")
		for _, c := range counts() {
			if c.KeyState == "PendingDeletion" || c.KeyState == "Disabled" || c.N <= 0 {
				t.Errorf("KeyCounts lists %+v after its last key left that state", c)
			}
		}
	}},
	// The batched usage write: a later use replaces the stored one
	// (beside the key: the revision stays), an earlier one is left alone,
	// and a missing key is reported, all in one call.
	{"usage/record", func(t *testing.T, db store.Store) {
		ctx := t.Context()
		rec, ok := db.(store.KeyUsageRecorder)
		if !ok {
			t.Fatal("the store does not implement store.KeyUsageRecorder")
		}
		mustCreateKey(t, db, plainKey(region1, account1, "k000000"))
		mustCreateKey(t, db, plainKey(region1, account1, "k000001"))
		t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
		ref := func(id string) store.KeyRef { return store.KeyRef{Region: region1, KeyID: id} }
		use := func(id string, at time.Time) store.KeyUsageRecord {
			return store.KeyUsageRecord{Ref: ref(id), Usage: store.KeyUsage{Time: at, Operation: "Encrypt", RequestID: "r-" + at.Format("150405")}}
		}
		n, missing, err := rec.RecordKeyUsage(ctx, []store.KeyUsageRecord{use("k000000", t0), use("k000001", t0), use("gone", t0)})
		if err != nil || n != 2 || len(missing) != 1 || missing[0] != ref("gone") {
			t.Fatalf("RecordKeyUsage = %d, %v, %v; want 2 written and the missing key reported", n, missing, err)
		}
		n, _, err = rec.RecordKeyUsage(ctx, []store.KeyUsageRecord{use("k000000", t0.Add(time.Second)), use("k000001", t0.Add(-time.Second))})
		if err != nil || n != 1 {
			t.Fatalf("RecordKeyUsage with one later and one earlier use = %d, %v; want 1", n, err)
		}
		k0, _ := db.GetKey(ctx, ref("k000000"))
		k1, _ := db.GetKey(ctx, ref("k000001"))
		// A recorded use is not a change of the key: the revision stays 1.
		if k0.LastUsage == nil || !k0.LastUsage.Time.Equal(t0.Add(time.Second)) || k0.Revision != 1 {
			t.Errorf("k000000: LastUsage %+v, revision %d; want the later use and revision 1", k0.LastUsage, k0.Revision)
		}
		if k1.LastUsage == nil || !k1.LastUsage.Time.Equal(t0) || k1.Revision != 1 || k1.LastUsage.RequestID != "r-120000" {
			t.Errorf("k000001: LastUsage %+v, revision %d; want the first use kept and revision 1", k1.LastUsage, k1.Revision)
		}
		// A use the key's document already holds (from an UpdateKey, or from
		// before the use was kept beside it) counts too: reads return the
		// later of the two, and the document's is kept while it is later.
		doc := store.KeyUsage{Time: t0.Add(time.Hour), Operation: "Decrypt", RequestID: "r-doc"}
		if _, err := db.UpdateKey(ctx, ref("k000001"), func(k *store.Key) error { k.LastUsage = &doc; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, _, err := rec.RecordKeyUsage(ctx, []store.KeyUsageRecord{use("k000001", t0.Add(time.Minute))}); err != nil {
			t.Fatal(err)
		}
		if k1, _ = db.GetKey(ctx, ref("k000001")); k1.LastUsage == nil || k1.LastUsage.RequestID != "r-doc" {
			t.Errorf("k000001 after a later use in its document: LastUsage %+v; want the document's", k1.LastUsage)
		}
		if _, _, err := rec.RecordKeyUsage(ctx, []store.KeyUsageRecord{use("k000001", t0.Add(2*time.Hour))}); err != nil {
			t.Fatal(err)
		}
		if k1, _ = db.GetKey(ctx, ref("k000001")); k1.LastUsage == nil || !k1.LastUsage.Time.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("k000001 after a later recorded use: LastUsage %+v", k1.LastUsage)
		}
		// A key's recorded use goes with it: a key made again under the same
		// id starts without one.
		if err := db.DeleteKey(ctx, ref("k000000")); err != nil {
			t.Fatal(err)
		}
		mustCreateKey(t, db, plainKey(region1, account1, "k000000"))
		if k0, _ = db.GetKey(ctx, ref("k000000")); k0.LastUsage != nil {
			t.Errorf("a key made again under a deleted key's id has its use %+v", k0.LastUsage)
		}
	}},
	// The bulk insert `trent bench --keys` populates with: every key is
	// stored as CreateKey stores it, and a batch with a taken KeyRef adds
	// nothing.
	{"create/bulk", func(t *testing.T, db store.Store) {
		ctx := t.Context()
		bulk, ok := db.(interface {
			CreateKeys(ctx context.Context, keys []store.Key) error
		})
		if !ok {
			t.Fatal("the store has no CreateKeys")
		}
		keys := func(from, n int) []store.Key {
			out := make([]store.Key, n)
			for i := range out {
				out[i] = plainKey(region1, account1, fmt.Sprintf("k%06d", from+i))
				out[i].CurrentMaterialID, out[i].Materials = "m", []store.Material{{ID: "m", Sealed: []byte("sealed")}}
			}
			return out
		}
		must(t, "CreateKeys", bulk.CreateKeys(ctx, keys(0, 3)))
		k := mustGetKey(t, db, region1, "k000002")
		if k.Revision != 1 || k.AccountID != account1 || string(k.Materials[0].Sealed) != "sealed" {
			t.Fatalf("GetKey after CreateKeys = %+v", k)
		}
		if err := bulk.CreateKeys(ctx, keys(2, 3)); !errors.Is(err, store.ErrExists) { // k000002 is taken
			t.Fatalf("CreateKeys with a taken key = %v, want ErrExists", err)
		}
		if n, err := db.CountKeys(ctx, region1, account1); err != nil || n != 3 {
			t.Fatalf("%d keys after a failed batch (%v), want 3: the batch was not atomic", n, err)
		}
	}},
	{"update/saves-and-increments-revision", func(t *testing.T, s store.Store) {
		k := plainKey(region1, account1, "k1")
		mustCreateKey(t, s, k)
		want := k
		for rev := int64(2); rev <= 4; rev++ {
			var seen int64
			got, err := s.UpdateKey(t.Context(), k.Ref(), func(k *store.Key) error {
				seen = k.Revision
				k.Description = fmt.Sprintf("revision %d", rev)
				k.KeyState = "Disabled"
				k.Tags = append(k.Tags, store.Tag{Key: fmt.Sprint("t", rev), Value: "v"})
				return nil
			})
			must(t, "UpdateKey", err)
			if seen != rev-1 {
				t.Errorf("fn saw Revision %d, want %d", seen, rev-1)
			}
			want.Description = fmt.Sprintf("revision %d", rev)
			want.KeyState = "Disabled"
			want.Tags = append(want.Tags, store.Tag{Key: fmt.Sprint("t", rev), Value: "v"})
			if got.Revision != rev {
				t.Errorf("returned Revision = %d, want %d", got.Revision, rev)
			}
			checkKey(t, got, want)
			stored := mustGetKey(t, s, region1, "k1")
			if stored.Revision != rev {
				t.Errorf("stored Revision = %d, want %d", stored.Revision, rev)
			}
			checkKey(t, stored, want)
		}
	}},
	{"update/materials-and-deletion-date", func(t *testing.T, s store.Store) {
		k := plainKey(region1, account1, "k1")
		mustCreateKey(t, s, k)
		m := store.Material{ID: "dd00000000000000000000000000000000000000000000000000000000000004", Sealed: []byte{9, 0, 9}, CreatedAt: at(time.Hour)}
		_, err := s.UpdateKey(t.Context(), k.Ref(), func(k *store.Key) error {
			k.Materials = append(k.Materials, m)
			k.CurrentMaterialID = m.ID
			k.KeyState = "PendingDeletion"
			k.DeletionDate = at(30 * 24 * time.Hour)
			k.PendingWindowInDays = 30
			return nil
		})
		must(t, "UpdateKey", err)
		want := k
		want.Materials = append(slices.Clone(k.Materials), m)
		want.CurrentMaterialID = m.ID
		want.KeyState = "PendingDeletion"
		want.DeletionDate = at(30 * 24 * time.Hour)
		want.PendingWindowInDays = 30
		checkKey(t, mustGetKey(t, s, region1, "k1"), want)

		// And back: clearing the deletion date stores the zero time.
		_, err = s.UpdateKey(t.Context(), k.Ref(), func(k *store.Key) error {
			k.KeyState = "Disabled"
			k.DeletionDate = time.Time{}
			k.PendingWindowInDays = 0
			return nil
		})
		must(t, "UpdateKey", err)
		want.KeyState = "Disabled"
		want.DeletionDate = time.Time{}
		want.PendingWindowInDays = 0
		checkKey(t, mustGetKey(t, s, region1, "k1"), want)
	}},
	{"update/fn-error-saves-nothing", func(t *testing.T, s store.Store) {
		k := fullKey(region1, account1, "k1")
		mustCreateKey(t, s, k)
		fnErr := errors.New("fn refuses")
		_, err := s.UpdateKey(t.Context(), k.Ref(), func(k *store.Key) error {
			k.Description = "must not be saved"
			k.Materials = nil
			return fnErr
		})
		if err != fnErr {
			t.Fatalf("UpdateKey = %v, want fn's error unchanged", err)
		}
		got := mustGetKey(t, s, region1, "k1")
		checkKey(t, got, k)
		if got.Revision != 1 {
			t.Errorf("Revision = %d, want 1", got.Revision)
		}
	}},
	{"update/identity-is-fixed", func(t *testing.T, s store.Store) {
		k := plainKey(region1, account1, "k1")
		mustCreateKey(t, s, k)
		for _, c := range []struct {
			field  string
			change func(*store.Key)
		}{
			{"Region", func(k *store.Key) { k.Region = region2 }},
			{"KeyID", func(k *store.Key) { k.KeyID = "k2" }},
			{"AccountID", func(k *store.Key) { k.AccountID = account2 }},
		} {
			_, err := s.UpdateKey(t.Context(), k.Ref(), func(k *store.Key) error {
				k.Description = "must not be saved"
				c.change(k)
				return nil
			})
			if err == nil {
				t.Errorf("UpdateKey changing %s succeeded, want an error", c.field)
			}
			got := mustGetKey(t, s, region1, "k1")
			checkKey(t, got, k)
			if got.Revision != 1 {
				t.Errorf("after changing %s: Revision = %d, want 1", c.field, got.Revision)
			}
		}
		_, err := s.GetKey(t.Context(), store.KeyRef{Region: region2, KeyID: "k1"})
		wantErr(t, "GetKey in the other region", err, store.ErrNotFound)
		_, err = s.GetKey(t.Context(), store.KeyRef{Region: region1, KeyID: "k2"})
		wantErr(t, "GetKey with the other id", err, store.ErrNotFound)
	}},
	{"update/revision-set-by-store", func(t *testing.T, s store.Store) {
		k := plainKey(region1, account1, "k1")
		mustCreateKey(t, s, k)
		got, err := s.UpdateKey(t.Context(), k.Ref(), func(k *store.Key) error {
			k.Revision = 100
			return nil
		})
		must(t, "UpdateKey", err)
		if got.Revision != 2 {
			t.Errorf("returned Revision = %d, want 2", got.Revision)
		}
		if g := mustGetKey(t, s, region1, "k1"); g.Revision != 2 {
			t.Errorf("stored Revision = %d, want 2", g.Revision)
		}
	}},
	{"update/missing", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		called := false
		_, err := s.UpdateKey(t.Context(), store.KeyRef{Region: region2, KeyID: "k1"}, func(*store.Key) error {
			called = true
			return nil
		})
		wantErr(t, "UpdateKey", err, store.ErrNotFound)
		if called {
			t.Error("fn was called for a missing key")
		}
	}},
	{"delete/removes-key-and-its-aliases", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account1, "k2"))
		mustCreateKey(t, s, plainKey(region2, account1, "k1"))
		for _, a := range []store.Alias{
			alias(region1, account1, "alias/one", "k1"),
			alias(region1, account1, "alias/two", "k1"),
			alias(region1, account1, "alias/other", "k2"),
			alias(region2, account1, "alias/one", "k1"),
		} {
			must(t, "CreateAlias", s.CreateAlias(t.Context(), a))
		}
		must(t, "DeleteKey", s.DeleteKey(t.Context(), store.KeyRef{Region: region1, KeyID: "k1"}))
		_, err := s.GetKey(t.Context(), store.KeyRef{Region: region1, KeyID: "k1"})
		wantErr(t, "GetKey after delete", err, store.ErrNotFound)
		for _, name := range []string{"alias/one", "alias/two"} {
			_, err := s.GetAlias(t.Context(), region1, account1, name)
			wantErr(t, "GetAlias "+name+" after its key was deleted", err, store.ErrNotFound)
		}
		_, err = s.GetAlias(t.Context(), region1, account1, "alias/other")
		must(t, "GetAlias of another key", err)
		_, err = s.GetAlias(t.Context(), region2, account1, "alias/one")
		must(t, "GetAlias in the other region", err)
		mustGetKey(t, s, region2, "k1")
		mustGetKey(t, s, region1, "k2")
		wantErr(t, "second DeleteKey", s.DeleteKey(t.Context(), store.KeyRef{Region: region1, KeyID: "k1"}), store.ErrNotFound)
		// The id is free again.
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
	}},
	{"delete/missing", func(t *testing.T, s store.Store) {
		wantErr(t, "DeleteKey", s.DeleteKey(t.Context(), store.KeyRef{Region: region1, KeyID: "nope"}), store.ErrNotFound)
	}},
	{"delete-if-due", func(t *testing.T, s store.Store) {
		now := at(48 * time.Hour)
		pending := func(id string, del time.Time) store.Key {
			k := plainKey(region1, account1, id)
			k.KeyState = "PendingDeletion"
			k.DeletionDate = del
			k.PendingWindowInDays = 7
			return k
		}
		mustCreateKey(t, s, pending("due", now.Add(-time.Hour)))
		mustCreateKey(t, s, pending("exactly-now", now.In(time.UTC)))
		mustCreateKey(t, s, pending("future", now.Add(time.Millisecond)))
		mustCreateKey(t, s, plainKey(region1, account1, "enabled"))
		// Listed as due, then cancelled before the sweeper deletes it: the
		// cancellation must win.
		mustCreateKey(t, s, pending("cancelled", now.Add(-time.Hour)))
		// A DeletionDate left behind on a key that is no longer pending is
		// not enough.
		stale := plainKey(region1, account1, "stale-date")
		stale.DeletionDate = now.Add(-time.Hour)
		mustCreateKey(t, s, stale)
		must(t, "CreateAlias", s.CreateAlias(t.Context(), alias(region1, account1, "alias/due", "due")))
		must(t, "CreateAlias", s.CreateAlias(t.Context(), alias(region1, account1, "alias/cancelled", "cancelled")))
		_, err := s.UpdateKey(t.Context(), store.KeyRef{Region: region1, KeyID: "cancelled"}, func(k *store.Key) error {
			k.KeyState = "Disabled"
			k.DeletionDate = time.Time{}
			k.PendingWindowInDays = 0
			return nil
		})
		must(t, "UpdateKey", err)

		for id, want := range map[string]bool{
			"due": true, "exactly-now": true,
			"future": false, "enabled": false, "cancelled": false, "stale-date": false,
		} {
			ref := store.KeyRef{Region: region1, KeyID: id}
			deleted, err := s.DeleteKeyIfDue(t.Context(), ref, now)
			must(t, "DeleteKeyIfDue "+id, err)
			if deleted != want {
				t.Errorf("DeleteKeyIfDue %s = %v, want %v", id, deleted, want)
			}
			_, err = s.GetKey(t.Context(), ref)
			if want {
				wantErr(t, "GetKey "+id+" after DeleteKeyIfDue", err, store.ErrNotFound)
			} else {
				must(t, "GetKey "+id+" kept by DeleteKeyIfDue", err)
			}
		}
		_, err = s.GetAlias(t.Context(), region1, account1, "alias/due")
		wantErr(t, "GetAlias of a deleted key", err, store.ErrNotFound)
		_, err = s.GetAlias(t.Context(), region1, account1, "alias/cancelled")
		must(t, "GetAlias of a kept key", err)
		// The kept key is unchanged.
		k := mustGetKey(t, s, region1, "cancelled")
		if k.KeyState != "Disabled" || !k.DeletionDate.IsZero() || k.Revision != 2 {
			t.Errorf("kept key = state %s, deletion date %v, revision %d", k.KeyState, k.DeletionDate, k.Revision)
		}
		_, err = s.DeleteKeyIfDue(t.Context(), store.KeyRef{Region: region1, KeyID: "due"}, now)
		wantErr(t, "second DeleteKeyIfDue", err, store.ErrNotFound)
		_, err = s.DeleteKeyIfDue(t.Context(), store.KeyRef{Region: region2, KeyID: "due"}, now)
		wantErr(t, "DeleteKeyIfDue in another region", err, store.ErrNotFound)
	}},
	{"due-for-deletion", func(t *testing.T, s store.Store) {
		now := at(48 * time.Hour)
		mk := func(region, account, id string, del time.Time) {
			k := plainKey(region, account, id)
			if !del.IsZero() {
				k.KeyState = "PendingDeletion"
				k.DeletionDate = del
				k.PendingWindowInDays = 7
			}
			mustCreateKey(t, s, k)
		}
		mk(region1, account1, "past", now.Add(-time.Hour))
		mk(region2, account2, "past-other", now.Add(-24*time.Hour))
		mk(region1, account2, "exactly-now", now.In(time.UTC))
		mk(region1, account1, "future", now.Add(time.Millisecond))
		mk(region2, account1, "far-future", now.Add(30*24*time.Hour))
		mk(region1, account1, "not-pending", time.Time{})
		// A key whose deletion was scheduled and then cancelled.
		mk(region2, account1, "cancelled", now.Add(-time.Hour))
		_, err := s.UpdateKey(t.Context(), store.KeyRef{Region: region2, KeyID: "cancelled"}, func(k *store.Key) error {
			k.KeyState = "Disabled"
			k.DeletionDate = time.Time{}
			return nil
		})
		must(t, "UpdateKey", err)
		// And one scheduled by an update.
		mk(region2, account1, "scheduled", time.Time{})
		_, err = s.UpdateKey(t.Context(), store.KeyRef{Region: region2, KeyID: "scheduled"}, func(k *store.Key) error {
			k.KeyState = "PendingDeletion"
			k.DeletionDate = now.Add(-time.Minute)
			return nil
		})
		must(t, "UpdateKey", err)

		got, err := s.KeysDueForDeletion(t.Context(), now)
		must(t, "KeysDueForDeletion", err)
		sortRefs(got)
		want := []store.KeyRef{
			{Region: region2, KeyID: "past-other"},
			{Region: region2, KeyID: "scheduled"},
			{Region: region1, KeyID: "exactly-now"},
			{Region: region1, KeyID: "past"},
		}
		sortRefs(want)
		if !slices.Equal(got, want) {
			t.Fatalf("KeysDueForDeletion = %v, want %v", got, want)
		}
		got, err = s.KeysDueForDeletion(t.Context(), at(-time.Hour))
		must(t, "KeysDueForDeletion", err)
		if len(got) != 0 {
			t.Fatalf("KeysDueForDeletion before every date = %v, want none", got)
		}
	}},
	{"due-for-rotation", func(t *testing.T, s store.Store) {
		now := at(48 * time.Hour)
		mk := func(region, account, id string, next time.Time) {
			k := plainKey(region, account, id)
			if !next.IsZero() {
				k.RotationEnabled, k.RotationPeriodInDays, k.NextRotationDate = true, 90, next
			}
			mustCreateKey(t, s, k)
		}
		mk(region1, account1, "past", now.Add(-time.Hour))
		mk(region2, account2, "past-other", now.Add(-24*time.Hour))
		mk(region1, account2, "exactly-now", now.In(time.UTC))
		mk(region1, account1, "future", now.Add(time.Millisecond))
		mk(region1, account1, "not-enabled", time.Time{})
		// Rotation disabled by an update, and enabled by one.
		mk(region2, account1, "disabled", now.Add(-time.Hour))
		_, err := s.UpdateKey(t.Context(), store.KeyRef{Region: region2, KeyID: "disabled"}, func(k *store.Key) error {
			k.RotationEnabled, k.RotationPeriodInDays, k.NextRotationDate = false, 0, time.Time{}
			return nil
		})
		must(t, "UpdateKey", err)
		mk(region2, account1, "enabled", time.Time{})
		_, err = s.UpdateKey(t.Context(), store.KeyRef{Region: region2, KeyID: "enabled"}, func(k *store.Key) error {
			k.RotationEnabled, k.RotationPeriodInDays, k.NextRotationDate = true, 365, now.Add(-time.Minute)
			return nil
		})
		must(t, "UpdateKey", err)
		// A rotation moves the date past now: the key is no longer due.
		mk(region1, account1, "rotated", now.Add(-time.Hour))
		_, err = s.UpdateKey(t.Context(), store.KeyRef{Region: region1, KeyID: "rotated"}, func(k *store.Key) error {
			k.NextRotationDate = now.Add(90 * 24 * time.Hour)
			k.Materials = append(k.Materials, store.Material{ID: "rotated-material", Sealed: []byte{1}, CreatedAt: now, RotationType: "AUTOMATIC"})
			k.CurrentMaterialID = "rotated-material"
			return nil
		})
		must(t, "UpdateKey", err)

		got, err := s.KeysDueForRotation(t.Context(), now)
		must(t, "KeysDueForRotation", err)
		want := []store.KeyRef{
			{Region: region2, KeyID: "enabled"},
			{Region: region2, KeyID: "past-other"},
			{Region: region1, KeyID: "exactly-now"},
			{Region: region1, KeyID: "past"},
		}
		sortRefs(want)
		if !slices.Equal(got, want) {
			t.Fatalf("KeysDueForRotation = %v, want %v (ordered by region and key id)", got, want)
		}
		got, err = s.KeysDueForRotation(t.Context(), at(-time.Hour))
		must(t, "KeysDueForRotation", err)
		if len(got) != 0 {
			t.Fatalf("KeysDueForRotation before every date = %v, want none", got)
		}
		// The rotation fields, the material's rotation type and the last
		// usage round-trip.
		k, err := s.GetKey(t.Context(), store.KeyRef{Region: region1, KeyID: "rotated"})
		must(t, "GetKey", err)
		if !k.RotationEnabled || k.RotationPeriodInDays != 90 || !k.NextRotationDate.Equal(now.Add(90*24*time.Hour)) ||
			len(k.Materials) != 2 || k.Materials[1].RotationType != "AUTOMATIC" || k.Materials[0].RotationType != "" {
			t.Fatalf("rotated key = %+v", k)
		}
		used := store.KeyUsage{Time: now.In(time.FixedZone("x", 3600)), Operation: "Encrypt", RequestID: "r-1"}
		_, err = s.UpdateKey(t.Context(), k.Ref(), func(k *store.Key) error {
			k.OnDemandRotations = 3
			k.LastUsage = &used
			return nil
		})
		must(t, "UpdateKey", err)
		k, err = s.GetKey(t.Context(), k.Ref())
		must(t, "GetKey", err)
		if k.OnDemandRotations != 3 || k.LastUsage == nil || !k.LastUsage.Time.Equal(now) || k.LastUsage.Time.Location() != time.UTC ||
			k.LastUsage.Operation != "Encrypt" || k.LastUsage.RequestID != "r-1" {
			t.Fatalf("key after usage = %+v, usage %+v", k, k.LastUsage)
		}
	}},
	{"due-for-material-expiry", func(t *testing.T, s store.Store) {
		now := at(48 * time.Hour)
		valid := now.Add(-time.Hour).In(time.FixedZone("y", -7200))
		imported := func(region, id string, expiry time.Time) {
			k := plainKey(region, account1, id)
			k.Origin, k.MaterialExpiry = "EXTERNAL", expiry
			k.Materials[0].ExpirationModel, k.Materials[0].ValidTo = "KEY_MATERIAL_EXPIRES", expiry
			k.Materials[0].Description, k.Materials[0].PendingRotation = "imported", true
			mustCreateKey(t, s, k)
		}
		imported(region1, "expired", valid)
		imported(region2, "exactly-now", now)
		imported(region1, "later", now.Add(time.Millisecond))
		imported(region1, "never", time.Time{})
		// Re-imported with a later date by an update: no longer due.
		imported(region2, "reimported", now.Add(-time.Minute))
		_, err := s.UpdateKey(t.Context(), store.KeyRef{Region: region2, KeyID: "reimported"}, func(k *store.Key) error {
			k.MaterialExpiry = now.Add(time.Hour)
			return nil
		})
		must(t, "UpdateKey", err)
		got, err := s.KeysDueForMaterialExpiry(t.Context(), now)
		must(t, "KeysDueForMaterialExpiry", err)
		want := []store.KeyRef{{Region: region1, KeyID: "expired"}, {Region: region2, KeyID: "exactly-now"}}
		sortRefs(want)
		if !slices.Equal(got, want) {
			t.Fatalf("KeysDueForMaterialExpiry = %v, want %v (ordered by region and key id)", got, want)
		}
		// The imported material's fields round-trip, in UTC.
		k, err := s.GetKey(t.Context(), store.KeyRef{Region: region1, KeyID: "expired"})
		must(t, "GetKey", err)
		m := k.Materials[0]
		if !k.MaterialExpiry.Equal(valid) || k.MaterialExpiry.Location() != time.UTC || !k.DueForMaterialExpiry(now) ||
			m.ExpirationModel != "KEY_MATERIAL_EXPIRES" || !m.ValidTo.Equal(valid) || m.ValidTo.Location() != time.UTC ||
			m.Description != "imported" || !m.PendingRotation {
			t.Fatalf("imported key = %+v", k)
		}
	}},
}

func sortRefs(r []store.KeyRef) {
	sort.Slice(r, func(i, j int) bool {
		if r[i].Region != r[j].Region {
			return r[i].Region < r[j].Region
		}
		return r[i].KeyID < r[j].KeyID
	})
}

// --- aliases ----------------------------------------------------------------

func alias(region, account, name, target string) store.Alias {
	return store.Alias{
		Region:          region,
		AccountID:       account,
		Name:            name,
		TargetKeyID:     target,
		CreationDate:    at(time.Second),
		LastUpdatedDate: at(time.Second),
	}
}

func checkAlias(t *testing.T, got, want store.Alias) {
	t.Helper()
	if got.Region != want.Region || got.AccountID != want.AccountID || got.Name != want.Name || got.TargetKeyID != want.TargetKeyID {
		t.Errorf("alias = %s/%s/%s -> %s, want %s/%s/%s -> %s",
			got.Region, got.AccountID, got.Name, got.TargetKeyID, want.Region, want.AccountID, want.Name, want.TargetKeyID)
	}
	checkTime(t, "CreationDate", got.CreationDate, want.CreationDate)
	checkTime(t, "LastUpdatedDate", got.LastUpdatedDate, want.LastUpdatedDate)
}

func aliasNames(as []store.Alias) []string {
	names := []string{}
	for _, a := range as {
		names = append(names, a.Name)
	}
	return names
}

var aliasTests = []test{
	{"create-get", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		a := alias(region1, account1, "alias/my-app", "k1")
		a.LastUpdatedDate = at(2 * time.Second)
		must(t, "CreateAlias", s.CreateAlias(t.Context(), a))
		got, err := s.GetAlias(t.Context(), region1, account1, "alias/my-app")
		must(t, "GetAlias", err)
		checkAlias(t, got, a)
	}},
	{"create/duplicate", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account1, "k2"))
		a := alias(region1, account1, "alias/x", "k1")
		must(t, "CreateAlias", s.CreateAlias(t.Context(), a))
		wantErr(t, "CreateAlias same name, other key", s.CreateAlias(t.Context(), alias(region1, account1, "alias/x", "k2")), store.ErrExists)
		got, err := s.GetAlias(t.Context(), region1, account1, "alias/x")
		must(t, "GetAlias", err)
		checkAlias(t, got, a)
	}},
	{"create/same-name-other-account-or-region", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account2, "k2"))
		mustCreateKey(t, s, plainKey(region2, account1, "k1"))
		for _, a := range []store.Alias{
			alias(region1, account1, "alias/x", "k1"),
			alias(region1, account2, "alias/x", "k2"),
			alias(region2, account1, "alias/x", "k1"),
		} {
			must(t, "CreateAlias "+a.Region+"/"+a.AccountID, s.CreateAlias(t.Context(), a))
			got, err := s.GetAlias(t.Context(), a.Region, a.AccountID, a.Name)
			must(t, "GetAlias", err)
			checkAlias(t, got, a)
		}
	}},
	{"create/missing-target", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account2, "k-other-account"))
		for _, c := range []struct{ name, region, target string }{
			{"unknown key", region1, "nope"},
			{"key in another region", region2, "k1"},
			{"key of another account", region1, "k-other-account"},
		} {
			err := s.CreateAlias(t.Context(), alias(c.region, account1, "alias/x", c.target))
			wantErr(t, "CreateAlias to "+c.name, err, store.ErrNotFound)
			_, err = s.GetAlias(t.Context(), c.region, account1, "alias/x")
			wantErr(t, "GetAlias after failed create ("+c.name+")", err, store.ErrNotFound)
		}
	}},
	{"get/missing", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		must(t, "CreateAlias", s.CreateAlias(t.Context(), alias(region1, account1, "alias/x", "k1")))
		for _, c := range []struct{ region, account, name string }{
			{region1, account1, "alias/y"},
			{region1, account1, "alias/X"},
			{region2, account1, "alias/x"},
			{region1, account2, "alias/x"},
		} {
			_, err := s.GetAlias(t.Context(), c.region, c.account, c.name)
			wantErr(t, fmt.Sprintf("GetAlias(%s, %s, %s)", c.region, c.account, c.name), err, store.ErrNotFound)
		}
	}},
	{"update", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account1, "k2"))
		a := alias(region1, account1, "alias/x", "k1")
		must(t, "CreateAlias", s.CreateAlias(t.Context(), a))
		now := at(time.Hour)
		must(t, "UpdateAlias", s.UpdateAlias(t.Context(), region1, account1, "alias/x", "k2", now))
		got, err := s.GetAlias(t.Context(), region1, account1, "alias/x")
		must(t, "GetAlias", err)
		want := a
		want.TargetKeyID = "k2"
		want.LastUpdatedDate = now
		checkAlias(t, got, want)
	}},
	{"update/missing-alias", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		err := s.UpdateAlias(t.Context(), region1, account1, "alias/nope", "k1", at(time.Hour))
		wantErr(t, "UpdateAlias", err, store.ErrNotFound)
		_, err = s.GetAlias(t.Context(), region1, account1, "alias/nope")
		wantErr(t, "GetAlias after failed update", err, store.ErrNotFound)
	}},
	{"update/missing-key", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account2, "k-other-account"))
		a := alias(region1, account1, "alias/x", "k1")
		must(t, "CreateAlias", s.CreateAlias(t.Context(), a))
		for _, target := range []string{"nope", "k-other-account"} {
			err := s.UpdateAlias(t.Context(), region1, account1, "alias/x", target, at(time.Hour))
			wantErr(t, "UpdateAlias to "+target, err, store.ErrNotFound)
		}
		got, err := s.GetAlias(t.Context(), region1, account1, "alias/x")
		must(t, "GetAlias", err)
		checkAlias(t, got, a)
	}},
	{"delete", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		must(t, "CreateAlias", s.CreateAlias(t.Context(), alias(region1, account1, "alias/x", "k1")))
		must(t, "CreateAlias", s.CreateAlias(t.Context(), alias(region1, account1, "alias/y", "k1")))
		wantErr(t, "DeleteAlias in another account", s.DeleteAlias(t.Context(), region1, account2, "alias/x"), store.ErrNotFound)
		must(t, "DeleteAlias", s.DeleteAlias(t.Context(), region1, account1, "alias/x"))
		_, err := s.GetAlias(t.Context(), region1, account1, "alias/x")
		wantErr(t, "GetAlias after delete", err, store.ErrNotFound)
		wantErr(t, "second DeleteAlias", s.DeleteAlias(t.Context(), region1, account1, "alias/x"), store.ErrNotFound)
		_, err = s.GetAlias(t.Context(), region1, account1, "alias/y")
		must(t, "GetAlias of the other alias", err)
		mustGetKey(t, s, region1, "k1") // deleting an alias leaves its key alone
	}},
	{"count", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account1, "k2"))
		mustCreateKey(t, s, plainKey(region1, account2, "k1x"))
		mustCreateKey(t, s, plainKey(region2, account1, "k1"))
		count := func(region, account, target string, want int) {
			t.Helper()
			n, err := s.CountAliases(t.Context(), region, account, target)
			must(t, "CountAliases", err)
			if n != want {
				t.Errorf("CountAliases(%s, %s, %s) = %d, want %d", region, account, target, n, want)
			}
		}
		count(region1, account1, "k1", 0)
		for _, a := range []store.Alias{
			alias(region1, account1, "alias/a", "k1"),
			alias(region1, account1, "alias/b", "k1"),
			alias(region1, account1, "alias/c", "k2"),
			alias(region1, account2, "alias/a", "k1x"),
			alias(region2, account1, "alias/a", "k1"),
		} {
			must(t, "CreateAlias", s.CreateAlias(t.Context(), a))
		}
		count(region1, account1, "k1", 2)
		count(region1, account1, "k2", 1)
		count(region1, account1, "nope", 0)
		count(region2, account1, "k1", 1)
		count(region1, account2, "k1x", 1)
		must(t, "UpdateAlias", s.UpdateAlias(t.Context(), region1, account1, "alias/b", "k2", at(time.Hour)))
		count(region1, account1, "k1", 1)
		count(region1, account1, "k2", 2)
		must(t, "DeleteAlias", s.DeleteAlias(t.Context(), region1, account1, "alias/c"))
		count(region1, account1, "k2", 1)
	}},
	{"list", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account1, "k2"))
		mustCreateKey(t, s, plainKey(region1, account2, "k3"))
		mustCreateKey(t, s, plainKey(region2, account1, "k1"))
		byName := map[string]string{
			"alias/b": "k1", "alias/B": "k2", "alias/a-1": "k1", "alias/a": "k2",
			"alias/_z": "k1", "alias/0": "k2", "alias/\u00e9": "k1",
		}
		for name, target := range byName {
			must(t, "CreateAlias", s.CreateAlias(t.Context(), alias(region1, account1, name, target)))
		}
		must(t, "CreateAlias", s.CreateAlias(t.Context(), alias(region1, account2, "alias/a0", "k3")))
		must(t, "CreateAlias", s.CreateAlias(t.Context(), alias(region2, account1, "alias/a0", "k1")))

		all := slices.Sorted(func(yield func(string) bool) {
			for n := range byName {
				if !yield(n) {
					return
				}
			}
		})
		got, err := s.ListAliases(t.Context(), region1, account1, "", "", 0)
		must(t, "ListAliases", err)
		if names := aliasNames(got); !slices.Equal(names, all) {
			t.Fatalf("ListAliases = %q, want %q", names, all)
		}
		for _, a := range got {
			checkAlias(t, a, alias(region1, account1, a.Name, byName[a.Name]))
		}

		var k1 []string
		for _, n := range all {
			if byName[n] == "k1" {
				k1 = append(k1, n)
			}
		}
		got, err = s.ListAliases(t.Context(), region1, account1, "k1", "", -1)
		must(t, "ListAliases for k1", err)
		if names := aliasNames(got); !slices.Equal(names, k1) {
			t.Fatalf("ListAliases for k1 = %q, want %q", names, k1)
		}
		got, err = s.ListAliases(t.Context(), region1, account1, "k3", "", 0)
		must(t, "ListAliases for another account's key", err)
		if len(got) != 0 {
			t.Fatalf("ListAliases for another account's key = %q, want none", aliasNames(got))
		}
		got, err = s.ListAliases(t.Context(), "ap-south-1", account1, "", "", 0)
		must(t, "ListAliases in an unknown region", err)
		if len(got) != 0 {
			t.Fatalf("ListAliases in an unknown region = %q, want none", aliasNames(got))
		}

		for _, target := range []string{"", "k1"} {
			want := all
			if target != "" {
				want = k1
			}
			for _, limit := range []int{1, 2, 3, len(want), len(want) + 5} {
				var names []string
				after := ""
				for page := 0; ; page++ {
					if page > len(want)+1 {
						t.Fatalf("target %q limit %d: pagination does not end", target, limit)
					}
					got, err := s.ListAliases(t.Context(), region1, account1, target, after, limit)
					must(t, "ListAliases", err)
					if len(got) > limit {
						t.Fatalf("target %q limit %d: got %d aliases", target, limit, len(got))
					}
					if len(got) == 0 {
						break
					}
					names = append(names, aliasNames(got)...)
					after = got[len(got)-1].Name
				}
				if !slices.Equal(names, want) {
					t.Fatalf("target %q limit %d: pages = %q, want %q", target, limit, names, want)
				}
			}
		}
	}},
}

// --- concurrency ------------------------------------------------------------

// parallel runs fn(i) for i in [0, n) in n goroutines that start together.
func parallel(n int, fn func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			fn(i)
		}()
	}
	start.Done()
	done.Wait()
}

var concurrencyTests = []test{
	{"delete-if-due-or-cancel", func(t *testing.T, s store.Store) {
		// A cancellation racing the sweeper either commits first, and the
		// key stays, or finds the key gone; never both a successful
		// cancellation and a deleted key.
		const rounds = 20
		now := at(48 * time.Hour)
		for i := range rounds {
			k := plainKey(region1, account1, fmt.Sprint("race", i))
			k.KeyState = "PendingDeletion"
			k.DeletionDate = now.Add(-time.Minute)
			mustCreateKey(t, s, k)
			var deleted bool
			var delErr, cancelErr error
			parallel(2, func(w int) {
				if w == 0 {
					deleted, delErr = s.DeleteKeyIfDue(context.Background(), k.Ref(), now)
					return
				}
				_, cancelErr = s.UpdateKey(context.Background(), k.Ref(), func(k *store.Key) error {
					k.KeyState = "Disabled"
					k.DeletionDate = time.Time{}
					return nil
				})
			})
			must(t, "DeleteKeyIfDue", delErr)
			_, getErr := s.GetKey(t.Context(), k.Ref())
			switch {
			case deleted && errors.Is(cancelErr, store.ErrNotFound) && errors.Is(getErr, store.ErrNotFound):
			case !deleted && cancelErr == nil && getErr == nil:
			default:
				t.Fatalf("round %d: deleted = %v, cancel = %v, GetKey after = %v", i, deleted, cancelErr, getErr)
			}
		}
	}},
	{"update-key-loses-no-update", func(t *testing.T, s store.Store) {
		const workers, each = 12, 10
		k := plainKey(region1, account1, "counter")
		mustCreateKey(t, s, k)
		errs := make(chan error, workers*each)
		parallel(workers, func(int) {
			for range each {
				_, err := s.UpdateKey(context.Background(), k.Ref(), func(k *store.Key) error {
					k.PendingWindowInDays++
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
		close(errs)
		for err := range errs {
			t.Errorf("UpdateKey: %v", err)
		}
		got := mustGetKey(t, s, region1, "counter")
		if got.PendingWindowInDays != workers*each {
			t.Errorf("counter = %d after %d increments: updates were lost", got.PendingWindowInDays, workers*each)
		}
		if got.Revision != 1+workers*each {
			t.Errorf("Revision = %d, want %d", got.Revision, 1+workers*each)
		}
	}},
	{"create-alias-one-winner", func(t *testing.T, s store.Store) {
		const workers = 12
		for i := range workers {
			mustCreateKey(t, s, plainKey(region1, account1, fmt.Sprint("k", i)))
		}
		results := make([]error, workers)
		parallel(workers, func(i int) {
			results[i] = s.CreateAlias(context.Background(), alias(region1, account1, "alias/race", fmt.Sprint("k", i)))
		})
		winner := -1
		for i, err := range results {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("CreateAlias succeeded for both k%d and k%d", winner, i)
				}
				winner = i
			case !errors.Is(err, store.ErrExists):
				t.Errorf("CreateAlias for k%d: %v, want nil or ErrExists", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no CreateAlias succeeded")
		}
		got, err := s.GetAlias(t.Context(), region1, account1, "alias/race")
		must(t, "GetAlias", err)
		if want := fmt.Sprint("k", winner); got.TargetKeyID != want {
			t.Errorf("alias targets %s, want the winner %s", got.TargetKeyID, want)
		}
	}},
	{"create-key-one-winner", func(t *testing.T, s store.Store) {
		const workers = 12
		results := make([]error, workers)
		parallel(workers, func(i int) {
			k := plainKey(region1, account1, "race")
			k.Description = fmt.Sprint("writer ", i)
			results[i] = s.CreateKey(context.Background(), k)
		})
		winner := -1
		for i, err := range results {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Errorf("CreateKey succeeded for both writer %d and %d", winner, i)
				}
				winner = i
			case !errors.Is(err, store.ErrExists):
				t.Errorf("CreateKey by writer %d: %v, want nil or ErrExists", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no CreateKey succeeded")
		}
		if got := mustGetKey(t, s, region1, "race"); got.Description != fmt.Sprint("writer ", winner) {
			t.Errorf("stored key is from %q, want writer %d", got.Description, winner)
		}
	}},
	{"reads-during-writes", func(t *testing.T, s store.Store) {
		k := plainKey(region1, account1, "k1")
		mustCreateKey(t, s, k)
		errs := make(chan error, 200)
		parallel(8, func(i int) {
			for j := range 10 {
				if i%2 == 0 {
					_, err := s.UpdateKey(context.Background(), k.Ref(), func(k *store.Key) error {
						k.Description = fmt.Sprint(i, "/", j)
						return nil
					})
					if err != nil {
						errs <- err
					}
					continue
				}
				got, err := s.GetKey(context.Background(), k.Ref())
				if err != nil {
					errs <- err
				} else if len(got.Materials) != 1 || !bytes.Equal(got.Materials[0].Sealed, k.Materials[0].Sealed) {
					errs <- fmt.Errorf("read a torn key at revision %d", got.Revision)
				}
			}
		})
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}},
}

func grant(region, account, keyID, id string) store.Grant {
	return store.Grant{
		Region: region, KeyID: keyID, AccountID: account, GrantID: id,
		CreationDate:     at(3 * time.Second),
		GranteePrincipal: "arn:aws:iam::" + account + ":role/app",
		IssuingAccount:   "arn:aws:iam::" + account + ":root",
		Operations:       []string{"Encrypt", "Decrypt"},
	}
}

func checkGrant(t *testing.T, got, want store.Grant) {
	t.Helper()
	checkTime(t, "grant CreationDate", got.CreationDate, want.CreationDate)
	got.CreationDate, want.CreationDate = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("grant:\n got %+v\nwant %+v", got, want)
	}
}

func grantIDs(gs []store.Grant) []string {
	out := make([]string, len(gs))
	for i := range gs {
		out[i] = gs[i].GrantID
	}
	return out
}

var grantTests = []test{
	{"create-get/every-field", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		g := grant(region1, account1, "k1", "g1")
		g.Name = "app-grant"
		g.RetiringPrincipal = "arn:aws:iam::" + account2 + ":root"
		g.EncryptionContextEquals = map[string]string{"Dept": "IT", "k": ""}
		g.EncryptionContextSubset = map[string]string{}
		g.SourceArn = "arn:aws:s3:::bucket"
		must(t, "CreateGrant", s.CreateGrant(t.Context(), g, 0))
		got, err := s.GetGrant(t.Context(), store.KeyRef{Region: region1, KeyID: "k1"}, "g1")
		must(t, "GetGrant", err)
		checkGrant(t, got, g)
		if got.EncryptionContextSubset == nil {
			t.Error("an empty EncryptionContextSubset came back absent")
		}
	}},
	{"create-get/service-principals", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		g := grant(region1, account1, "k1", "g1")
		g.GranteePrincipal, g.GranteeServicePrincipal = "", "logs.us-east-1.amazonaws.com"
		g.RetiringServicePrincipal = "logs.us-east-1.amazonaws.com"
		g.SourceArn = "arn:aws:logs:us-east-1:" + account1 + ":log-group:x"
		must(t, "CreateGrant", s.CreateGrant(t.Context(), g, 0))
		got, err := s.GetGrant(t.Context(), g.Ref(), "g1")
		must(t, "GetGrant", err)
		checkGrant(t, got, g)
	}},
	{"create/missing-key", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		wantErr(t, "CreateGrant unknown key", s.CreateGrant(t.Context(), grant(region1, account1, "nope", "g1"), 0), store.ErrNotFound)
		wantErr(t, "CreateGrant other region", s.CreateGrant(t.Context(), grant(region2, account1, "k1", "g1"), 0), store.ErrNotFound)
		wantErr(t, "CreateGrant other account", s.CreateGrant(t.Context(), grant(region1, account2, "k1", "g1"), 0), store.ErrNotFound)
		gs, err := s.ListGrants(t.Context(), store.KeyRef{Region: region1, KeyID: "k1"}, store.GrantFilter{})
		must(t, "ListGrants", err)
		if len(gs) != 0 {
			t.Errorf("grants after refused creates: %v", grantIDs(gs))
		}
	}},
	{"create/duplicate-id", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account1, "k2"))
		must(t, "CreateGrant", s.CreateGrant(t.Context(), grant(region1, account1, "k1", "g1"), 0))
		wantErr(t, "CreateGrant same id", s.CreateGrant(t.Context(), grant(region1, account1, "k1", "g1"), 0), store.ErrExists)
		must(t, "CreateGrant same id on another key", s.CreateGrant(t.Context(), grant(region1, account1, "k2", "g1"), 0))
	}},
	{"create/max", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account1, "k2"))
		for _, id := range []string{"g1", "g2"} {
			must(t, "CreateGrant "+id, s.CreateGrant(t.Context(), grant(region1, account1, "k1", id), 2))
		}
		wantErr(t, "CreateGrant third", s.CreateGrant(t.Context(), grant(region1, account1, "k1", "g3"), 2), store.ErrQuota)
		must(t, "CreateGrant on another key", s.CreateGrant(t.Context(), grant(region1, account1, "k2", "g3"), 2))
		must(t, "DeleteGrant", s.DeleteGrant(t.Context(), store.KeyRef{Region: region1, KeyID: "k1"}, "g1"))
		must(t, "CreateGrant after delete", s.CreateGrant(t.Context(), grant(region1, account1, "k1", "g3"), 2))
	}},
	{"create/max-concurrent", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		var mu sync.Mutex
		ok := 0
		parallel(8, func(i int) {
			err := s.CreateGrant(t.Context(), grant(region1, account1, "k1", fmt.Sprintf("g%d", i)), 3)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrQuota):
				t.Errorf("CreateGrant %d: %v", i, err)
			}
		})
		gs, err := s.ListGrants(t.Context(), store.KeyRef{Region: region1, KeyID: "k1"}, store.GrantFilter{})
		must(t, "ListGrants", err)
		if ok != 3 || len(gs) != 3 {
			t.Errorf("%d creates succeeded and %d grants exist, want 3 and 3", ok, len(gs))
		}
	}},
	{"list/filters-and-paging", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account1, "k2"))
		ref := store.KeyRef{Region: region1, KeyID: "k1"}
		for _, id := range []string{"gc", "ga", "gB", "gb"} {
			g := grant(region1, account1, "k1", id)
			if id == "ga" || id == "gb" {
				g.Name = "n"
				g.GranteePrincipal = "arn:aws:iam::" + account1 + ":user/u"
			}
			must(t, "CreateGrant "+id, s.CreateGrant(t.Context(), g, 0))
		}
		must(t, "CreateGrant on k2", s.CreateGrant(t.Context(), grant(region1, account1, "k2", "gz"), 0))
		for _, c := range []struct {
			name string
			f    store.GrantFilter
			want []string
		}{
			{"all, bytewise", store.GrantFilter{}, []string{"gB", "ga", "gb", "gc"}},
			{"after", store.GrantFilter{After: "ga"}, []string{"gb", "gc"}},
			{"limit", store.GrantFilter{Limit: 2}, []string{"gB", "ga"}},
			{"id", store.GrantFilter{GrantID: "gb"}, []string{"gb"}},
			{"id of another key", store.GrantFilter{GrantID: "gz"}, []string{}},
			{"name", store.GrantFilter{Name: "n"}, []string{"ga", "gb"}},
			{"grantee", store.GrantFilter{Grantee: "arn:aws:iam::" + account1 + ":user/u", After: "ga"}, []string{"gb"}},
		} {
			gs, err := s.ListGrants(t.Context(), ref, c.f)
			must(t, "ListGrants "+c.name, err)
			if got := grantIDs(gs); !slices.Equal(got, c.want) {
				t.Errorf("ListGrants %s = %v, want %v", c.name, got, c.want)
			}
		}
	}},
	{"list-retirable", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		mustCreateKey(t, s, plainKey(region1, account2, "k2"))
		mustCreateKey(t, s, plainKey(region2, account1, "k3"))
		r := "arn:aws:iam::" + account1 + ":role/retirer"
		for _, g := range []store.Grant{
			grant(region1, account1, "k1", "g1"),
			grant(region1, account2, "k2", "g1"),
			grant(region1, account1, "k1", "g2"),
			grant(region2, account1, "k3", "g0"),
			grant(region1, account1, "k1", "g3"),
		} {
			if g.GrantID != "g3" {
				g.RetiringPrincipal = r
			}
			must(t, "CreateGrant", s.CreateGrant(t.Context(), g, 0))
		}
		key := func(gs []store.Grant) []string {
			out := []string{}
			for _, g := range gs {
				out = append(out, g.GrantID+"/"+g.KeyID)
			}
			return out
		}
		gs, err := s.ListRetirableGrants(t.Context(), region1, r, "", "", 0)
		must(t, "ListRetirableGrants", err)
		if got, want := key(gs), []string{"g1/k1", "g1/k2", "g2/k1"}; !slices.Equal(got, want) {
			t.Errorf("ListRetirableGrants = %v, want %v", got, want)
		}
		gs, err = s.ListRetirableGrants(t.Context(), region1, r, "g1", "k1", 1)
		must(t, "ListRetirableGrants after", err)
		if got, want := key(gs), []string{"g1/k2"}; !slices.Equal(got, want) {
			t.Errorf("ListRetirableGrants after g1/k1 = %v, want %v", got, want)
		}
	}},
	{"delete", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		ref := store.KeyRef{Region: region1, KeyID: "k1"}
		must(t, "CreateGrant", s.CreateGrant(t.Context(), grant(region1, account1, "k1", "g1"), 0))
		must(t, "DeleteGrant", s.DeleteGrant(t.Context(), ref, "g1"))
		wantErr(t, "DeleteGrant again", s.DeleteGrant(t.Context(), ref, "g1"), store.ErrNotFound)
		_, err := s.GetGrant(t.Context(), ref, "g1")
		wantErr(t, "GetGrant deleted", err, store.ErrNotFound)
	}},
	{"delete-key-deletes-grants", func(t *testing.T, s store.Store) {
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		k2 := plainKey(region1, account1, "k2")
		k2.KeyState, k2.DeletionDate = "PendingDeletion", at(time.Hour)
		mustCreateKey(t, s, k2)
		r := "arn:aws:iam::" + account1 + ":root"
		for _, k := range []string{"k1", "k2"} {
			g := grant(region1, account1, k, "g1")
			g.RetiringPrincipal = r
			must(t, "CreateGrant", s.CreateGrant(t.Context(), g, 0))
		}
		must(t, "DeleteKey", s.DeleteKey(t.Context(), store.KeyRef{Region: region1, KeyID: "k1"}))
		deleted, err := s.DeleteKeyIfDue(t.Context(), store.KeyRef{Region: region1, KeyID: "k2"}, at(2*time.Hour))
		must(t, "DeleteKeyIfDue", err)
		if !deleted {
			t.Fatal("DeleteKeyIfDue did not delete")
		}
		// A key created again with the same id starts without grants.
		mustCreateKey(t, s, plainKey(region1, account1, "k1"))
		gs, err := s.ListGrants(t.Context(), store.KeyRef{Region: region1, KeyID: "k1"}, store.GrantFilter{})
		must(t, "ListGrants", err)
		rs, err2 := s.ListRetirableGrants(t.Context(), region1, r, "", "", 0)
		must(t, "ListRetirableGrants", err2)
		if len(gs) != 0 || len(rs) != 0 {
			t.Errorf("grants of deleted keys remain: %v, retirable %v", grantIDs(gs), grantIDs(rs))
		}
	}},
}

// allKeyRefs returns every key of the store, in the regions and accounts
// the tests use.
func allKeyRefs(t *testing.T, s store.Store) []store.KeyRef {
	t.Helper()
	var out []store.KeyRef
	for _, region := range []string{region1, region2} {
		for _, account := range []string{account1, account2} {
			refs, err := s.ListKeys(t.Context(), region, account, "", 0)
			must(t, "ListKeys", err)
			out = append(out, refs...)
		}
	}
	return out
}
