package postgres

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/trent-kms/trent/internal/store"
)

var (
	_ store.Locker = (*DB)(nil)
	_ store.Pinger = (*DB)(nil)
)

// lockKeys returns the two 32-bit keys of the advisory lock called name
// in the schema (the pg_advisory_lock(int, int) form, apart from the
// migration lock's single bigint key).
func (db *DB) lockKeys(name string) (int32, int32) {
	h1, h2 := fnv.New32a(), fnv.New32a()
	h1.Write([]byte(db.channel))
	h2.Write([]byte(name))
	return int32(h1.Sum32()), int32(h2.Sum32())
}

// RunLocked runs job while this node holds the session-level advisory
// lock called name; see [store.Locker]. The lock is held by a connection
// taken from the pool for the job's duration (the job's own queries use
// other connections), and is released by pg_advisory_unlock when job
// returns, or by PostgreSQL when that connection ends: a node that
// crashes or is cut off mid-job frees the lock for the others.
func (db *DB) RunLocked(ctx context.Context, name string, job func(ctx context.Context) error) (bool, error) {
	k1, k2 := db.lockKeys(name)
	qctx, cancel := withDeadline(ctx)
	conn, err := db.pool.p.Acquire(qctx)
	if err != nil {
		cancel()
		return false, classify(fmt.Errorf("postgres: lock %s: %w", name, err))
	}
	var got bool
	err = conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1, $2)`, k1, k2).Scan(&got)
	cancel()
	if err != nil || !got {
		conn.Release()
		if err != nil {
			return false, classify(fmt.Errorf("postgres: lock %s: %w", name, err))
		}
		return false, nil
	}
	jobErr := job(ctx)
	uctx, cancel := withDeadline(context.WithoutCancel(ctx))
	defer cancel()
	if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1, $2)`, k1, k2); err != nil {
		// The session may still hold the lock: end it, which frees it.
		conn.Conn().Close(uctx)
	}
	conn.Release()
	return true, jobErr
}

// Ping returns nil when the database answers within QueryTimeout (or ctx's
// deadline), and an error wrapping ErrUnavailable otherwise.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	if err := db.pool.p.Ping(ctx); err != nil {
		return &unavailableError{fmt.Errorf("postgres: ping: %w", err)}
	}
	return nil
}
