package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/store"
)

func user(account, name string) store.Entity {
	return store.Entity{AccountID: account, Kind: store.KindUser, Name: name, Path: "/eng/", ID: "AIDA" + name,
		CreatedAt: at(time.Hour), Tags: []store.Tag{{Key: "team", Value: "a"}, {Key: "cc", Value: ""}}}
}

func role(account, name string) store.Entity {
	return store.Entity{AccountID: account, Kind: store.KindRole, Name: name, Path: "/", ID: "AROA" + name,
		CreatedAt: at(time.Hour), TrustPolicy: `{"Version":"2012-10-17"}`, MaxSessionDuration: 3600, Description: "d"}
}

func checkEntity(t *testing.T, got, want store.Entity) {
	t.Helper()
	if got.AccountID != want.AccountID || got.Kind != want.Kind || got.Name != want.Name || got.Path != want.Path ||
		got.ID != want.ID || got.TrustPolicy != want.TrustPolicy || got.MaxSessionDuration != want.MaxSessionDuration ||
		got.Description != want.Description {
		t.Errorf("entity = %+v, want %+v", got, want)
	}
	if len(got.Tags) != len(want.Tags) {
		t.Errorf("tags = %v, want %v", got.Tags, want.Tags)
	}
	for i := range min(len(got.Tags), len(want.Tags)) {
		if got.Tags[i] != want.Tags[i] {
			t.Errorf("tag %d = %v, want %v", i, got.Tags[i], want.Tags[i])
		}
	}
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
}

func managed(account, name string) store.ManagedPolicy {
	return store.ManagedPolicy{AccountID: account, Name: name, Path: "/", ID: "ANPA" + name, Document: `{"Statement":[]}`,
		DefaultVersionID: "v1", CreatedAt: at(time.Hour), UpdatedAt: at(time.Hour)}
}

