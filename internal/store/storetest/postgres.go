package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresSkip says how to run the PostgreSQL tests when they are skipped.
const PostgresSkip = "set HOIST_TEST_POSTGRES_DSN, e.g. postgres://postgres:postgres@127.0.0.1:5432/hoist_test?sslmode=disable (start one with: pg_ctlcluster 15 main start, or apt-get install -y postgresql)" //nolint:gosec // the documented local test database, not a credential

// PostgresDSN returns a DSN for a fresh schema of the test database named
// by HOIST_TEST_POSTGRES_DSN, dropped when tb ends, so that test runs never
// see each other's data. It skips tb, saying how to set one up, when the
// variable is not set.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("HOIST_TEST_POSTGRES_DSN")
	if base == "" {
		tb.Skip(PostgresSkip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to HOIST_TEST_POSTGRES_DSN: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "hoist_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(tb, base, schema)
}

// withSearchPath adds search_path=schema, a runtime parameter, to dsn.
func withSearchPath(tb testing.TB, dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			tb.Fatal("HOIST_TEST_POSTGRES_DSN is not a valid URL")
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}
