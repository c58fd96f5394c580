package store_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/store"
	"github.com/hoistbot/hoist/internal/store/storetest"
	"github.com/jackc/pgx/v5"
)

// postgresDSN returns a DSN for a fresh schema of the test database.
func postgresDSN(tb testing.TB) string { return storetest.PostgresDSN(tb) }

// openPostgres opens a PostgreSQL store on dsn and closes it when tb ends.
func openPostgres(tb testing.TB, dsn string) store.Store { return openStore(tb, "postgres", dsn) }

func TestPostgres(t *testing.T) {
	if os.Getenv("HOIST_TEST_POSTGRES_DSN") == "" {
		t.Skip(storetest.PostgresSkip)
	}
	storetest.Run(t, func(t *testing.T) store.Store { return openPostgres(t, postgresDSN(t)) }, storetest.Options{
		Reopenable: func(t *testing.T) (store.Store, func(t *testing.T) store.Store) {
			dsn := postgresDSN(t)
			return openPostgres(t, dsn), func(t *testing.T) store.Store { return openPostgres(t, dsn) }
		},
	})
}

// Replicas starting together apply each migration once: the advisory lock
// serialises them.
func TestPostgresConcurrentMigrations(t *testing.T) {
	dsn := postgresDSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			s, err := store.Open(context.Background(), "postgres", dsn, nil)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n, distinct int
	if err := conn.QueryRow(context.Background(), "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Errorf("schema_migrations has %d rows for %d versions", n, distinct)
	}
}

// A bad DSN's password never shows in the error.
func TestPostgresErrorsHideDSN(t *testing.T) {
	for _, dsn := range []string{
		"postgres://hoist:s3cr3t-pw@127.0.0.1:1/hoist?sslmode=disable&connect_timeout=2",
		"postgres://hoist:s3cr3t-pw@[::1/hoist",
		"host=127.0.0.1 port=1 user=hoist password=s3cr3t-pw dbname=hoist connect_timeout=2 sslmode=disable",
	} {
		_, err := store.Open(context.Background(), "postgres", dsn, nil)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// The audit log is append-only in the database too, not only in the code.
func TestPostgresEventsAppendOnly(t *testing.T) {
	dsn := postgresDSN(t)
	s := openPostgres(t, dsn)
	if err := s.Audit(context.Background(), release.Event{Actor: "U", Action: "refuse"}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{"UPDATE events SET actor = 'X'", "DELETE FROM events", "TRUNCATE events"} {
		if _, err := conn.Exec(context.Background(), q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: error %v, want the append-only refusal", q, err)
		}
	}
}

// One process of those sharing a database leads; when its session dies,
// another can take over.
func TestPostgresLeadership(t *testing.T) {
	dsn := postgresDSN(t)
	a, b := openPostgres(t, dsn), openPostgres(t, dsn)
	ctx := context.Background()
	la, err := a.TryLead(ctx)
	if err != nil || la == nil {
		t.Fatalf("first TryLead = %v, %v; want leadership", la, err)
	}
	if lb, err := b.TryLead(ctx); err != nil || lb != nil {
		t.Fatalf("second TryLead = %v, %v; want none while a leads", lb, err)
	}
	la.Resign()
	lb, err := b.TryLead(ctx)
	if err != nil || lb == nil {
		t.Fatalf("TryLead after a resigned = %v, %v; want leadership", lb, err)
	}

	// b's session dies, as when its process is killed.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
		AND objid = (hashtextextended('hoist leader ' || current_schema(), 0) & 4294967295)::oid`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lb.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("b still thinks it leads after its session died")
	}
	la, err = a.TryLead(ctx)
	if err != nil || la == nil {
		t.Fatalf("TryLead after b's session died = %v, %v; want leadership", la, err)
	}
	la.Resign()
}

// Hoists on separate schemas of one database do not share a leader.
func TestPostgresLeadershipPerSchema(t *testing.T) {
	a, b := openPostgres(t, postgresDSN(t)), openPostgres(t, postgresDSN(t))
	la, err := a.TryLead(context.Background())
	if err != nil || la == nil {
		t.Fatalf("TryLead on schema a = %v, %v", la, err)
	}
	defer la.Resign()
	lb, err := b.TryLead(context.Background())
	if err != nil || lb == nil {
		t.Fatalf("TryLead on schema b = %v, %v; want its own leadership", lb, err)
	}
	lb.Resign()
}
