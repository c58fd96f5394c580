package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hoistbot/hoist/internal/release"
)

func (s *sqlStore) AcquireLease(ctx context.Context, id release.ID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	var n int64
	err := s.write(ctx, func(q runner) (err error) {
		n, err = q.execN(ctx, `INSERT INTO release_leases (release_id, owner, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (release_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE release_leases.owner = excluded.owner OR release_leases.expires_at < ?`,
			int64(id), owner, s.d.timeArg(now.Add(ttl)), s.d.timeArg(now))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("acquire lease of release %d: %w", id, err)
	}
	return n == 1, nil
}

func (s *sqlStore) ReleaseLease(ctx context.Context, id release.ID, owner string) error {
	err := s.write(ctx, func(q runner) error {
		_, err := q.exec(ctx, `DELETE FROM release_leases WHERE release_id = ? AND owner = ?`, int64(id), owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease of release %d: %w", id, err)
	}
	return nil
}

// pgLeaderLockKey is the advisory lock key of Hoist's leader, one per
// schema, so that Hoists on separate schemas of one database each have
// their own.
const pgLeaderLockKey = `hashtextextended('hoist leader ' || current_schema(), 0)`

// leaderCheck is how often a leader's session is checked to be alive.
const leaderCheck = 2 * time.Second

func (s *sqlStore) TryLead(ctx context.Context) (*Leadership, error) {
	if s.d.name != "postgres" {
		return newLeadership(func() {}), nil // one process per SQLite database
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("try to lead: %w", err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(`+pgLeaderLockKey+`)`).Scan(&got); err != nil {
		conn.Close()
		return nil, fmt.Errorf("try to lead: %w", err)
	}
	if !got {
		conn.Close()
		return nil, nil
	}
	stop := make(chan struct{})
	l := newLeadership(func() {
		close(stop)
		// Closing the session releases the lock, even if the unlock fails.
		uctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = conn.ExecContext(uctx, `SELECT pg_advisory_unlock(`+pgLeaderLockKey+`)`)
		conn.Close()
	})
	go l.watch(stop, func() error {
		cctx, cancel := context.WithTimeout(context.Background(), leaderCheck)
		defer cancel()
		return conn.PingContext(cctx)
	})
	return l, nil
}

// Leadership is being the one process, of those sharing a database, that
// runs the background duties. It ends when Resign is called or when the
// database session that holds it is lost.
type Leadership struct {
	lost   chan struct{}
	once   sync.Once
	resign func()
}

func newLeadership(resign func()) *Leadership {
	return &Leadership{lost: make(chan struct{}), resign: resign}
}

// Lost is closed when the leadership has ended.
func (l *Leadership) Lost() <-chan struct{} { return l.lost }

// Resign gives the leadership up.
func (l *Leadership) Resign() {
	l.once.Do(func() {
		l.resign()
		close(l.lost)
	})
}

func (l *Leadership) watch(stop <-chan struct{}, alive func() error) {
	ticker := time.NewTicker(leaderCheck)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			if err := alive(); err != nil {
				l.Resign()
				return
			}
		}
	}
}
