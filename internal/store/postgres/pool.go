package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trent-kms/trent/internal/store"
)

// QueryTimeout bounds every query and every transaction of a [DB] method,
// waiting for a connection included, so that a request fails fast with
// [ErrUnavailable] while the database is unreachable instead of hanging
// until its client gives up. A shorter deadline of the caller's context
// wins.
const QueryTimeout = 5 * time.Second

// withDeadline returns ctx bounded by QueryTimeout.
func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, QueryTimeout)
}

// unavailableError marks an error that means the database could not be
// reached in time; it matches ErrUnavailable and unwraps to its cause.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return ErrUnavailable.Error() + ": " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }
func (e *unavailableError) Is(target error) bool {
	return target == ErrUnavailable || target == store.ErrUnavailable
}

// classify wraps err with ErrUnavailable when it means the database is
// unreachable or too slow; other errors are returned unchanged.
func classify(err error) error {
	if err == nil || !unavailable(err) {
		return err
	}
	if _, ok := err.(*unavailableError); ok {
		return err
	}
	return &unavailableError{err}
}

// pool runs single statements with a deadline (QueryTimeout) and
// classifies their errors. Transactions go through DB.withTx.
type pool struct{ p *pgxpool.Pool }

func (p *pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	tag, err := p.p.Exec(ctx, sql, args...)
	return tag, classify(err)
}

func (p *pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	ctx, cancel := withDeadline(ctx)
	return &row{r: p.p.QueryRow(ctx, sql, args...), cancel: cancel}
}

func (p *pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := withDeadline(ctx)
	r, err := p.p.Query(ctx, sql, args...)
	return &rows{Rows: r, cancel: cancel}, classify(err)
}

type row struct {
	r      pgx.Row
	cancel context.CancelFunc
}

func (r *row) Scan(dest ...any) error {
	defer r.cancel()
	return classify(r.r.Scan(dest...))
}

// rows is pgx.Rows whose deadline ends when it is closed.
type rows struct {
	pgx.Rows
	cancel context.CancelFunc
}

func (r *rows) Close() {
	r.Rows.Close()
	r.cancel()
}

func (r *rows) Err() error { return classify(r.Rows.Err()) }
