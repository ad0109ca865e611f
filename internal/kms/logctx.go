package kms

import (
	"context"
	"log/slog"
)

type requestIDKey struct{}

// WithRequestID returns a copy of ctx that carries the id of the API
// request it serves. The API handler sets it where it makes the request's
// context; every line logged with that context by a logger whose handler
// is wrapped by [LogHandler] (the service's own logger is) carries it as
// request_id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// IsRequestIDKey reports whether key is the context key of WithRequestID,
// for a context type of the API handler's own that carries the id (a
// string) without WithRequestID's allocations.
func IsRequestIDKey(key any) bool {
	_, ok := key.(requestIDKey)
	return ok
}

// RequestID returns the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// LogHandler wraps h so that a record logged with a context carrying a
// request id ([WithRequestID]) gets a request_id attribute, unless the
// record already has one. Records logged without a context (Info rather
// than InfoContext) are unchanged.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			r = r.Clone()
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
