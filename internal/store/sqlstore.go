package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hoistbot/hoist/internal/release"
)

// sqlStore is the Store of both drivers: the queries are shared and the
// dialect covers the differences.
type sqlStore struct {
	// w runs every transaction; r runs plain reads. They are the same pool
	// except for a SQLite file, whose single writer connection would
	// otherwise make reads wait for writes.
	w, r *sql.DB
	d    *dialect
	log  *slog.Logger
	// group, for SQLite, runs every write so that concurrent ones share a
	// commit; nil for PostgreSQL, whose own commits are grouped already.
	group *groupCommit
	// rstmts caches the statements of SQLite's read pool; nil otherwise.
	rstmts *stmtCache
	// checkpoints copies a SQLite file's write-ahead log back; nil
	// otherwise.
	checkpoints *checkpointer

	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*sqlStore)(nil)

// start checks the connection and brings the schema up to date.
func (s *sqlStore) start(ctx context.Context) error {
	if err := s.connect(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	return s.migrate(ctx)
}

// connect opens the first connection. Several processes opening one new
// SQLite file at once can meet "database is locked" while one of them
// switches it to WAL, which SQLite's busy timeout does not cover: that is
// retried for a few seconds.
func (s *sqlStore) connect(ctx context.Context) error {
	wait := 10 * time.Millisecond
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := s.w.PingContext(ctx)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

func (s *sqlStore) now() time.Time { return normTime(time.Now()) }

func (s *sqlStore) read() runner {
	if s.rstmts != nil {
		return runner{cachedDB{s.r, s.rstmts}, s.d}
	}
	return runner{s.r, s.d}
}

// tx runs fn in a transaction on the write pool, committing when fn
// returns nil and rolling back otherwise.
func (s *sqlStore) tx(ctx context.Context, fn func(r runner) error) (err error) {
	if s.group != nil {
		return s.group.do(ctx, fn)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(runner{tx, s.d}); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// write runs fn, whose writes need no transaction of their own: on
// PostgreSQL each statement commits by itself, on SQLite it shares a commit.
func (s *sqlStore) write(ctx context.Context, fn func(r runner) error) error {
	if s.group != nil {
		return s.group.do(ctx, fn)
	}
	return fn(runner{s.w, s.d})
}

// ignoreDone drops the error of rolling back a transaction that is over
// already (its context was cancelled, say).
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// addEvent appends e to the audit log.
func (s *sqlStore) addEvent(ctx context.Context, r runner, e release.Event) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if _, err := r.exec(ctx, `INSERT INTO events (at, actor, action, release_id, env, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		s.d.timeArg(e.At), e.Actor, e.Action, nullInt(e.ReleaseID), e.Env, e.Detail); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// Releases.

const releaseCols = `id, kind, app, env, from_env, ref, commit_sha, commit_title, commit_url, reason, requested_by, channel, response_url,
	state, state_reason, message_channel, message_ts, approval_deadline, created_at, updated_at`

func scanRelease(sc scanner) (release.Release, error) {
	var r release.Release
	err := sc.Scan(&r.ID, &r.Kind, &r.App, &r.Env, &r.FromEnv, &r.Ref, &r.Commit, &r.CommitTitle, &r.CommitURL, &r.Reason, &r.RequestedBy,
		&r.Channel, &r.ResponseURL, &r.State, &r.StateReason, &r.MessageChannel, &r.MessageTS,
		timeDest{&r.ApprovalDeadline}, timeDest{&r.CreatedAt}, timeDest{&r.UpdatedAt})
	return r, err
}

// requestDetail describes a release request for the audit log, e.g.
// "deploy api main to staging".
func requestDetail(r release.Release) string {
	parts := []string{string(r.Kind), r.App}
	if r.Ref != "" {
		parts = append(parts, r.Ref)
	}
	if r.FromEnv != "" {
		parts = append(parts, "from", r.FromEnv)
	}
	parts = append(parts, "to", r.Env)
	d := strings.Join(parts, " ")
	if r.Reason != "" {
		d += ": " + r.Reason
	}
	return d
}

func (s *sqlStore) CreateRelease(ctx context.Context, r release.Release) (release.Release, error) {
	now := s.now()
	r.ID = 0
	r.State = release.Requested
	r.CreatedAt = normTime(r.CreatedAt)
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	r.UpdatedAt = r.CreatedAt
	r.ApprovalDeadline = normTime(r.ApprovalDeadline)
	err := s.tx(ctx, func(q runner) error {
		err := q.queryRow(ctx, `INSERT INTO releases (kind, app, env, from_env, ref, commit_sha, commit_title, commit_url, reason, requested_by,
			channel, response_url, state, state_reason, message_channel, message_ts, approval_deadline, created_at, updated_at)
			VALUES (`+placeholders(19)+`) RETURNING id`,
			r.Kind, r.App, r.Env, r.FromEnv, r.Ref, r.Commit, r.CommitTitle, r.CommitURL, r.Reason, r.RequestedBy,
			r.Channel, r.ResponseURL, r.State, r.StateReason, r.MessageChannel, r.MessageTS,
			s.d.nullTimeArg(r.ApprovalDeadline), s.d.timeArg(r.CreatedAt), s.d.timeArg(r.UpdatedAt)).Scan(&r.ID)
		if err != nil {
			return err
		}
		return s.addEvent(ctx, q, release.Event{At: r.CreatedAt, Actor: r.RequestedBy, Action: "request",
			ReleaseID: r.ID, Env: r.Env, Detail: requestDetail(r)})
	})
	if err != nil {
		return release.Release{}, fmt.Errorf("create release of %s to %s: %w", r.App, r.Env, err)
	}
	return r, nil
}

func (s *sqlStore) GetRelease(ctx context.Context, id release.ID) (release.Release, error) {
	r, err := scanRelease(s.read().queryRow(ctx, `SELECT `+releaseCols+` FROM releases WHERE id = ?`, int64(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return release.Release{}, fmt.Errorf("get release %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return release.Release{}, fmt.Errorf("get release %d: %w", id, err)
	}
	return r, nil
}

func (s *sqlStore) ListReleases(ctx context.Context, f ReleaseFilter) ([]release.Release, error) {
	where, args := releaseWhere(f)
	q := `SELECT ` + releaseCols + ` FROM releases` + where
	if f.OldestFirst {
		q += ` ORDER BY id`
	} else {
		q += ` ORDER BY id DESC`
	}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, int64(f.Limit))
	}
	rows, err := s.read().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	defer rows.Close()
	var out []release.Release
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, fmt.Errorf("list releases: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	return out, nil
}

func (s *sqlStore) CountReleases(ctx context.Context, f ReleaseFilter) (int, error) {
	where, args := releaseWhere(f)
	var n int
	if err := s.read().queryRow(ctx, `SELECT COUNT(*) FROM releases`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count releases: %w", err)
	}
	return n, nil
}

// releaseWhere is the WHERE clause of the releases f selects, with its
// arguments.
func releaseWhere(f ReleaseFilter) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.App != "" {
		where = append(where, "app = ?")
		args = append(args, f.App)
	}
	if f.Env != "" {
		where = append(where, "env = ?")
		args = append(args, f.Env)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if len(where) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(where, " AND "), args
}

func (s *sqlStore) Transition(ctx context.Context, t release.Transition) (release.Release, error) {
	if !release.CanTransition(t.From, t.To) {
		return release.Release{}, fmt.Errorf("transition release %d: %s → %s is not allowed: %w", t.ID, t.From, t.To, ErrConflict)
	}
	var out release.Release
	err := s.tx(ctx, func(q runner) error {
		now := s.now()
		r, err := scanRelease(q.queryRow(ctx, `UPDATE releases SET state = ?, state_reason = ?, updated_at = ?
			WHERE id = ? AND state = ? RETURNING `+releaseCols,
			string(t.To), t.Reason, s.d.timeArg(now), int64(t.ID), string(t.From)))
		if errors.Is(err, sql.ErrNoRows) {
			var cur string
			err := q.queryRow(ctx, `SELECT state FROM releases WHERE id = ?`, int64(t.ID)).Scan(&cur)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("it is %s, not %s: %w", cur, t.From, ErrConflict)
		}
		if err != nil {
			return err
		}
		detail := fmt.Sprintf("%s → %s", t.From, t.To)
		if t.Reason != "" {
			detail += ": " + t.Reason
		}
		out = r
		return s.addEvent(ctx, q, release.Event{At: now, Actor: t.Actor, Action: "transition",
			ReleaseID: t.ID, Env: r.Env, Detail: detail})
	})
	if err != nil {
		return release.Release{}, fmt.Errorf("transition release %d %s → %s: %w", t.ID, t.From, t.To, err)
	}
	return out, nil
}

func (s *sqlStore) SetMessage(ctx context.Context, id release.ID, channel, ts string) error {
	var n int64
	err := s.write(ctx, func(q runner) (err error) {
		n, err = q.execN(ctx, `UPDATE releases SET message_channel = ?, message_ts = ? WHERE id = ?`, channel, ts, int64(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("set message of release %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("set message of release %d: %w", id, ErrNotFound)
	}
	return nil
}

func (s *sqlStore) PutMessage(ctx context.Context, id release.ID, role string, ref release.MessageRef) error {
	err := s.write(ctx, func(q runner) error {
		_, err := q.exec(ctx, `INSERT INTO release_messages (release_id, role, channel, ts) VALUES (?, ?, ?, ?)
			ON CONFLICT (release_id, role) DO UPDATE SET channel = excluded.channel, ts = excluded.ts`,
			int64(id), role, ref.Channel, ref.TS)
		return err
	})
	if err != nil {
		return fmt.Errorf("put %s message of release %d: %w", role, id, err)
	}
	return nil
}

func (s *sqlStore) Messages(ctx context.Context, id release.ID) (map[string]release.MessageRef, error) {
	rows, err := s.read().query(ctx, `SELECT role, channel, ts FROM release_messages WHERE release_id = ?`, int64(id))
	if err != nil {
		return nil, fmt.Errorf("list messages of release %d: %w", id, err)
	}
	defer rows.Close()
	out := map[string]release.MessageRef{}
	for rows.Next() {
		var role string
		var ref release.MessageRef
		if err := rows.Scan(&role, &ref.Channel, &ref.TS); err != nil {
			return nil, fmt.Errorf("list messages of release %d: %w", id, err)
		}
		out[role] = ref
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list messages of release %d: %w", id, err)
	}
	return out, nil
}

func (s *sqlStore) SetCommit(ctx context.Context, id release.ID, c release.Commit, actor string) error {
	err := s.tx(ctx, func(q runner) error {
		now := s.now()
		var env, ref string
		err := q.queryRow(ctx, `UPDATE releases SET commit_sha = ?, commit_title = ?, commit_url = ?, updated_at = ? WHERE id = ? RETURNING env, ref`,
			c.SHA, c.Title, c.URL, s.d.timeArg(now), int64(id)).Scan(&env, &ref)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return s.addEvent(ctx, q, release.Event{At: now, Actor: actor, Action: "resolve",
			ReleaseID: id, Env: env, Detail: ref + " → " + c.SHA})
	})
	if err != nil {
		return fmt.Errorf("set commit of release %d: %w", id, err)
	}
	return nil
}

// Votes.

func (s *sqlStore) AddVote(ctx context.Context, v release.Vote) (added bool, err error) {
	if v.At.IsZero() {
		v.At = time.Now()
	}
	err = s.tx(ctx, func(q runner) error {
		var env, state string
		err := q.queryRow(ctx, `SELECT env, state FROM releases WHERE id = ?`+s.d.rowLock, int64(v.ReleaseID)).Scan(&env, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if release.State(state) != release.AwaitingApproval {
			return fmt.Errorf("%w: release is %s, not awaiting approval", ErrConflict, state)
		}
		n, err := q.execN(ctx, `INSERT INTO votes (release_id, voter, approve, reason, at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (release_id, voter) DO NOTHING`,
			int64(v.ReleaseID), v.Voter, v.Approve, v.Reason, s.d.timeArg(v.At))
		if err != nil || n == 0 {
			return err
		}
		added = true
		detail := "deny"
		if v.Approve {
			detail = "approve"
		}
		if v.Reason != "" {
			detail += ": " + v.Reason
		}
		return s.addEvent(ctx, q, release.Event{At: v.At, Actor: v.Voter, Action: "vote",
			ReleaseID: v.ReleaseID, Env: env, Detail: detail})
	})
	if err != nil {
		return false, fmt.Errorf("add vote of %s on release %d: %w", v.Voter, v.ReleaseID, err)
	}
	return added, nil
}

func (s *sqlStore) Votes(ctx context.Context, id release.ID) ([]release.Vote, error) {
	rows, err := s.read().query(ctx, `SELECT release_id, voter, approve, reason, at FROM votes
		WHERE release_id = ? ORDER BY at, voter`, int64(id))
	if err != nil {
		return nil, fmt.Errorf("list votes on release %d: %w", id, err)
	}
	defer rows.Close()
	var out []release.Vote
	for rows.Next() {
		var v release.Vote
		if err := rows.Scan(&v.ReleaseID, &v.Voter, &v.Approve, &v.Reason, timeDest{&v.At}); err != nil {
			return nil, fmt.Errorf("list votes on release %d: %w", id, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list votes on release %d: %w", id, err)
	}
	return out, nil
}

// Locks.

func scanLock(sc scanner) (release.Lock, error) {
	var l release.Lock
	err := sc.Scan(&l.Env, &l.Owner, &l.Reason, timeDest{&l.At})
	return l, err
}

func getLock(ctx context.Context, q runner, env string) (release.Lock, error) {
	l, err := scanLock(q.queryRow(ctx, `SELECT env, owner, reason, at FROM locks WHERE env = ?`, env))
	if errors.Is(err, sql.ErrNoRows) {
		return release.Lock{}, ErrNotFound
	}
	return l, err
}

// lockAttempts bounds Lock's retries when the lock changes hands between
// its statements (only possible on PostgreSQL, where writers run in parallel).
const lockAttempts = 5

func (s *sqlStore) Lock(ctx context.Context, l release.Lock) (release.Lock, error) {
	if l.Env == "" {
		return release.Lock{}, errors.New("lock: no environment given")
	}
	l.At = normTime(l.At)
	if l.At.IsZero() {
		l.At = s.now()
	}
	var held release.Lock
	err := s.tx(ctx, func(q runner) error {
		for range lockAttempts {
			cur, err := getLock(ctx, q, l.Env)
			switch {
			case errors.Is(err, ErrNotFound):
				n, err := q.execN(ctx, `INSERT INTO locks (env, owner, reason, at) VALUES (?, ?, ?, ?) ON CONFLICT (env) DO NOTHING`,
					l.Env, l.Owner, l.Reason, s.d.timeArg(l.At))
				if err != nil {
					return err
				}
				if n == 0 {
					continue // someone took it just now: look again
				}
				return s.addEvent(ctx, q, release.Event{At: l.At, Actor: l.Owner, Action: "lock", Env: l.Env, Detail: l.Reason})
			case err != nil:
				return err
			case cur.Owner != l.Owner:
				held = cur
				return fmt.Errorf("held by %s: %w", cur.Owner, ErrLocked)
			default:
				n, err := q.execN(ctx, `UPDATE locks SET reason = ?, at = ? WHERE env = ? AND owner = ?`,
					l.Reason, s.d.timeArg(l.At), l.Env, l.Owner)
				if err != nil {
					return err
				}
				if n == 0 {
					continue // unlocked just now: look again
				}
				return s.addEvent(ctx, q, release.Event{At: l.At, Actor: l.Owner, Action: "lock", Env: l.Env, Detail: "re-lock: " + l.Reason})
			}
		}
		return fmt.Errorf("the lock kept changing hands, try again: %w", ErrConflict)
	})
	if errors.Is(err, ErrLocked) {
		return held, fmt.Errorf("lock %s: %w", l.Env, err)
	}
	if err != nil {
		return release.Lock{}, fmt.Errorf("lock %s: %w", l.Env, err)
	}
	return l, nil
}

func (s *sqlStore) Unlock(ctx context.Context, env, actor string) (release.Lock, error) {
	var l release.Lock
	err := s.tx(ctx, func(q runner) error {
		var err error
		l, err = scanLock(q.queryRow(ctx, `DELETE FROM locks WHERE env = ? RETURNING env, owner, reason, at`, env))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		detail := "held by " + l.Owner
		if l.Reason != "" {
			detail += ": " + l.Reason
		}
		return s.addEvent(ctx, q, release.Event{Actor: actor, Action: "unlock", Env: env, Detail: detail})
	})
	if err != nil {
		return release.Lock{}, fmt.Errorf("unlock %s: %w", env, err)
	}
	return l, nil
}

func (s *sqlStore) GetLock(ctx context.Context, env string) (release.Lock, error) {
	l, err := getLock(ctx, s.read(), env)
	if err != nil {
		return release.Lock{}, fmt.Errorf("get lock of %s: %w", env, err)
	}
	return l, nil
}

func (s *sqlStore) ListLocks(ctx context.Context) ([]release.Lock, error) {
	rows, err := s.read().query(ctx, `SELECT env, owner, reason, at FROM locks ORDER BY env`)
	if err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	defer rows.Close()
	var out []release.Lock
	for rows.Next() {
		l, err := scanLock(rows)
		if err != nil {
			return nil, fmt.Errorf("list locks: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	return out, nil
}

// Environments.

const environmentCols = `app, branch, env, namespace, owner, created_at, expires_at, last_release`

func scanEnvironment(sc scanner) (Environment, error) {
	var (
		e    Environment
		last sql.NullInt64
	)
	err := sc.Scan(&e.App, &e.Branch, &e.Env, &e.Namespace, &e.Owner, timeDest{&e.CreatedAt}, timeDest{&e.ExpiresAt}, &last)
	e.LastRelease = release.ID(last.Int64)
	return e, err
}

func (s *sqlStore) PutEnvironment(ctx context.Context, e Environment, actor string) error {
	if e.App == "" || e.Branch == "" {
		return errors.New("put environment: app and branch are required")
	}
	e.CreatedAt = normTime(e.CreatedAt)
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	err := s.tx(ctx, func(q runner) error {
		if _, err := q.exec(ctx, `INSERT INTO environments (`+environmentCols+`) VALUES (`+placeholders(8)+`)
			ON CONFLICT (app, branch) DO UPDATE SET env = excluded.env, namespace = excluded.namespace,
			owner = excluded.owner, expires_at = excluded.expires_at, last_release = excluded.last_release`,
			e.App, e.Branch, e.Env, e.Namespace, e.Owner, s.d.timeArg(e.CreatedAt), s.d.nullTimeArg(e.ExpiresAt),
			nullInt(e.LastRelease)); err != nil {
			return err
		}
		detail := fmt.Sprintf("%s %s in %s", e.App, e.Branch, e.Namespace)
		if !e.ExpiresAt.IsZero() {
			detail += ", expires " + normTime(e.ExpiresAt).Format(time.RFC3339)
		}
		return s.addEvent(ctx, q, release.Event{Actor: actor, Action: "env_put", ReleaseID: e.LastRelease,
			Env: e.Env, Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("put environment %s %s: %w", e.App, e.Branch, err)
	}
	return nil
}

func (s *sqlStore) GetEnvironment(ctx context.Context, app, branch string) (Environment, error) {
	e, err := scanEnvironment(s.read().queryRow(ctx, `SELECT `+environmentCols+` FROM environments
		WHERE app = ? AND branch = ?`, app, branch))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Environment{}, fmt.Errorf("get environment %s %s: %w", app, branch, err)
	}
	return e, nil
}

func (s *sqlStore) ListEnvironments(ctx context.Context, app string) ([]Environment, error) {
	q := `SELECT ` + environmentCols + ` FROM environments`
	var args []any
	if app != "" {
		q += ` WHERE app = ?`
		args = append(args, app)
	}
	rows, err := s.read().query(ctx, q+` ORDER BY app, branch`, args...)
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	defer rows.Close()
	var out []Environment
	for rows.Next() {
		e, err := scanEnvironment(rows)
		if err != nil {
			return nil, fmt.Errorf("list environments: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	return out, nil
}

func (s *sqlStore) DeleteEnvironment(ctx context.Context, app, branch, actor string) error {
	err := s.tx(ctx, func(q runner) error {
		var (
			env, ns string
			last    sql.NullInt64
		)
		err := q.queryRow(ctx, `DELETE FROM environments WHERE app = ? AND branch = ? RETURNING env, namespace, last_release`,
			app, branch).Scan(&env, &ns, &last)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return s.addEvent(ctx, q, release.Event{Actor: actor, Action: "env_delete", ReleaseID: release.ID(last.Int64),
			Env: env, Detail: fmt.Sprintf("%s %s in %s", app, branch, ns)})
	})
	if err != nil {
		return fmt.Errorf("delete environment %s %s: %w", app, branch, err)
	}
	return nil
}

// Audit log.

func (s *sqlStore) Audit(ctx context.Context, e release.Event) error {
	if e.Action == "" {
		return errors.New("audit: no action given")
	}
	if err := s.write(ctx, func(q runner) error { return s.addEvent(ctx, q, e) }); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func (s *sqlStore) Events(ctx context.Context, f EventFilter) ([]release.Event, error) {
	var (
		where []string
		args  []any
	)
	if f.ReleaseID != 0 {
		where = append(where, "release_id = ?")
		args = append(args, int64(f.ReleaseID))
	}
	if f.Env != "" {
		where = append(where, "env = ?")
		args = append(args, f.Env)
	}
	q := `SELECT id, at, actor, action, release_id, env, detail FROM events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	// With a limit, take the newest events and turn them round after.
	if f.Limit > 0 {
		q += ` ORDER BY id DESC LIMIT ?`
		args = append(args, int64(f.Limit))
	} else {
		q += ` ORDER BY id`
	}
	rows, err := s.read().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []release.Event
	for rows.Next() {
		var (
			e   release.Event
			rid sql.NullInt64
		)
		if err := rows.Scan(&e.ID, timeDest{&e.At}, &e.Actor, &e.Action, &rid, &e.Env, &e.Detail); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		e.ReleaseID = release.ID(rid.Int64)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if f.Limit > 0 {
		slices.Reverse(out)
	}
	return out, nil
}

// Lifecycle.

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s store: %w", s.d.name, err)
	}
	if s.r != s.w {
		if err := s.r.PingContext(ctx); err != nil {
			return fmt.Errorf("ping %s store: read pool: %w", s.d.name, err)
		}
	}
	return nil
}

func (s *sqlStore) Close() error {
	s.closeOnce.Do(func() {
		if s.checkpoints != nil {
			s.checkpoints.close()
		}
		if s.group != nil {
			s.group.close()
		}
		if s.rstmts != nil {
			s.rstmts.close()
		}
		if s.r != s.w {
			s.closeErr = s.r.Close()
		}
		s.closeErr = errors.Join(s.closeErr, s.w.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close %s store: %w", s.d.name, s.closeErr)
		}
	})
	return s.closeErr
}
