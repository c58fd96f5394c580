package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Open connects to the database, applies any pending migrations and returns
// the store. driver is "sqlite" or "postgres".
//
// For SQLite, dsn is a file path ("hoist.db"), a file: URI
// ("file:hoist.db?_pragma=..."), or ":memory:" for a private in-memory
// database. Unless the DSN sets them itself, Open adds busy_timeout(5000),
// foreign_keys(1) and, for files, journal_mode(WAL). Every write goes
// through one loop that groups concurrent writes into shared commits, so
// writers never meet SQLITE_BUSY; reads of a file database use a separate
// read-only pool.
//
// For PostgreSQL, dsn is a libpq URL or keyword/value string; runtime
// parameters such as search_path may be given in it. Several replicas may
// share one database: migrations are serialised with an advisory lock.
//
// Errors and logs never include the DSN, which may hold a password. A nil
// logger discards.
func Open(ctx context.Context, driver, dsn string, logger *slog.Logger) (Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var (
		s   *sqlStore
		err error
	)
	switch driver {
	case "sqlite":
		s, err = openSQLite(ctx, dsn, logger)
	case "postgres", "postgresql", "pgx":
		s, err = openPostgres(ctx, dsn, logger)
	default:
		return nil, fmt.Errorf("open store: unknown driver %q (want \"sqlite\" or \"postgres\")", driver)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// sqlite pool sizes: one writer; readers for a file database in WAL mode.
const sqliteReaders = 4

func openSQLite(ctx context.Context, dsn string, logger *slog.Logger) (*sqlStore, error) {
	w, r, err := sqliteDSNs(dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	name, _, _ := strings.Cut(dsn, "?")
	memory := r == ""
	wdb, err := sql.Open("sqlite", w)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	// The group commit runs one write transaction at a time, so writes
	// never meet SQLITE_BUSY inside this process. A second connection lets
	// statements be prepared for the cache while a transaction holds the
	// first. For :memory: there is one connection, since every new
	// connection would be a new, empty database.
	conns := 2
	if memory {
		conns = 1
	}
	wdb.SetMaxOpenConns(conns)
	wdb.SetMaxIdleConns(conns)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	s := &sqlStore{w: wdb, r: wdb, d: sqliteDialect, log: logger}
	if err := s.start(ctx); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if !memory {
		rdb, err := sql.Open("sqlite", r)
		if err != nil {
			wdb.Close()
			return nil, fmt.Errorf("open sqlite store: %w", err)
		}
		n := max(sqliteReaders, runtime.GOMAXPROCS(0))
		rdb.SetMaxOpenConns(n)
		rdb.SetMaxIdleConns(n)
		rdb.SetConnMaxIdleTime(5 * time.Minute)
		if err := rdb.PingContext(ctx); err != nil {
			rdb.Close()
			wdb.Close()
			return nil, fmt.Errorf("open sqlite store: read pool: %w", err)
		}
		s.r = rdb
		s.rstmts = newStmtCache(rdb)
		s.group = newGroupCommit(wdb, s.d, newStmtCache(wdb))
		s.checkpoints = startCheckpointer(wdb, &s.group.commits, logger)
	} else {
		s.group = newGroupCommit(wdb, s.d, nil)
	}
	logger.Info("store opened", "driver", "sqlite", "path", name, "memory", memory)
	return s, nil
}

// sqliteDSNs returns the DSNs of the write and read pools for dsn, with
// Hoist's pragmas added. read is empty for an in-memory database, which has
// only the write pool.
func sqliteDSNs(dsn string) (write, read string, err error) {
	if strings.TrimSpace(dsn) == "" {
		return "", "", errors.New("empty dsn")
	}
	name, query, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", "", fmt.Errorf("parse dsn parameters: %w", err)
	}
	memory := name == ":memory:" || strings.HasPrefix(name, "file::memory:") || q.Get("mode") == "memory"

	wq := cloneValues(q)
	setPragma(wq, "busy_timeout", "5000", "_busy_timeout", "_timeout")
	setPragma(wq, "foreign_keys", "1", "_foreign_keys", "_fk")
	if !memory {
		if setPragma(wq, "journal_mode", "WAL", "_journal_mode", "_journal") {
			// The checkpointer copies the log back, outside the commits.
			setPragma(wq, "wal_autocheckpoint", "0")
		}
	}
	if !wq.Has("_txlock") {
		// Take the write lock at BEGIN: a deferred transaction that reads
		// and then writes can fail with SQLITE_BUSY when another process
		// wrote in between, and busy_timeout cannot help it.
		wq.Set("_txlock", "immediate")
	}
	write = name + "?" + wq.Encode()
	if memory {
		return write, "", nil
	}

	rq := cloneValues(q)
	rq.Del("_journal_mode")
	rq.Del("_journal")
	rq.Del("_txlock")
	rq["_pragma"] = slices.DeleteFunc(rq["_pragma"], func(p string) bool { return pragmaIs(p, "journal_mode") })
	setPragma(rq, "busy_timeout", "5000", "_busy_timeout", "_timeout")
	setPragma(rq, "foreign_keys", "1", "_foreign_keys", "_fk")
	rq.Set("_query_only", "1")
	return write, name + "?" + rq.Encode(), nil
}

// setPragma adds _pragma=name(value) unless q sets that pragma already,
// either as a _pragma or through one of the driver's shorthand keys.
func setPragma(q url.Values, name, value string, shorthand ...string) (added bool) {
	for _, k := range shorthand {
		if q.Has(k) {
			return false
		}
	}
	for _, p := range q["_pragma"] {
		if pragmaIs(p, name) {
			return false
		}
	}
	q.Add("_pragma", name+"("+value+")")
	return true
}

// pragmaIs reports whether the _pragma value p sets the pragma name.
func pragmaIs(p, name string) bool {
	p = strings.ToLower(strings.TrimSpace(p))
	if !strings.HasPrefix(p, name) {
		return false
	}
	rest := strings.TrimSpace(p[len(name):])
	return rest == "" || rest[0] == '(' || rest[0] == '='
}

func cloneValues(q url.Values) url.Values {
	c := make(url.Values, len(q))
	for k, v := range q {
		c[k] = slices.Clone(v)
	}
	return c
}

// postgres pool size: enough for a replica's workers, well under the
// server's default max_connections of 100 even with a few replicas.
const postgresConns = 10

func openPostgres(ctx context.Context, dsn string, logger *slog.Logger) (*sqlStore, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("open postgres store: empty dsn")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parse error quotes the DSN, password and all; say only that
		// it failed.
		return nil, errors.New("open postgres store: cannot parse the dsn (expected postgres://user:password@host:port/db?params or key=value pairs)")
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(postgresConns)
	db.SetMaxIdleConns(postgresConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	s := &sqlStore{w: db, r: db, d: postgresDialect, log: logger}
	if err := s.start(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	logger.Info("store opened", "driver", "postgres", "host", cfg.Host, "port", cfg.Port, "database", cfg.Database, "user", cfg.User)
	return s, nil
}
