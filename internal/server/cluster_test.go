package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/store"
)

// clusterCacheTTL is the cache_ttl of the nodes in these tests: far
// longer than any test waits, so that only the change notifications can
// explain a node seeing another node's change.
const clusterCacheTTL = time.Minute

// sharedRootDirs returns n private data directories holding one and the
// same root key, as every node of a deployment gets it.
func sharedRootDirs(t *testing.T, n int) []string {
	t.Helper()
	first := privateDir(t)
	if _, err := keystore.OpenFileRoot(filepath.Join(first, server.RootKeyFile)); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(first, server.RootKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	dirs := []string{first}
	for range n - 1 {
		d := privateDir(t)
		if err := os.WriteFile(filepath.Join(d, server.RootKeyFile), key, 0o600); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	return dirs
}

// startCluster starts n nodes on one PostgreSQL schema, each with its own
// connection pool and listener, with cache_ttl clusterCacheTTL.
func startCluster(t *testing.T, dbURL string, n int, opts ...func(*server.Config)) []*node {
	t.Helper()
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	var nodes []*node
	for _, dir := range sharedRootDirs(t, n) {
		nodes = append(nodes, startNodeIn(t, dir, append([]func(*server.Config){func(c *server.Config) {
			c.DatabaseURL = dbURL
			c.CacheTTL = clusterCacheTTL
		}}, opts...)...))
	}
	return nodes
}

// eventually polls check until it returns nil, and fails the test if it
// has not after 10 seconds: a bound on a hung test, far below
// clusterCacheTTL, not a measured time.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			t.Logf("%s: seen after %s", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen on the other node: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// code returns nil if err is the AWS error code ("" for success), and an
// error saying what came instead otherwise.
func code(err error, want string) error {
	var ae smithy.APIError
	got := ""
	if errors.As(err, &ae) {
		got = ae.ErrorCode()
	} else if err != nil {
		return err
	}
	if got != want {
		return errors.New("got " + strings.TrimSpace(got+" "+errText(err)) + ", want " + want)
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return "success"
	}
	return err.Error()
}

// TestChangesReachOtherNodes: every kind of change made through one node
// is seen by the other while it still has the old state cached, long
// before its cache_ttl: disable, enable, schedule and cancel deletion,
// key policy, tags, grant create and revoke, alias create, update and
// delete, IAM user policy, access key deactivate and delete.
func TestChangesReachOtherNodes(t *testing.T) {
	nodes := startCluster(t, postgresURL(t), 2)
	a, b := nodes[0].client("us-east-1"), nodes[1].client("us-east-1")
	ctx := context.Background()
	key := newKey(t, a)
	encrypt := func(c *kms.Client, id string) error {
		_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
		return err
	}
	mustNil(t, "Encrypt on b", encrypt(b, *key.KeyId)) // b caches the key

	t.Run("disable-enable", func(t *testing.T) {
		_, err := a.DisableKey(ctx, &kms.DisableKeyInput{KeyId: key.KeyId})
		mustNil(t, "DisableKey", err)
		eventually(t, "DisableKey", func() error { return code(encrypt(b, *key.KeyId), "DisabledException") })
		_, err = a.EnableKey(ctx, &kms.EnableKeyInput{KeyId: key.KeyId})
		mustNil(t, "EnableKey", err)
		eventually(t, "EnableKey", func() error { return code(encrypt(b, *key.KeyId), "") })
	})
	t.Run("schedule-cancel-deletion", func(t *testing.T) {
		_, err := a.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: key.KeyId, PendingWindowInDays: aws.Int32(7)})
		mustNil(t, "ScheduleKeyDeletion", err)
		eventually(t, "ScheduleKeyDeletion", func() error { return code(encrypt(b, *key.KeyId), "KMSInvalidStateException") })
		_, err = a.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: key.KeyId})
		mustNil(t, "CancelKeyDeletion", err)
		eventually(t, "CancelKeyDeletion", func() error { return code(encrypt(b, *key.KeyId), "DisabledException") })
		_, err = a.EnableKey(ctx, &kms.EnableKeyInput{KeyId: key.KeyId})
		mustNil(t, "EnableKey", err)
		eventually(t, "EnableKey", func() error { return code(encrypt(b, *key.KeyId), "") })
	})
	t.Run("key-policy", func(t *testing.T) {
		k := newKey(t, a)
		mustNil(t, "Encrypt on b", encrypt(b, *k.KeyId))
		deny := `{"Version":"2012-10-17","Statement":[` +
			`{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},` +
			`{"Sid":"no-encrypt","Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*"}]}`
		_, err := a.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyId, PolicyName: aws.String("default"), Policy: aws.String(deny),
			BypassPolicyLockoutSafetyCheck: true})
		mustNil(t, "PutKeyPolicy", err)
		eventually(t, "PutKeyPolicy", func() error { return code(encrypt(b, *k.KeyId), "AccessDeniedException") })
	})
	t.Run("tags", func(t *testing.T) {
		tags := func() error {
			out, err := b.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: key.KeyId})
			if err != nil {
				return err
			}
			if len(out.Tags) != 1 || aws.ToString(out.Tags[0].TagValue) != "blue" {
				return errors.New("tag not there")
			}
			return nil
		}
		if tags() == nil {
			t.Fatal("tag there before TagResource")
		}
		_, err := a.TagResource(ctx, &kms.TagResourceInput{KeyId: key.KeyId, Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("blue")}}})
		mustNil(t, "TagResource", err)
		eventually(t, "TagResource", tags)
	})
	t.Run("alias-create-update-delete", func(t *testing.T) {
		other := newKey(t, a)
		keyOf := func(c *kms.Client) (string, error) {
			out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/moving"), Plaintext: []byte("x")})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.KeyId), nil
		}
		_, err := a.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/moving"), TargetKeyId: key.KeyId})
		mustNil(t, "CreateAlias", err)
		eventually(t, "CreateAlias", func() error {
			id, err := keyOf(b)
			if err == nil && id != aws.ToString(key.Arn) {
				err = errors.New("alias points to " + id)
			}
			return err
		})
		_, err = a.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/moving"), TargetKeyId: other.KeyId})
		mustNil(t, "UpdateAlias", err)
		eventually(t, "UpdateAlias", func() error {
			id, err := keyOf(b)
			if err == nil && id != aws.ToString(other.Arn) {
				err = errors.New("alias still points to " + id)
			}
			return err
		})
		_, err = a.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/moving")})
		mustNil(t, "DeleteAlias", err)
		eventually(t, "DeleteAlias", func() error { _, err := keyOf(b); return code(err, "NotFoundException") })
	})

	// An IAM user with an access key; b authenticates it and caches its
	// identity and (empty) identity policies.
	iamA := nodes[0].iamRoot()
	_, err := iamA.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")})
	mustNil(t, "CreateUser", err)
	ak, err := iamA.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	mustNil(t, "CreateAccessKey", err)
	alice := nodes[1].kmsAs(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey))
	listKeys := func() error { _, err := alice.ListKeys(ctx, &kms.ListKeysInput{}); return err }
	eventually(t, "alice known", func() error { return code(listKeys(), "AccessDeniedException") })

	t.Run("grant-create-revoke", func(t *testing.T) {
		mustNil(t, "denied first", code(encrypt(alice, aws.ToString(key.Arn)), "AccessDeniedException"))
		g, err := a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: key.KeyId, GranteePrincipal: aws.String("arn:aws:iam::111122223333:user/alice"),
			Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
		mustNil(t, "CreateGrant", err)
		eventually(t, "CreateGrant", func() error { return code(encrypt(alice, aws.ToString(key.Arn)), "") })
		_, err = a.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: key.KeyId, GrantId: g.GrantId})
		mustNil(t, "RevokeGrant", err)
		eventually(t, "RevokeGrant", func() error { return code(encrypt(alice, aws.ToString(key.Arn)), "AccessDeniedException") })
	})
	t.Run("user-policy", func(t *testing.T) {
		doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:ListKeys","Resource":"*"}]}`
		_, err := iamA.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("list"), PolicyDocument: aws.String(doc)})
		mustNil(t, "PutUserPolicy", err)
		eventually(t, "PutUserPolicy", func() error { return code(listKeys(), "") })
		_, err = iamA.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("list")})
		mustNil(t, "DeleteUserPolicy", err)
		eventually(t, "DeleteUserPolicy", func() error { return code(listKeys(), "AccessDeniedException") })
	})
	t.Run("access-key-deactivate-delete", func(t *testing.T) {
		_, err := iamA.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: ak.AccessKey.AccessKeyId,
			Status: iamtypes.StatusTypeInactive})
		mustNil(t, "UpdateAccessKey", err)
		eventually(t, "UpdateAccessKey Inactive", func() error { return code(listKeys(), "UnrecognizedClientException") })
		_, err = iamA.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: ak.AccessKey.AccessKeyId,
			Status: iamtypes.StatusTypeActive})
		mustNil(t, "UpdateAccessKey", err)
		eventually(t, "UpdateAccessKey Active", func() error { return code(listKeys(), "AccessDeniedException") })
		_, err = iamA.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: ak.AccessKey.AccessKeyId})
		mustNil(t, "DeleteAccessKey", err)
		eventually(t, "DeleteAccessKey", func() error { return code(listKeys(), "UnrecognizedClientException") })
	})
}

