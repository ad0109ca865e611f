package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	cctx, cancel = withDeadline(ctx)
	_, err = conn.Exec(cctx, `LISTEN `+pgx.Identifier{db.channel}.Sanitize())
	cancel()
	if err != nil {
		return err
	}
	ok()
	connected(true)
	fn(store.Change{Kind: store.ChangeReset})
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
		var c store.Change
		if json.Unmarshal([]byte(n.Payload), &c) != nil || c.Kind == "" {
			c = store.Change{Kind: store.ChangeReset} // unknown: drop everything
		}
		fn(c)
	}
}
