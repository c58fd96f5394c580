package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// maxGroup bounds how many writes share one commit, so that a write that
// arrives during a long batch does not wait for hundreds before it.
const maxGroup = 64

// errClosed is the error of a write asked of a store being closed.
var errClosed = errors.New("store is closed")

// groupCommit runs the write transactions of a SQLite store, which has one
// writer and syncs the disk at every commit. The writes that wait while a
// commit is under way share the next one, each in a savepoint of its own:
// N concurrent writers cost one sync instead of N, each write still stands
// or falls alone, and nobody returns before their write is durable.
type groupCommit struct {
	db *sql.DB
	d  *dialect
	// stmts, when not nil, keeps the statements the writes prepare.
	stmts *stmtCache
	// commits counts the commits made.
	commits atomic.Int64

	mu     sync.Mutex
	queue  []*writeJob
	closed bool

	wake chan struct{}
	done chan struct{}
}

// Job states: a queued job may still be abandoned by its caller; once taken
// into a batch, its caller waits for the outcome.
const (
	jobQueued int32 = iota
	jobTaken
	jobAbandoned
)

type writeJob struct {
	fn    func(runner) error
	state atomic.Int32
	err   error
	done  chan struct{}
}

func newGroupCommit(db *sql.DB, d *dialect, stmts *stmtCache) *groupCommit {
	g := &groupCommit{db: db, d: d, stmts: stmts, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go g.loop()
	return g
}

// do runs fn in a transaction and returns once it is committed, or fn's
// error once it is rolled back. A caller whose ctx ends while its write
// still waits gets ctx.Err() and the write never runs; once the write is
// under way, do waits for its outcome. A store being closed refuses new
// writes with errClosed.
func (g *groupCommit) do(ctx context.Context, fn func(runner) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &writeJob{fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errClosed
	}
	g.queue = append(g.queue, j)
	g.mu.Unlock()
	g.signal()
	select {
	case <-j.done:
		return j.err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return ctx.Err()
		}
		<-j.done
		return j.err
	}
}

func (g *groupCommit) signal() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// close runs the writes already asked for, refuses new ones and returns
// once the last is committed.
func (g *groupCommit) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.signal()
	<-g.done
	if g.stmts != nil {
		g.stmts.close()
	}
}

func (g *groupCommit) loop() {
	defer close(g.done)
	var batch []*writeJob
	for range g.wake {
		for {
			g.mu.Lock()
			n := min(len(g.queue), maxGroup)
			batch = append(batch[:0], g.queue[:n]...)
			g.queue = g.queue[n:]
			if len(g.queue) == 0 {
				g.queue = nil
			}
			closed := g.closed && n == 0
			g.mu.Unlock()
			if closed {
				return
			}
			if n == 0 {
				break
			}
			g.run(batch)
		}
	}
}

// run commits the jobs of batch that their callers still wait for.
func (g *groupCommit) run(batch []*writeJob) {
	live := batch[:0]
	for _, j := range batch {
		if j.state.CompareAndSwap(jobQueued, jobTaken) {
			live = append(live, j)
		}
	}
	if len(live) == 0 {
		return
	}
	defer func() {
		for _, j := range live {
			close(j.done)
		}
	}()
	// A write interrupted by its context would make SQLite roll back the
	// whole transaction, others' writes with it: once taken, a job runs to
	// its end.
	ctx := context.Background()
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		failAll(live, fmt.Errorf("begin: %w", err))
		return
	}
	var q querier = tx
	if g.stmts != nil {
		q = cachedTx{tx, g.stmts}
	}
	r := runner{detached{q}, g.d}
	if len(live) == 1 {
		if live[0].err = runJob(r, live[0].fn); live[0].err != nil {
			live[0].err = errors.Join(live[0].err, ignoreDone(tx.Rollback()))
			return
		}
	} else {
		for _, j := range live {
			if err := runSavepoint(ctx, tx, r, j.fn); err != nil {
				var sp savepointError
				if errors.As(err, &sp) {
					failAll(live, err)
					_ = tx.Rollback()
					return
				}
				j.err = err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		for _, j := range live {
			if j.err == nil {
				j.err = fmt.Errorf("commit: %w", err)
			}
		}
		return
	}
	g.commits.Add(1)
}

// savepointError is a failure of the savepoint statements themselves, which
// leaves the transaction unusable.
type savepointError struct{ err error }

func (e savepointError) Error() string { return e.err.Error() }
func (e savepointError) Unwrap() error { return e.err }

// runSavepoint runs fn inside a savepoint of tx, undoing fn's writes alone
// when it fails.
func runSavepoint(ctx context.Context, tx *sql.Tx, r runner, fn func(runner) error) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT write`); err != nil {
		return savepointError{fmt.Errorf("savepoint: %w", err)}
	}
	err := runJob(r, fn)
	if err != nil {
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO write`); rerr != nil {
			return savepointError{fmt.Errorf("roll back to savepoint: %w", rerr)}
		}
	}
	if _, rerr := tx.ExecContext(ctx, `RELEASE write`); rerr != nil {
		return savepointError{fmt.Errorf("release savepoint: %w", rerr)}
	}
	return err
}

// runJob runs fn, turning a panic into its error: it runs on the writer's
// goroutine, where nothing else would recover it.
func runJob(r runner, fn func(runner) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write panicked: %v", p)
		}
	}()
	return fn(r)
}

func failAll(jobs []*writeJob, err error) {
	for _, j := range jobs {
		j.err = err
	}
}

// detached runs statements without their context's cancellation.
type detached struct{ q querier }

func (d detached) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.q.ExecContext(context.WithoutCancel(ctx), query, args...)
}

func (d detached) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.q.QueryContext(context.WithoutCancel(ctx), query, args...)
}

func (d detached) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return d.q.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}
