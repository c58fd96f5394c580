package store

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"x = '?' AND y = ? AND z = \"?\"", "x = '?' AND y = $1 AND z = \"?\""},
		{"x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = $1"},
	} {
		if got := postgresDialect.rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := sqliteDialect.rebind(tc.in); got != tc.in {
			t.Errorf("sqlite rebind(%q) = %q, want it unchanged", tc.in, got)
		}
	}
}

func TestSQLiteDSNs(t *testing.T) {
	params := func(dsn string) (string, url.Values) {
		name, q, _ := strings.Cut(dsn, "?")
		v, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		return name, v
	}
	w, r, err := sqliteDSNs("data/hoist.db")
	if err != nil {
		t.Fatal(err)
	}
	name, wq := params(w)
	if name != "data/hoist.db" {
		t.Errorf("write name = %q", name)
	}
	for _, p := range []string{"busy_timeout(5000)", "foreign_keys(1)", "journal_mode(WAL)", "wal_autocheckpoint(0)"} {
		if !slices.Contains(wq["_pragma"], p) {
			t.Errorf("write DSN %q lacks _pragma=%s", w, p)
		}
	}
	if wq.Get("_txlock") != "immediate" {
		t.Errorf("write DSN %q: want _txlock=immediate", w)
	}
	_, rq := params(r)
	if rq.Get("_query_only") != "1" || slices.Contains(rq["_pragma"], "journal_mode(WAL)") || rq.Has("_txlock") {
		t.Errorf("read DSN = %q", r)
	}

	// The DSN's own settings win.
	w, _, err = sqliteDSNs("file:hoist.db?_pragma=busy_timeout(100)&_journal_mode=DELETE&_txlock=deferred")
	if err != nil {
		t.Fatal(err)
	}
	name, wq = params(w)
	if name != "file:hoist.db" || !slices.Equal(wq["_pragma"], []string{"busy_timeout(100)", "foreign_keys(1)"}) ||
		wq.Get("_journal_mode") != "DELETE" || wq.Get("_txlock") != "deferred" {
		t.Errorf("write DSN = %q", w)
	}

	// In memory: one pool, no WAL.
	for _, dsn := range []string{":memory:", "file::memory:?cache=shared", "file:x?mode=memory"} {
		w, r, err := sqliteDSNs(dsn)
		if err != nil || r != "" || strings.Contains(w, "journal_mode") {
			t.Errorf("sqliteDSNs(%q) = %q, %q, %v", dsn, w, r, err)
		}
	}
	if _, _, err := sqliteDSNs(""); err == nil {
		t.Error("empty DSN accepted")
	}
}

func TestMigrationsLoad(t *testing.T) {
	for _, d := range []*dialect{sqliteDialect, postgresDialect} {
		ms, err := loadMigrations(d.migrations)
		if err != nil || len(ms) == 0 || ms[0].version != 1 {
			t.Errorf("%s migrations = %d, %v", d.name, len(ms), err)
		}
	}
}
