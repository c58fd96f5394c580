package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// migrationsFS holds the schema of each dialect as numbered SQL files,
// NNNN_name.sql, applied in order and never edited once released: a change
// to the schema is a new file.
//
//go:embed migrations
var migrationsFS embed.FS

type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations reads a dialect's migrations, in version order.
func loadMigrations(dir string) ([]migration, error) {
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", e.Name())
		}
		if len(ms) > 0 && ms[len(ms)-1].version >= v {
			return nil, fmt.Errorf("migration %s: version %d is not after %d", e.Name(), v, ms[len(ms)-1].version)
		}
		b, err := migrationsFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(e.Name(), ".sql"), sql: string(b)})
	}
	return ms, nil
}

// migrate applies every migration not yet recorded in schema_migrations,
// each in its own transaction together with its record.
func (s *sqlStore) migrate(ctx context.Context) error {
	ms, err := loadMigrations(s.d.migrations)
	if err != nil {
		return err
	}
	for _, m := range ms {
		applied, err := s.applyMigration(ctx, m)
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if applied {
			s.log.Info("store migration applied", "driver", s.d.name, "version", m.version, "name", m.name)
		}
	}
	var latest int64
	if err := (runner{s.w, s.d}).queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&latest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if len(ms) > 0 && latest > ms[len(ms)-1].version {
		s.log.Warn("database schema is newer than this hoist", "driver", s.d.name, "schema_version", latest, "known_version", ms[len(ms)-1].version)
	}
	return nil
}

// applyMigration applies m unless it is recorded as applied already, and
// reports whether it did.
func (s *sqlStore) applyMigration(ctx context.Context, m migration) (applied bool, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if !applied {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	r := runner{tx, s.d}
	if s.d.migrationLock != "" {
		if _, err := tx.ExecContext(ctx, s.d.migrationLock); err != nil {
			return false, fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.d.migrationTable); err != nil {
		return false, fmt.Errorf("create schema_migrations: %w", err)
	}
	var n int64
	if err := r.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return false, fmt.Errorf("read schema_migrations: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	// Run as is: migrations are not rebound, so they may hold any text.
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, err
	}
	if _, err := r.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, s.d.timeArg(time.Now())); err != nil {
		return false, fmt.Errorf("record: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return true, nil
}