// countingHandler counts the log records whose message is msg.
type countingHandler struct {
	slog.Handler
	msg string
	n   *atomic.Int32
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}

func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// TestDeletionRunsOnceAcrossNodes: three nodes whose clocks pass the end
// of several keys' deletion windows race to delete them; every key is
// deleted exactly once, and a key whose deletion was cancelled survives.
func TestDeletionRunsOnceAcrossNodes(t *testing.T) {
	dbURL := postgresURL(t)
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	var deleted atomic.Int32
	var clients []*kms.Client
	for _, dir := range sharedRootDirs(t, 3) {
		cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir, DatabaseURL: dbURL, CacheTTL: clusterCacheTTL,
			Now: clk.Now, DeletionInterval: time.Second}
		cfg.Defaults()
		log := slog.New(countingHandler{msg: "deleted key at the end of its deletion window", n: &deleted})
		srv, err := server.New(context.Background(), cfg, log, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		clients = append(clients, sdkClient(srv.URL(), testAccessKeyID, testSecret, nil))
	}
	ctx := context.Background()
	var doomed []string
	for range 5 {
		k := newKey(t, clients[0])
		_, err := clients[0].ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: aws.Int32(7)})
		mustNil(t, "ScheduleKeyDeletion", err)
		doomed = append(doomed, *k.KeyId)
	}
	saved := newKey(t, clients[1])
	_, err := clients[1].ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: saved.KeyId, PendingWindowInDays: aws.Int32(7)})
	mustNil(t, "ScheduleKeyDeletion", err)
	_, err = clients[2].CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: saved.KeyId})
	mustNil(t, "CancelKeyDeletion", err)
	clk.Advance(8 * 24 * time.Hour)
	for i, id := range doomed {
		c := clients[i%3]
		eventually(t, "deleted "+id, func() error {
			_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
			return code(err, "NotFoundException")
		})
	}
	if n := deleted.Load(); n != int32(len(doomed)) {
		t.Fatalf("%d deletions logged across the nodes, want %d: each key deleted once", n, len(doomed))
	}
	for _, c := range clients {
		if d := describe(t, c, *saved.KeyId); d.KeyState != types.KeyStateDisabled {
			t.Fatalf("cancelled key is %s", d.KeyState)
		}
	}
}

