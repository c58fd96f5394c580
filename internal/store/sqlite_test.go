package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/store"
	"github.com/hoistbot/hoist/internal/store/storetest"
)

// openStore opens a store and closes it when tb ends.
func openStore(tb testing.TB, driver, dsn string) store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), driver, dsn, nil)
	if err != nil {
		tb.Fatalf("open %s: %v", driver, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

// openSQLite opens a SQLite store on dsn and closes it when tb ends.
func openSQLite(tb testing.TB, dsn string) store.Store { return openStore(tb, "sqlite", dsn) }

func tempDB(tb testing.TB) string { return filepath.Join(tb.TempDir(), "hoist.db") }

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openSQLite(t, tempDB(t)) }, storetest.Options{
		Reopenable: func(t *testing.T) (store.Store, func(t *testing.T) store.Store) {
			path := tempDB(t)
			return openSQLite(t, path), func(t *testing.T) store.Store { return openSQLite(t, path) }
		},
	})
}

func TestSQLiteMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openSQLite(t, ":memory:") })
}

func TestSQLiteFileURI(t *testing.T) {
	dsn := "file:" + tempDB(t) + "?_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"
	s := openSQLite(t, dsn)
	if _, err := s.CreateRelease(context.Background(), release.Release{Kind: release.KindDeploy, App: "api", Env: "staging", RequestedBy: "U"}); err != nil {
		t.Fatal(err)
	}
}

// Every start applies migrations idempotently, also when several processes
// (here: stores) open the same file at once.
func TestSQLiteConcurrentOpen(t *testing.T) {
	path := tempDB(t)
	var wg sync.WaitGroup
	stores := make([]store.Store, 8)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = store.Open(context.Background(), "sqlite", path, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	// Writers in different pools (as in different processes) all succeed.
	for i, s := range stores {
		wg.Go(func() {
			for range 10 {
				if _, err := s.CreateRelease(context.Background(), release.Release{Kind: release.KindDeploy, App: "api", Env: "staging", RequestedBy: "U"}); err != nil {
					t.Errorf("store %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	rs, err := stores[0].ListReleases(context.Background(), store.ReleaseFilter{})
	if err != nil || len(rs) != 80 {
		t.Errorf("ListReleases = %d releases, %v; want 80", len(rs), err)
	}
}

func TestOpenUnknownDriver(t *testing.T) {
	_, err := store.Open(context.Background(), "mysql", "root:secret@/hoist", nil)
	if err == nil {
		t.Fatal("Open(mysql) succeeded")
	}
	if got := err.Error(); !strings.Contains(got, `unknown driver "mysql"`) || strings.Contains(got, "secret") {
		t.Errorf("error = %q", got)
	}
}

// The in-memory database lives in its one connection: a cancelled call
// must not make database/sql replace it with a new, empty one.
func TestSQLiteMemorySurvivesCancel(t *testing.T) {
	s := openSQLite(t, ":memory:")
	r, err := s.CreateRelease(context.Background(), release.Release{Kind: release.KindDeploy, App: "api", Env: "staging", RequestedBy: "U"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.CreateRelease(ctx, release.Release{Kind: release.KindDeploy, App: "api", Env: "staging", RequestedBy: "U"}); err == nil {
		t.Error("CreateRelease with a cancelled context succeeded")
	}
	if _, err := s.Transition(ctx, release.Transition{ID: r.ID, From: release.Requested, To: release.Approved}); err == nil {
		t.Error("Transition with a cancelled context succeeded")
	}
	if _, err := s.GetRelease(ctx, r.ID); err == nil {
		t.Error("GetRelease with a cancelled context succeeded")
	}
	got, err := s.GetRelease(context.Background(), r.ID)
	if err != nil || got.State != release.Requested {
		t.Errorf("after cancelled calls: %+v, %v", got, err)
	}
}

// The audit log is append-only in the database too, not only in the code.
func TestSQLiteEventsAppendOnly(t *testing.T) {
	path := tempDB(t)
	s := openSQLite(t, path)
	if err := s.Audit(context.Background(), release.Event{Actor: "U", Action: "refuse"}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"UPDATE events SET actor = 'X'", "DELETE FROM events"} {
		if _, err := db.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: error %v, want the append-only refusal", q, err)
		}
	}
}

// Commits leave their pages in the write-ahead log; the checkpointer copies
// them into the database file beside the writes, so the log does not grow
// without end and commits never wait for the copy.
func TestSQLiteCheckpointsBesideTheWrites(t *testing.T) {
	path := tempDB(t)
	s := openSQLite(t, path)
	ctx := context.Background()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	detail := strings.Repeat("x", 500)
	for i := range 500 {
		if err := s.Audit(ctx, release.Event{Actor: "U", Action: "query", Detail: fmt.Sprint(i, detail)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() < before+200_000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes (%d before 250 KB of events): the log was never copied back", size(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
