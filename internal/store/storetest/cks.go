package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/store"
)

func newCKS(region, account, id, name string) store.CustomKeyStore {
	return store.CustomKeyStore{
		Region: region, ID: id, AccountID: account, Name: name, Type: store.TypeCloudHSM,
		CreationDate: at(0), ConnectionState: store.Disconnected,
		CloudHsmClusterID: "cluster-2ab3cd4ef5g", TrustAnchorCertificate: "-----BEGIN CERTIFICATE-----\n...",
		SealedPassword: []byte("sealed-pin"),
	}
}

func cksID(i int) string { return fmt.Sprintf("cks-%017x", i) }

var cksTests = []test{
	{"create-get-roundtrip", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := newCKS("us-east-1", "111122223333", cksID(1), "hsm")
		must(t, "create", s.CreateCustomKeyStore(ctx, c, 0))
		x := store.CustomKeyStore{Region: "us-east-1", ID: cksID(2), AccountID: "111122223333", Name: "xks",
			Type: store.TypeExternal, CreationDate: at(time.Second), ConnectionState: store.Failed, ConnectionErrorCode: "XKS_PROXY_TIMED_OUT",
			XksProxyConnectivity: "VPC_ENDPOINT_SERVICE", XksProxyURIEndpoint: "https://x.example", XksProxyURIPath: "/kms/xks/v1",
			XksProxyVpcEndpointServiceName: "com.amazonaws.vpce.us-east-1.vpce-svc-0abc", XksProxyVpcEndpointServiceOwner: "444455556666",
			XksProxyAccessKeyID: "ABCDEFGHIJKLMNOPQRST", SealedXksSecret: []byte("sealed-secret")}
		must(t, "create xks", s.CreateCustomKeyStore(ctx, x, 0))
		for _, want := range []store.CustomKeyStore{c, x} {
			got, err := s.GetCustomKeyStore(ctx, want.Region, want.ID)
			must(t, "get", err)
			checkTime(t, "CreationDate", got.CreationDate, want.CreationDate)
			got.CreationDate = want.CreationDate
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Errorf("get = %+v, want %+v", got, want)
			}
		}
		_, err := s.GetCustomKeyStore(ctx, "eu-west-1", cksID(1))
		wantErr(t, "get in another region", err, store.ErrNotFound)
	}},
	{"create-conflicts", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, "create", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "111122223333", cksID(1), "hsm"), 0))
		wantErr(t, "same id", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "444455556666", cksID(1), "other"), 0), store.ErrExists)
		wantErr(t, "same name", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "111122223333", cksID(2), "hsm"), 0), store.ErrExists)
		must(t, "same name, other account", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "444455556666", cksID(3), "hsm"), 0))
		must(t, "same name, other region", s.CreateCustomKeyStore(ctx, newCKS("eu-west-1", "111122223333", cksID(4), "hsm"), 0))
		must(t, "same id, other region", s.CreateCustomKeyStore(ctx, newCKS("eu-west-1", "111122223333", cksID(1), "hsm2"), 0))
	}},
	{"quota", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for i := range 3 {
			must(t, "create", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "111122223333", cksID(i), fmt.Sprint("n", i)), 3))
		}
		wantErr(t, "fourth", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "111122223333", cksID(9), "n9"), 3), store.ErrQuota)
		must(t, "other account", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "444455556666", cksID(10), "n"), 3))
		must(t, "other region", s.CreateCustomKeyStore(ctx, newCKS("eu-west-1", "111122223333", cksID(11), "n"), 3))
	}},
	{"quota-concurrent", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				errs[i] = s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "111122223333", cksID(i), fmt.Sprint("n", i)), 5)
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, store.ErrQuota) {
				t.Errorf("create: %v", err)
			}
		}
		if ok != 5 {
			t.Errorf("%d creates succeeded, want 5", ok)
		}
	}},
	{"list-paging", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, i := range []int{3, 1, 2} {
			must(t, "create", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "111122223333", cksID(i), fmt.Sprint("n", i)), 0))
		}
		must(t, "other account", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "444455556666", cksID(4), "n"), 0))
		all, err := s.ListCustomKeyStores(ctx, "us-east-1", "111122223333", "", 0)
		must(t, "list", err)
		if len(all) != 3 || all[0].ID != cksID(1) || all[2].ID != cksID(3) || all[1].Name != "n2" {
			t.Fatalf("list = %+v", all)
		}
		page, err := s.ListCustomKeyStores(ctx, "us-east-1", "111122223333", cksID(1), 1)
		must(t, "list page", err)
		if len(page) != 1 || page[0].ID != cksID(2) {
			t.Fatalf("page = %+v", page)
		}
		none, err := s.ListCustomKeyStores(ctx, "eu-west-1", "111122223333", "", 0)
		must(t, "list empty", err)
		if len(none) != 0 {
			t.Fatalf("other region = %+v", none)
		}
	}},
	{"update", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, "create", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "111122223333", cksID(1), "a"), 0))
		must(t, "create", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "111122223333", cksID(2), "b"), 0))
		got, err := s.UpdateCustomKeyStore(ctx, "us-east-1", cksID(1), func(c *store.CustomKeyStore) error {
			c.Name, c.ConnectionState, c.ConnectionErrorCode = "c", store.Failed, "INVALID_CREDENTIALS"
			c.SealedPassword = []byte("new")
			return nil
		})
		must(t, "update", err)
		if got.Name != "c" || got.ConnectionErrorCode != "INVALID_CREDENTIALS" {
			t.Fatalf("update returned %+v", got)
		}
		again, err := s.GetCustomKeyStore(ctx, "us-east-1", cksID(1))
		must(t, "get", err)
		if again.Name != "c" || again.ConnectionState != store.Failed || !bytes.Equal(again.SealedPassword, []byte("new")) {
			t.Fatalf("get after update = %+v", again)
		}
		// The old name is free again; the other store's name is not.
		must(t, "create with the old name", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "111122223333", cksID(3), "a"), 0))
		_, err = s.UpdateCustomKeyStore(ctx, "us-east-1", cksID(1), func(c *store.CustomKeyStore) error { c.Name = "b"; return nil })
		wantErr(t, "rename to a taken name", err, store.ErrExists)
		boom := errors.New("boom")
		_, err = s.UpdateCustomKeyStore(ctx, "us-east-1", cksID(1), func(c *store.CustomKeyStore) error { c.Name = "z"; return boom })
		wantErr(t, "fn error", err, boom)
		_, err = s.UpdateCustomKeyStore(ctx, "us-east-1", cksID(1), func(c *store.CustomKeyStore) error { c.AccountID = "444455556666"; return nil })
		if err == nil {
			t.Fatal("changing the account was saved")
		}
		again, _ = s.GetCustomKeyStore(ctx, "us-east-1", cksID(1))
		if again.Name != "c" || again.AccountID != "111122223333" {
			t.Fatalf("a refused update changed the record: %+v", again)
		}
		called := false
		_, err = s.UpdateCustomKeyStore(ctx, "us-east-1", cksID(9), func(*store.CustomKeyStore) error { called = true; return nil })
		wantErr(t, "update missing", err, store.ErrNotFound)
		if called {
			t.Error("fn called for a missing store")
		}
	}},
	{"delete", func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, "create", s.CreateCustomKeyStore(ctx, newCKS("us-east-1", "111122223333", cksID(1), "a"), 0))
		k := plainKey("us-east-1", "111122223333", "1234abcd-12ab-34cd-56ef-1234567890ab")
		k.CustomKeyStoreID, k.CloudHsmClusterID, k.Origin = cksID(1), "cluster-2ab3cd4ef5g", "AWS_CLOUDHSM"
		must(t, "create key", s.CreateKey(ctx, k))
		wantErr(t, "delete with a key", s.DeleteCustomKeyStore(ctx, "us-east-1", cksID(1)), store.ErrInUse)
		got, err := s.GetKey(ctx, k.Ref())
		must(t, "get key", err)
		if got.CustomKeyStoreID != cksID(1) || got.CloudHsmClusterID != "cluster-2ab3cd4ef5g" {
			t.Fatalf("key lost its custom key store: %+v", got)
		}
		must(t, "delete key", s.DeleteKey(ctx, k.Ref()))
		must(t, "delete", s.DeleteCustomKeyStore(ctx, "us-east-1", cksID(1)))
		_, err = s.GetCustomKeyStore(ctx, "us-east-1", cksID(1))
		wantErr(t, "get deleted", err, store.ErrNotFound)
		wantErr(t, "delete again", s.DeleteCustomKeyStore(ctx, "us-east-1", cksID(1)), store.ErrNotFound)
	}},
}