// TestThreeNodesStartAtOnce: three nodes started together on a fresh
// schema all come up (the schema is created once, under the migration
// lock) and serve the same keys.
func TestThreeNodesStartAtOnce(t *testing.T) {
	dbURL := postgresURL(t)
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	dirs := sharedRootDirs(t, 3)
	srvs := make([]*server.Server, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := &server.Config{Listen: "127.0.0.1:0", DataDir: dir, DatabaseURL: dbURL, CacheTTL: clusterCacheTTL}
			cfg.Defaults()
			srvs[i], errs[i] = server.New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	var clients []*kms.Client
	for _, srv := range srvs {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		clients = append(clients, sdkClient(srv.URL(), testAccessKeyID, testSecret, nil))
	}
	k := newKey(t, clients[0])
	for _, c := range clients[1:] {
		if d := describe(t, c, *k.KeyId); d.KeyState != types.KeyStateEnabled {
			t.Fatalf("key is %s on another node", d.KeyState)
		}
	}
}

// TestHotKeyTrustedPastTTLWhileListening: with a cache_ttl far shorter
// than the test, a key used over and over on one node is not read from
// the store again once per cache_ttl, because the node's listener keeps
// confirming that every committed change has reached it; and a change
// made through the other node still takes effect on it at once.
func TestHotKeyTrustedPastTTLWhileListening(t *testing.T) {
	// A few probe intervals (store.SyncInterval): the listener must hear
	// a probe back within the TTL.
	const ttl = 3 * store.SyncInterval
	nodes := startCluster(t, postgresURL(t), 2, func(c *server.Config) { c.CacheTTL, c.AdminListen = ttl, "127.0.0.1:0" })
	a, b := nodes[0].client("us-east-1"), nodes[1].client("us-east-1")
	ctx := context.Background()
	key := newKey(t, a)
	encrypt := func() error {
		_, err := b.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")})
		return err
	}
	mustNil(t, "Encrypt on b", encrypt()) // b caches the key
	svc := nodes[1].srv.Service()
	before := svc.CacheStats().KeyMisses
	for end := time.Now().Add(6 * ttl); time.Now().Before(end); {
		mustNil(t, "Encrypt on b", encrypt())
		time.Sleep(ttl / 10)
	}
	// Without the listener's confirmations it is read about once per
	// cache_ttl (5 or 6 times); a probe delayed past cache_ttl on a busy
	// machine may cost a read, so up to 2 are allowed.
	if m := svc.CacheStats().KeyMisses - before; m > 2 {
		t.Errorf("the key was read from the store %d times in 6 cache_ttl of use, want at most 2 while the listener confirms", m)
	}
	// The node reports when its last confirmed probe was sent.
	m := find(scrape(t, nodes[1]), "trent_changes_synced_timestamp_seconds", nil)
	if m == nil {
		t.Fatal("trent_changes_synced_timestamp_seconds missing on a node over PostgreSQL")
	}
	if age := time.Since(time.Unix(0, int64(m.GetGauge().GetValue()*1e9))); age < 0 || age > 10*time.Second {
		t.Errorf("trent_changes_synced_timestamp_seconds is %s old, want a recent probe", age)
	}
	_, err := a.DisableKey(ctx, &kms.DisableKeyInput{KeyId: key.KeyId})
	mustNil(t, "DisableKey", err)
	eventually(t, "DisableKey", func() error { return code(encrypt(), "DisabledException") })
}