func policyNames(ps []store.ManagedPolicy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

var iamTests = []test{
	{"entity-create-get-case-insensitive", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111122223333", "444455556666")
		u := user("111122223333", "Alice")
		must(t, "CreateEntity", s.CreateEntity(t.Context(), u))
		got, err := s.GetEntity(t.Context(), "111122223333", store.KindUser, "aLICE")
		must(t, "GetEntity", err)
		checkEntity(t, got, u)
		wantErr(t, "CreateEntity duplicate", s.CreateEntity(t.Context(), user("111122223333", "ALICE")), store.ErrExists)
		// Same name: another kind and another account are separate.
		must(t, "CreateEntity role", s.CreateEntity(t.Context(), role("111122223333", "alice")))
		must(t, "CreateEntity other account", s.CreateEntity(t.Context(), user("444455556666", "alice")))
		_, err = s.GetEntity(t.Context(), "111122223333", store.KindUser, "bob")
		wantErr(t, "GetEntity missing", err, store.ErrNotFound)
		wantErr(t, "CreateEntity no account", s.CreateEntity(t.Context(), user("999999999999", "x")), store.ErrNotFound)
		r, err := s.GetEntity(t.Context(), "111122223333", store.KindRole, "ALICE")
		must(t, "GetEntity role", err)
		checkEntity(t, r, role("111122223333", "alice"))
	}},
	{"entity-list-order", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111122223333", "444455556666")
		for _, n := range []string{"carol", "Bob", "alice"} {
			must(t, "CreateEntity", s.CreateEntity(t.Context(), user("111122223333", n)))
		}
		must(t, "CreateEntity", s.CreateEntity(t.Context(), user("444455556666", "dave")))
		must(t, "CreateEntity", s.CreateEntity(t.Context(), role("111122223333", "r")))
		l, err := s.ListEntities(t.Context(), "111122223333", store.KindUser)
		must(t, "ListEntities", err)
		var names []string
		for _, e := range l {
			names = append(names, e.Name)
		}
		if len(names) != 3 || names[0] != "alice" || names[1] != "Bob" || names[2] != "carol" {
			t.Errorf("ListEntities = %v, want [alice Bob carol]", names)
		}
	}},
	{"entity-update", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111122223333")
		u := user("111122223333", "alice")
		must(t, "CreateEntity", s.CreateEntity(t.Context(), u))
		got, err := s.UpdateEntity(t.Context(), "111122223333", store.KindUser, "ALICE", func(e *store.Entity) error {
			e.Tags = []store.Tag{{Key: "k", Value: "v"}}
			return nil
		})
		must(t, "UpdateEntity", err)
		u.Tags = []store.Tag{{Key: "k", Value: "v"}}
		checkEntity(t, got, u)
		got, _ = s.GetEntity(t.Context(), "111122223333", store.KindUser, "alice")
		checkEntity(t, got, u)
		boom := errors.New("boom")
		_, err = s.UpdateEntity(t.Context(), "111122223333", store.KindUser, "alice", func(e *store.Entity) error {
			e.Tags = nil
			return boom
		})
		wantErr(t, "UpdateEntity fn error", err, boom)
		_, err = s.UpdateEntity(t.Context(), "111122223333", store.KindUser, "alice", func(e *store.Entity) error {
			e.ID = "AIDAOTHER"
			return nil
		})
		if err == nil {
			t.Error("UpdateEntity changing ID succeeded")
		}
		got, _ = s.GetEntity(t.Context(), "111122223333", store.KindUser, "alice")
		checkEntity(t, got, u)
		_, err = s.UpdateEntity(t.Context(), "111122223333", store.KindUser, "bob", func(*store.Entity) error {
			t.Error("fn called for a missing entity")
			return nil
		})
		wantErr(t, "UpdateEntity missing", err, store.ErrNotFound)
	}},
	{"user-access-keys", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111122223333")
		u := user("111122223333", "alice")
		k := accessKey("AKIAUSER0000000001", "111122223333")
		k.UserName, k.Principal = "alice", "arn:aws:iam::111122223333:user/eng/alice"
		wantErr(t, "CreateAccessKey no user", s.CreateAccessKey(t.Context(), k), store.ErrNotFound)
		must(t, "CreateEntity", s.CreateEntity(t.Context(), u))
		must(t, "CreateAccessKey", s.CreateAccessKey(t.Context(), k))
		got, err := s.GetAccessKey(t.Context(), k.ID)
		must(t, "GetAccessKey", err)
		if got.UserName != "alice" || got.Status != store.StatusActive {
			t.Errorf("UserName, Status = %q, %q; want alice, Active", got.UserName, got.Status)
		}
		got, err = s.UpdateAccessKey(t.Context(), k.ID, func(k *store.AccessKey) error {
			k.Status = store.StatusInactive
			return nil
		})
		must(t, "UpdateAccessKey", err)
		if got.Status != store.StatusInactive {
			t.Errorf("Status = %q after update", got.Status)
		}
		got, _ = s.GetAccessKey(t.Context(), k.ID)
		if got.Status != store.StatusInactive {
			t.Errorf("stored Status = %q, want Inactive", got.Status)
		}
		err = s.DeleteEntity(t.Context(), "111122223333", store.KindUser, "alice")
		var iu *store.InUseError
		if !errors.Is(err, store.ErrInUse) || !errors.As(err, &iu) || iu.By != store.UsedByAccessKeys {
			t.Fatalf("DeleteEntity with an access key = %v, want in use by access keys", err)
		}
		must(t, "DeleteAccessKey", s.DeleteAccessKey(t.Context(), k.ID))
		must(t, "DeleteEntity", s.DeleteEntity(t.Context(), "111122223333", store.KindUser, "ALICE"))
		wantErr(t, "DeleteEntity again", s.DeleteEntity(t.Context(), "111122223333", store.KindUser, "alice"), store.ErrNotFound)
	}},
	{"inline-policies", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111122223333")
		p := store.InlinePolicy{AccountID: "111122223333", Kind: store.KindRole, EntityName: "r", Name: "Read", Document: "d1"}
		wantErr(t, "PutInlinePolicy no entity", s.PutInlinePolicy(t.Context(), p), store.ErrNotFound)
		must(t, "CreateEntity", s.CreateEntity(t.Context(), role("111122223333", "r")))
		must(t, "PutInlinePolicy", s.PutInlinePolicy(t.Context(), p))
		p2 := p
		p2.Name, p2.Document = "READ", "d2"
		must(t, "PutInlinePolicy replace", s.PutInlinePolicy(t.Context(), p2))
		must(t, "PutInlinePolicy b", s.PutInlinePolicy(t.Context(), store.InlinePolicy{AccountID: "111122223333", Kind: store.KindRole, EntityName: "R", Name: "a", Document: "d3"}))
		got, err := s.GetInlinePolicy(t.Context(), "111122223333", store.KindRole, "R", "read")
		must(t, "GetInlinePolicy", err)
		if got.Name != "Read" || got.Document != "d2" || got.EntityName != "r" {
			t.Errorf("GetInlinePolicy = %+v, want name Read (first put), document d2", got)
		}
		l, err := s.ListInlinePolicies(t.Context(), "111122223333", store.KindRole, "r")
		must(t, "ListInlinePolicies", err)
		if len(l) != 2 || l[0].Name != "a" || l[1].Name != "Read" {
			t.Errorf("ListInlinePolicies = %+v", l)
		}
		_, err = s.GetInlinePolicy(t.Context(), "111122223333", store.KindUser, "r", "read")
		wantErr(t, "GetInlinePolicy other kind", err, store.ErrNotFound)
		err = s.DeleteEntity(t.Context(), "111122223333", store.KindRole, "r")
		var iu *store.InUseError
		if !errors.As(err, &iu) || iu.By != store.UsedByInlinePolicies {
			t.Fatalf("DeleteEntity with inline policies = %v", err)
		}
		must(t, "DeleteInlinePolicy", s.DeleteInlinePolicy(t.Context(), "111122223333", store.KindRole, "r", "READ"))
		wantErr(t, "DeleteInlinePolicy again", s.DeleteInlinePolicy(t.Context(), "111122223333", store.KindRole, "r", "read"), store.ErrNotFound)
		must(t, "DeleteInlinePolicy a", s.DeleteInlinePolicy(t.Context(), "111122223333", store.KindRole, "r", "a"))
		must(t, "DeleteEntity", s.DeleteEntity(t.Context(), "111122223333", store.KindRole, "r"))
	}},
	{"managed-policies", func(t *testing.T, s store.Store) {
		mkAccounts(t, s, "111122223333", "444455556666")
		p := managed("111122223333", "Admin")
		must(t, "CreatePolicy", s.CreatePolicy(t.Context(), p))
		wantErr(t, "CreatePolicy duplicate", s.CreatePolicy(t.Context(), managed("111122223333", "ADMIN")), store.ErrExists)
		wantErr(t, "CreatePolicy no account", s.CreatePolicy(t.Context(), managed("999999999999", "x")), store.ErrNotFound)
		must(t, "CreatePolicy b", s.CreatePolicy(t.Context(), managed("111122223333", "audit")))
		must(t, "CreatePolicy other account", s.CreatePolicy(t.Context(), managed("444455556666", "zzz")))
		got, err := s.GetPolicy(t.Context(), "111122223333", "admin")
		must(t, "GetPolicy", err)
		if got.Name != "Admin" || got.ID != p.ID || got.Document != p.Document || got.DefaultVersionID != "v1" || got.AttachmentCount != 0 {
			t.Errorf("GetPolicy = %+v", got)
		}
		checkTime(t, "CreatedAt", got.CreatedAt, p.CreatedAt)
		must(t, "CreateEntity", s.CreateEntity(t.Context(), user("111122223333", "alice")))
		wantErr(t, "AttachPolicy no policy", s.AttachPolicy(t.Context(), "111122223333", store.KindUser, "alice", "nope"), store.ErrNotFound)
		wantErr(t, "AttachPolicy no user", s.AttachPolicy(t.Context(), "111122223333", store.KindUser, "bob", "admin"), store.ErrNotFound)
		wantErr(t, "AttachPolicy other account's policy", s.AttachPolicy(t.Context(), "111122223333", store.KindUser, "alice", "zzz"), store.ErrNotFound)
		must(t, "AttachPolicy", s.AttachPolicy(t.Context(), "111122223333", store.KindUser, "alice", "admin"))
		must(t, "AttachPolicy again", s.AttachPolicy(t.Context(), "111122223333", store.KindUser, "ALICE", "Admin"))
		got, _ = s.GetPolicy(t.Context(), "111122223333", "admin")
		if got.AttachmentCount != 1 {
			t.Errorf("AttachmentCount = %d, want 1", got.AttachmentCount)
		}
		l, err := s.ListAttachedPolicies(t.Context(), "111122223333", store.KindUser, "alice")
		must(t, "ListAttachedPolicies", err)
		if n := policyNames(l); len(n) != 1 || n[0] != "Admin" {
			t.Errorf("ListAttachedPolicies = %v", n)
		}
		l, err = s.ListPolicies(t.Context(), "111122223333")
		must(t, "ListPolicies", err)
		if n := policyNames(l); len(n) != 2 || n[0] != "Admin" || n[1] != "audit" {
			t.Errorf("ListPolicies = %v", n)
		}
		err = s.DeletePolicy(t.Context(), "111122223333", "admin")
		var iu *store.InUseError
		if !errors.As(err, &iu) || iu.By != store.UsedByAttachments {
			t.Fatalf("DeletePolicy attached = %v", err)
		}
		err = s.DeleteEntity(t.Context(), "111122223333", store.KindUser, "alice")
		if !errors.As(err, &iu) || iu.By != store.UsedByAttachedPolicies {
			t.Fatalf("DeleteEntity with attached policies = %v", err)
		}
		must(t, "DetachPolicy", s.DetachPolicy(t.Context(), "111122223333", store.KindUser, "alice", "ADMIN"))
		wantErr(t, "DetachPolicy again", s.DetachPolicy(t.Context(), "111122223333", store.KindUser, "alice", "admin"), store.ErrNotFound)
		must(t, "DeletePolicy", s.DeletePolicy(t.Context(), "111122223333", "admin"))
		wantErr(t, "DeletePolicy again", s.DeletePolicy(t.Context(), "111122223333", "admin"), store.ErrNotFound)
		must(t, "DeleteEntity", s.DeleteEntity(t.Context(), "111122223333", store.KindUser, "alice"))
	}},
}
