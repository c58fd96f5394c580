// Package logctx carries a request's ID in its context, and gives loggers
// a handler that adds that ID to every line logged with the context, so
// that each line of a request's path, in whatever package, names it.
package logctx

import (
	"context"
	"log/slog"
)

// Key is the attribute under which the request ID is logged.
const Key = "request_id"

type requestIDKey struct{}

// WithRequestID returns a context that carries id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request ID ctx carries; empty when none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Logger returns a logger like l whose lines logged with a context
// (InfoContext and the like) carry that context's request ID. A logger
// it returned already is returned as it is.
func Logger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(handler); ok {
		return l
	}
	return slog.New(handler{next: l.Handler()})
}

// handler adds the request ID of a record's context to the record,
// unless the logger has one already (logger.With(Key, id)).
type handler struct {
	next  slog.Handler
	hasID bool
}

func (h handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" && !h.hasID {
		r = r.Clone()
		r.AddAttrs(slog.String(Key, id))
	}
	return h.next.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := h.hasID
	for _, a := range attrs {
		has = has || a.Key == Key
	}
	return handler{next: h.next.WithAttrs(attrs), hasID: has}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{next: h.next.WithGroup(name), hasID: h.hasID}
}
