package api

import (
	"context"

	"github.com/trent-kms/trent/internal/kms"
)

// requestCtx is kms.WithRequestID(parent, id) without its allocations: it
// lives in the request's exchange and answers kms's request id key with
// the id boxed once. Done, Err and Deadline are the parent's, so contexts
// derived below it link to the parent's cancellation as they would below
// context.WithValue.
type requestCtx struct {
	context.Context
	id any // the request id, a string
}

func (c *requestCtx) Value(key any) any {
	if kms.IsRequestIDKey(key) {
		return c.id
	}
	return c.Context.Value(key)
}

// authState is the storage authenticateInto uses for a request's session
// token lookup, kept in the exchange rather than allocated.
type authState struct {
	sc  sessionCtx
	ctx sessionValueCtx
}

// sessionValueCtx is context.WithValue(parent, sessionCtxKey{}, sc)
// without the allocation.
type sessionValueCtx struct {
	context.Context
	sc *sessionCtx
}

func (c *sessionValueCtx) Value(key any) any {
	if _, ok := key.(sessionCtxKey); ok {
		return c.sc
	}
	return c.Context.Value(key)
}
