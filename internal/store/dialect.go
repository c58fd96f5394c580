package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect holds the few things that differ between SQLite and PostgreSQL;
// every query is written once, in SQLite's ? placeholder style.
type dialect struct {
	name string
	// dollar rebinds ? placeholders to $1, $2, ….
	dollar bool
	// textTime stores times as fixed-width UTC text (SQLite has no time type).
	textTime bool
	// migrations is the folder of migrationsFS holding this dialect's files.
	migrations string
	// migrationTable creates schema_migrations if it is missing.
	migrationTable string
	// migrationLock, when set, runs first in every migration transaction so
	// that two replicas starting together apply each migration once.
	migrationLock string
	// rowLock, appended to a SELECT, locks the selected rows until the
	// transaction ends (SQLite needs none: it has one writer at a time).
	rowLock string
}

var sqliteDialect = &dialect{
	name:       "sqlite",
	textTime:   true,
	migrations: "migrations/sqlite",
	migrationTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL)`,
}

// pgMigrationLockKey is the pg_advisory_xact_lock key serialising
// migrations ("hoist" in ASCII, then "migr").
const pgMigrationLockKey = 0x686f6973_6d696772

var postgresDialect = &dialect{
	name:       "postgres",
	dollar:     true,
	migrations: "migrations/postgres",
	migrationTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL)`,
	migrationLock: "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(pgMigrationLockKey, 10) + ")",
	rowLock:       " FOR UPDATE",
}

// rebind rewrites ? placeholders for the dialect, leaving quoted text alone.
func (d *dialect) rebind(query string) string {
	if !d.dollar || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// timeLayout is how SQLite stores times: fixed width, so text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// normTime is t as the store keeps it: UTC, to the microsecond (PostgreSQL's
// precision), so that what a method returns equals what a later read returns.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// timeArg is t as a query argument.
func (d *dialect) timeArg(t time.Time) any {
	t = normTime(t)
	if d.textTime {
		return t.Format(timeLayout)
	}
	return t
}

// nullTimeArg is t as a query argument, NULL when zero.
func (d *dialect) nullTimeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.timeArg(t)
}

// nullInt is n as a query argument, NULL when zero.
func nullInt[T ~int64](n T) any {
	if n == 0 {
		return nil
	}
	return int64(n)
}

// timeDest scans a time column of either dialect, NULL being the zero time.
type timeDest struct{ t *time.Time }

// Scan implements sql.Scanner.
func (d timeDest) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		*d.t = normTime(x)
	case string:
		return d.parse(x)
	case []byte:
		return d.parse(string(x))
	default:
		return fmt.Errorf("cannot scan %T into a time", v)
	}
	return nil
}

func (d timeDest) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("parse time %q: %w", s, err)
	}
	*d.t = normTime(t)
	return nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// runner runs queries written with ? placeholders in the dialect's style.
type runner struct {
	q querier
	d *dialect
}

func (r runner) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.q.ExecContext(ctx, r.d.rebind(query), args...)
}

// execN runs query and returns how many rows it changed.
func (r runner) execN(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := r.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (r runner) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, r.d.rebind(query), args...)
}

func (r runner) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, r.d.rebind(query), args...)
}

// placeholders returns n comma-separated ? placeholders.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}
