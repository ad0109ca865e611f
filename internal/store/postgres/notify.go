package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trent-kms/trent/internal/store"
)

var _ store.Notifier = (*DB)(nil)

// channelName returns the LISTEN/NOTIFY channel of a schema. Channels are
// per database, so the schema's name is hashed into it (and kept under
// PostgreSQL's 63-byte identifier limit).
func channelName(schema string) string {
	h := sha256.Sum256([]byte("trent-changes/" + schema))
	return "trent_" + hex.EncodeToString(h[:8])
}

// notify announces c to every node listening on the schema's channel, in
// tx: PostgreSQL delivers it when tx commits, and never if it rolls back.
// The payload is c's JSON: kinds and ids only.
func (db *DB) notify(ctx context.Context, tx pgx.Tx, c store.Change) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("postgres: encode change: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, db.channel, string(b)); err != nil {
		return fmt.Errorf("postgres: notify %s change: %w", c.Kind, err)
	}
	return nil
}

// Listen delivers the changes every node commits; see [store.Notifier].
// It keeps one connection of its own (outside the pool) listening on the
// schema's channel, checks it every few seconds, and when it is lost
// reconnects with backoff, then calls fn with a [store.ChangeReset]: what
// was announced meanwhile is lost. It also calls fn with a ChangeReset
// right after it first starts listening, for changes committed before.
func (db *DB) Listen(ctx context.Context, fn func(store.Change), connected func(bool)) error {
	backoff := 100 * time.Millisecond
	for {
		err := db.listenOnce(ctx, fn, connected, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		connected(false)
		_ = err // the caller learns of the outage through connected; queries report it themselves
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenCheck is how long the listening connection may be silent before
// Listen checks that it still answers.
const listenCheck = 2 * time.Second

// listenOnce connects, listens and delivers until the connection fails.
func (db *DB) listenOnce(ctx context.Context, fn func(store.Change), connected func(bool), ok func()) error {
	cctx, cancel := withDeadline(ctx)
	conn, err := pgx.ConnectConfig(cctx, db.conn.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The probe channel is this connection's own: nodes of an older
	// version, which do not listen to it, never hear the probes (they
	// would take an unknown payload on the schema's channel for a reset).
	var nonce [8]byte
	rand.Read(nonce[:])
	probe := db.channel + "_p" + hex.EncodeToString(nonce[:])
	cctx, cancel = withDeadline(ctx)
	_, err = conn.Exec(cctx, `LISTEN `+pgx.Identifier{db.channel}.Sanitize()+`; LISTEN `+pgx.Identifier{probe}.Sanitize())
	cancel()
	if err != nil {
		return err
	}
	ok()
	connected(true)
	fn(store.Change{Kind: store.ChangeReset})
	p := &prober{sent: make(map[uint64]time.Time)}
	pctx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	go p.run(pctx, db, probe)
	for {
		wctx, cancel := context.WithTimeout(ctx, listenCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if wctx.Err() == nil {
				return err // the connection failed
			}
			// Silence: make sure the connection still answers, so that a
			// database that vanished without closing it is noticed.
			pctx, cancel := context.WithTimeout(ctx, listenCheck)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
			continue
		}
		if n.Channel == probe {
			if t, ok := p.returned(n.Payload); ok {
				fn(store.Change{Kind: store.ChangeSynced, Synced: t})
			}
			continue
		}
		var c store.Change
		if json.Unmarshal([]byte(n.Payload), &c) != nil || c.Kind == "" {
			c = store.Change{Kind: store.ChangeReset} // unknown: drop everything
		}
		fn(c)
	}
}

// prober sends numbered probes to a listening connection's own channel
// through the pool, every [store.SyncInterval], and remembers when each
// was sent. PostgreSQL delivers the notifications of committed
// transactions to a listener in commit order, so when a probe comes back,
// every change committed before it was sent has been delivered ahead of
// it (and applied: Listen calls fn for one notification at a time).
type prober struct {
	mu   sync.Mutex
	seq  uint64
	sent map[uint64]time.Time // probes in flight
}

func (p *prober) run(ctx context.Context, db *DB, channel string) {
	t := time.NewTicker(store.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		p.seq++
		seq := p.seq
		p.sent[seq] = time.Now()
		if len(p.sent) > 64 {
			// Probes that never came back (a stuck listener): forget
			// the oldest, so the map stays small.
			delete(p.sent, seq-64)
		}
		p.mu.Unlock()
		if _, err := db.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, strconv.FormatUint(seq, 10)); err != nil {
			p.mu.Lock()
			delete(p.sent, seq)
			p.mu.Unlock()
		}
	}
}

// returned reports when the probe with this payload was sent, and forgets
// it and every earlier probe (delivered in order, an earlier one that has
// not come back never will).
func (p *prober) returned(payload string) (time.Time, bool) {
	seq, err := strconv.ParseUint(payload, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.sent[seq]
	for s := range p.sent {
		if s <= seq {
			delete(p.sent, s)
		}
	}
	return t, ok
}
