package logctx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hoistbot/hoist/internal/logctx"
)

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLinesCarryTheRequestIDOfTheirContext(t *testing.T) {
	var buf bytes.Buffer
	logger := logctx.Logger(slog.New(slog.NewJSONHandler(&buf, nil)))
	ctx := logctx.WithRequestID(context.Background(), "3f9a01c2d4e5")

	logger.With("component", "service").InfoContext(ctx, "release requested", "release", 42)
	logger.InfoContext(context.Background(), "no request")
	logctx.Logger(logger).WarnContext(ctx, "wrapped twice")
	logger.With("request_id", "3f9a01c2d4e5").ErrorContext(ctx, "named already")

	got := lines(t, &buf)
	if len(got) != 4 {
		t.Fatalf("got %d lines", len(got))
	}
	if got[0]["request_id"] != "3f9a01c2d4e5" || got[0]["component"] != "service" || got[0]["release"] != float64(42) {
		t.Errorf("first line = %v", got[0])
	}
	if _, ok := got[1]["request_id"]; ok {
		t.Errorf("a line without a request has a request_id: %v", got[1])
	}
	for i, line := range strings.Split(buf.String(), "\n")[2:4] {
		if n := strings.Count(line, `"request_id"`); n != 1 {
			t.Errorf("line %d names the request ID %d times: %s", i+3, n, line)
		}
	}
}
