package app

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hoistbot/hoist/internal/store"
)

// leadRetry is how often a replica that does not lead tries again.
const leadRetry = 2 * time.Second

// leadThroughStore keeps trying to lead the replicas that share the
// store, and says in leading whether this one does, until ctx ends. On
// PostgreSQL an advisory lock held by this process's session decides, so
// a replica that dies gives the leadership up with its connection.
func leadThroughStore(ctx context.Context, st store.Store, leading *atomic.Bool, logger *slog.Logger) error {
	for {
		l, err := st.TryLead(ctx)
		switch {
		case l != nil:
			leading.Store(true)
			logger.Info("leading: this replica runs the background duties (resuming and expiring releases, reaping environments)")
			select {
			case <-l.Lost():
				leading.Store(false)
				logger.Warn("leadership lost: another replica takes over the background duties")
			case <-ctx.Done():
				leading.Store(false)
				l.Resign()
				return nil
			}
		case err != nil && ctx.Err() == nil:
			logger.Warn("try to lead", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(leadRetry):
		}
	}
}
