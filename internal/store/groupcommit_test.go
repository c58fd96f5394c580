package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// newTestGroup opens a SQLite file with one table, k, behind a group commit.
func newTestGroup(t *testing.T) (*groupCommit, *sql.DB) {
	t.Helper()
	w, _, err := sqliteDSNs(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", w)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE k (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return newGroupCommit(db, sqliteDialect, newStmtCache(db)), db
}

func insert(n int) func(runner) error {
	return func(q runner) error {
		_, err := q.exec(context.Background(), `INSERT INTO k (n) VALUES (?)`, n)
		return err
	}
}

func keys(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT n FROM k ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// hold occupies the writer until the returned function is called, so that
// the writes asked for meanwhile share the next commit.
func hold(t *testing.T, g *groupCommit) (release func()) {
	t.Helper()
	started, free := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- g.do(context.Background(), func(q runner) error {
			close(started)
			<-free
			return insert(0)(q)
		})
	}()
	<-started
	return func() {
		close(free)
		if err := <-done; err != nil {
			t.Errorf("held write: %v", err)
		}
	}
}

// waitQueued waits until n writes are queued behind the one being run.
func waitQueued(t *testing.T, g *groupCommit, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		g.mu.Lock()
		queued := len(g.queue)
		g.mu.Unlock()
		if queued == n {
			return
		}
	}
	t.Fatalf("never saw %d writes queued", n)
}

// A write that fails inside a shared commit is undone alone: the others in
// its commit stay, and each caller learns its own outcome.
func TestGroupCommitFailureStaysAlone(t *testing.T) {
	g, db := newTestGroup(t)
	defer g.close()
	release := hold(t, g)
	errs := make([]error, 10)
	var wg sync.WaitGroup
	for i := 1; i <= 10; i++ {
		fn := insert(i)
		if i%2 == 1 {
			fn = func(q runner) error {
				if err := insert(i)(q); err != nil {
					return err
				}
				return fmt.Errorf("write %d refused", i)
			}
		}
		wg.Go(func() { errs[i-1] = g.do(context.Background(), fn) })
		waitQueued(t, g, i)
	}
	release()
	wg.Wait()
	for i, err := range errs {
		if n := i + 1; n%2 == 1 && (err == nil || err.Error() != fmt.Sprintf("write %d refused", n)) {
			t.Errorf("write %d: err = %v, want its own refusal", n, err)
		} else if n%2 == 0 && err != nil {
			t.Errorf("write %d: %v", n, err)
		}
	}
	if got, want := keys(t, db), []int{0, 2, 4, 6, 8, 10}; !slices.Equal(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
}

// A write whose caller gave up while it waited is never run; one that a
// commit has taken runs to its end and its caller learns how it went.
func TestGroupCommitAbandoned(t *testing.T) {
	g, db := newTestGroup(t)
	defer g.close()
	release := hold(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.do(ctx, insert(1)) }()
	waitQueued(t, g, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned write: err = %v, want context.Canceled", err)
	}
	release()
	if err := g.do(context.Background(), insert(2)); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, db), []int{0, 2}; !slices.Equal(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}

	// Cancelled once taken: its statements still run, on their own terms.
	ctx, cancel = context.WithCancel(context.Background())
	err := g.do(ctx, func(q runner) error {
		cancel()
		return insert(3)(q)
	})
	if err != nil {
		t.Errorf("write cancelled while running: %v", err)
	}
	if got, want := keys(t, db), []int{0, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
}

// Closing commits the writes already asked for and refuses later ones.
func TestGroupCommitClose(t *testing.T) {
	g, db := newTestGroup(t)
	release := hold(t, g)
	done := make(chan error, 1)
	go func() { done <- g.do(context.Background(), insert(1)) }()
	waitQueued(t, g, 1)
	closed := make(chan struct{})
	go func() { g.close(); close(closed) }()
	for {
		g.mu.Lock()
		c := g.closed
		g.mu.Unlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := g.do(context.Background(), insert(2)); !errors.Is(err, errClosed) {
		t.Errorf("write after close: err = %v, want %v", err, errClosed)
	}
	release()
	<-closed
	if err := <-done; err != nil {
		t.Errorf("write queued before close: %v", err)
	}
	if got, want := keys(t, db), []int{0, 1}; !slices.Equal(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
}

// A write that panics fails alone: the writer goes on, and so do the other
// writes of its commit.
func TestGroupCommitPanicFailsOneWrite(t *testing.T) {
	g, db := newTestGroup(t)
	defer g.close()
	release := hold(t, g)
	var wg sync.WaitGroup
	var panicked, kept error
	wg.Go(func() { panicked = g.do(context.Background(), func(runner) error { panic("boom") }) })
	waitQueued(t, g, 1)
	wg.Go(func() { kept = g.do(context.Background(), insert(1)) })
	waitQueued(t, g, 2)
	release()
	wg.Wait()
	if panicked == nil || !strings.Contains(panicked.Error(), "boom") {
		t.Errorf("panicking write: err = %v, want the panic", panicked)
	}
	if kept != nil {
		t.Errorf("write beside it: %v", kept)
	}
	if err := g.do(context.Background(), insert(2)); err != nil {
		t.Fatalf("a write after the panic: %v", err)
	}
	if got, want := keys(t, db), []int{0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
}
