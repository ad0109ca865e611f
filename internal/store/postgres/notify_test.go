package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/postgres"
)

// listener collects what DB.Listen delivers: the probes' ChangeSynced on
// a channel of their own (the latest kept), everything else in order.
type listener struct {
	changes chan store.Change
	synced  chan store.Change
	up      chan bool
}

func listen(t *testing.T, db *postgres.DB) *listener {
	t.Helper()
	l := &listener{changes: make(chan store.Change, 100), synced: make(chan store.Change, 1), up: make(chan bool, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	deliver := func(c store.Change) {
		if c.Kind != store.ChangeSynced {
			l.changes <- c
			return
		}
		select { // keep only the latest
		case <-l.synced:
		default:
		}
		l.synced <- c
	}
	go func() { done <- db.Listen(ctx, deliver, func(up bool) { l.up <- up }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen returned %v, want context.Canceled", err)
		}
	})
	return l
}

// next returns the next change, failing the test if none comes in 10s
// (a bound on a hung test, not a measured time).
func (l *listener) next(t *testing.T) store.Change {
	t.Helper()
	select {
	case c := <-l.changes:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change announced")
		return store.Change{}
	}
}

// withApp returns u with application_name set, so that a test can find
// its own connections among those of tests running beside it.
func withApp(t *testing.T, u, app string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	q.Set("application_name", app)
	p.RawQuery = q.Encode()
	return p.String()
}

func open(t *testing.T, u string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestListenDeliversCommittedChanges: a write on one connection pool
// (node) is announced to a listener on another with kind and ids, in
// commit order; a write that rolls back announces nothing; the payload
// never carries the document written.
func TestListenDeliversCommittedChanges(t *testing.T) {
	u := freshSchema(t)
	ctx := context.Background()
	a, b := open(t, u), open(t, u)
	l := listen(t, a)
	if c := l.next(t); c.Kind != store.ChangeReset {
		t.Fatalf("first change = %+v, want a reset when listening starts", c)
	}
	if up := <-l.up; !up {
		t.Fatal("connected(false) before listening")
	}
	ref := store.KeyRef{Region: "us-east-1", KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab"}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("CreateAccount", b.CreateAccount(ctx, store.Account{ID: "111122223333", CreatedAt: time.Now()}))
	must("CreateKey", b.CreateKey(ctx, store.Key{Region: ref.Region, KeyID: ref.KeyID, AccountID: "111122223333", KeyState: "Enabled",
		KeySpec: "SYMMETRIC_DEFAULT", Policy: `{"secret-looking":"policy"}`}))
	// Rolled back: fn fails, nothing is saved, nothing is announced.
	_, err := b.UpdateKey(ctx, ref, func(k *store.Key) error { return errors.New("no") })
	if err == nil {
		t.Fatal("UpdateKey with a failing fn succeeded")
	}
	_, err = b.UpdateKey(ctx, ref, func(k *store.Key) error { k.KeyState = "Disabled"; return nil })
	must("UpdateKey", err)
	if c := l.next(t); c.Kind != store.ChangeKey || c.Region != ref.Region || c.KeyID != ref.KeyID || c.Deleted {
		t.Fatalf("after UpdateKey: %+v", c)
	}
	now := time.Now()
	must("CreateAlias", b.CreateAlias(ctx, store.Alias{Region: ref.Region, AccountID: "111122223333", Name: "alias/x", TargetKeyID: ref.KeyID,
		CreationDate: now, LastUpdatedDate: now}))
	if c := l.next(t); c.Kind != store.ChangeAlias || c.Name != "alias/x" || len(c.KeyIDs) != 1 || c.KeyIDs[0] != ref.KeyID {
		t.Fatalf("after CreateAlias: %+v", c)
	}
	must("CreateGrant", b.CreateGrant(ctx, store.Grant{Region: ref.Region, KeyID: ref.KeyID, AccountID: "111122223333",
		GrantID: "0000000000000000000000000000000000000000000000000000000000000001", GranteePrincipal: "arn:aws:iam::111122223333:root",
		Operations: []string{"Encrypt"}, CreationDate: now}, 0))
	if c := l.next(t); c.Kind != store.ChangeGrant || c.KeyID != ref.KeyID {
		t.Fatalf("after CreateGrant: %+v", c)
	}
	must("DeleteAlias", b.DeleteAlias(ctx, ref.Region, "111122223333", "alias/x"))
	if c := l.next(t); c.Kind != store.ChangeAlias || c.Name != "alias/x" || len(c.KeyIDs) != 1 || c.KeyIDs[0] != ref.KeyID {
		t.Fatalf("after DeleteAlias: %+v", c)
	}
	must("CreateAccessKey", b.CreateAccessKey(ctx, store.AccessKey{ID: "AKIAEXAMPLE", AccountID: "111122223333",
		Principal: "arn:aws:iam::111122223333:root", SealedSecret: []byte("sealed"), CreatedAt: now}))
	must("DeleteAccessKey", b.DeleteAccessKey(ctx, "AKIAEXAMPLE"))
	if c := l.next(t); c.Kind != store.ChangeAccessKey || c.AccessKeyID != "AKIAEXAMPLE" {
		t.Fatalf("after DeleteAccessKey: %+v", c)
	}
	must("CreateEntity", b.CreateEntity(ctx, store.Entity{AccountID: "111122223333", Kind: store.KindUser, Name: "Alice", ID: "AIDAEXAMPLE", Path: "/", CreatedAt: now}))
	must("PutInlinePolicy", b.PutInlinePolicy(ctx, store.InlinePolicy{AccountID: "111122223333", Kind: store.KindUser, EntityName: "Alice", Name: "p", Document: "{}"}))
	if c := l.next(t); c.Kind != store.ChangeIAM || c.AccountID != "111122223333" || c.Entity != store.KindUser || c.Name != "Alice" {
		t.Fatalf("after PutInlinePolicy: %+v", c)
	}
	must("DeleteKey", b.DeleteKey(ctx, ref))
	if c := l.next(t); c.Kind != store.ChangeKey || c.KeyID != ref.KeyID || !c.Deleted {
		t.Fatalf("after DeleteKey: %+v", c)
	}
	select {
	case c := <-l.changes:
		t.Fatalf("unexpected change %+v", c)
	default:
	}

	// Another schema has a channel of its own: its writes are not heard.
	other := open(t, freshSchema(t))
	must("CreateAccount", other.CreateAccount(ctx, store.Account{ID: "111122223333", CreatedAt: now}))
	must("CreateAccessKey", other.CreateAccessKey(ctx, store.AccessKey{ID: "AKIAOTHER", AccountID: "111122223333",
		Principal: "arn:aws:iam::111122223333:root", SealedSecret: []byte("sealed"), CreatedAt: now}))
	must("DeleteAccessKey", other.DeleteAccessKey(ctx, "AKIAOTHER"))
	must("DeleteAccount marker", b.PutMeta(ctx, "m", nil)) // a round trip on a's schema
	must("UpdateAccessKey", b.CreateAccessKey(ctx, store.AccessKey{ID: "AKIAAFTER", AccountID: "111122223333",
		Principal: "arn:aws:iam::111122223333:root", SealedSecret: []byte("sealed"), CreatedAt: now}))
	_, err = b.UpdateAccessKey(ctx, "AKIAAFTER", func(k *store.AccessKey) error { k.Status = store.StatusInactive; return nil })
	must("UpdateAccessKey", err)
	if c := l.next(t); c.Kind != store.ChangeAccessKey || c.AccessKeyID != "AKIAAFTER" {
		t.Fatalf("after a write on another schema and UpdateAccessKey here: %+v, want only this schema's change", c)
	}
}

// TestListenResetsAfterReconnect: when the listening connection is
// killed, Listen reports it, reconnects by itself and announces a reset,
// since what was committed meanwhile was not heard.
func TestListenResetsAfterReconnect(t *testing.T) {
	u := freshSchema(t)
	ctx := context.Background()
	db := open(t, withApp(t, u, "trent-listen-test"))
	l := listen(t, db)
	if c := l.next(t); c.Kind != store.ChangeReset {
		t.Fatalf("first change = %+v", c)
	}
	<-l.up
	admin, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query LIKE 'LISTEN %' AND application_name = 'trent-listen-test'`).Scan(&killed); err != nil || killed == 0 {
		t.Fatalf("terminate the listener: %d, %v", killed, err)
	}
	select {
	case up := <-l.up:
		if up {
			t.Fatal("connected(true) before the loss was reported")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lost connection was not reported")
	}
	if c := l.next(t); c.Kind != store.ChangeReset {
		t.Fatalf("after reconnecting: %+v, want a reset", c)
	}
}

// TestRunLocked: a job runs on one node at a time; a node whose lock
// connection dies (as when it crashes) frees the lock for the others.
func TestRunLocked(t *testing.T) {
	u := freshSchema(t)
	ctx := context.Background()
	a, b := open(t, withApp(t, u, "trent-lock-test-a")), open(t, u)
	started, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free) // before the pools close, should the test fail early
	var runs atomic.Int32
	done := make(chan error, 1)
	go func() {
		ran, err := a.RunLocked(ctx, "job", func(context.Context) error {
			runs.Add(1)
			close(started)
			<-release
			return nil
		})
		if err == nil && !ran {
			err = errors.New("a did not run the job")
		}
		done <- err
	}()
	<-started
	ran, err := b.RunLocked(ctx, "job", func(context.Context) error { runs.Add(1); return nil })
	if err != nil || ran {
		t.Fatalf("b.RunLocked while a holds the lock = %v, %v; want not run", ran, err)
	}
	// Another job's lock is independent.
	ran, err = b.RunLocked(ctx, "other-job", func(context.Context) error { return nil })
	if err != nil || !ran {
		t.Fatalf("b.RunLocked(other-job) = %v, %v", ran, err)
	}
	// a "crashes": its lock connection ends while the job still runs.
	admin, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(l.pid, 10000)) FROM pg_locks l
		JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'trent-lock-test-a'`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminate the lock holder: %d, %v", killed, err)
	}
	ran, err = b.RunLocked(ctx, "job", func(context.Context) error { runs.Add(1); return nil })
	if err != nil || !ran {
		t.Fatalf("b.RunLocked after a's lock connection died = %v, %v; want run", ran, err)
	}
	free()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// a's job ended; its lock is free, and a's pool still works.
	ran, err = a.RunLocked(ctx, "job", func(context.Context) error { runs.Add(1); return nil })
	if err != nil || !ran {
		t.Fatalf("a.RunLocked afterwards = %v, %v", ran, err)
	}
	if n := runs.Load(); n != 3 {
		t.Fatalf("job ran %d times, want 3", n)
	}
}

// TestListenSynced: while listening, Listen keeps delivering ChangeSynced;
// every change committed before a probe was sent (its Synced time) is
// delivered before that probe's ChangeSynced; and the probes go to a
// channel of the listening connection's own, so a node of an older
// version, listening on the schema's channel only, hears none of them.
func TestListenSynced(t *testing.T) {
	u := freshSchema(t)
	ctx := context.Background()
	a, b := open(t, u), open(t, u)

	// An older node's listener: the schema's channel only.
	old, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close(ctx)
	if _, err := old.Exec(ctx, "LISTEN "+pgx.Identifier{postgres.Channel(a)}.Sanitize()); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var events []store.Change
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- a.Listen(lctx, func(c store.Change) {
			mu.Lock()
			events = append(events, c)
			mu.Unlock()
		}, func(bool) {})
	}()
	defer func() {
		cancel()
		<-done
	}()
	// keysBeforeSync waits for a ChangeSynced sent after t and returns how
	// many key changes were delivered before the first such one.
	keysBeforeSync := func(after time.Time) int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second) // a hung test's bound
		for time.Now().Before(deadline) {
			mu.Lock()
			n := 0
			for _, c := range events {
				if c.Kind == store.ChangeKey {
					n++
				}
				if c.Kind == store.ChangeSynced && c.Synced.After(after) {
					mu.Unlock()
					return n
				}
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no ChangeSynced sent after %v", after)
		return 0
	}

	ref := store.KeyRef{Region: "us-east-1", KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab"}
	if err := b.CreateAccount(ctx, store.Account{ID: "111122223333", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateKey(ctx, store.Key{Region: ref.Region, KeyID: ref.KeyID, AccountID: "111122223333", KeyState: "Enabled",
		KeySpec: "SYMMETRIC_DEFAULT", Policy: "{}"}); err != nil {
		t.Fatal(err)
	}
	keysBeforeSync(time.Now()) // listening, and probes come back
	for i := 1; i <= 10; i++ {
		state := "Disabled"
		if i%2 == 0 {
			state = "Enabled"
		}
		if _, err := b.UpdateKey(ctx, ref, func(k *store.Key) error { k.KeyState = state; return nil }); err != nil {
			t.Fatal(err)
		}
		committed := time.Now()
		if n := keysBeforeSync(committed); n < i {
			t.Fatalf("update %d committed before a probe was sent, but only %d key changes were delivered before the probe came back", i, n)
		}
	}
	mu.Lock()
	synced := 0
	for _, c := range events {
		if c.Kind == store.ChangeSynced {
			synced++
		}
	}
	mu.Unlock()
	if synced < 2 {
		t.Errorf("%d ChangeSynced delivered, want several", synced)
	}

	// The older node heard the ten updates, and no probe.
	for i := 0; i < 10; i++ {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := old.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("older listener: update %d not heard: %v", i+1, err)
		}
		var c store.Change
		if err := json.Unmarshal([]byte(n.Payload), &c); err != nil || c.Kind != store.ChangeKey {
			t.Fatalf("older listener heard %q, want a key change", n.Payload)
		}
	}
	wctx, cancel2 := context.WithTimeout(ctx, 4*store.SyncInterval)
	defer cancel2()
	if n, err := old.WaitForNotification(wctx); err == nil {
		t.Fatalf("older listener heard %q on %s while only probes were sent", n.Payload, n.Channel)
	}
}
