package store

import (
	"context"
	"database/sql"
	"log/slog"
	"sync/atomic"
	"time"
)

// checkpointEvery is how often the write-ahead log is copied back into a
// SQLite database file, when something was committed meanwhile.
const checkpointEvery = 250 * time.Millisecond

// checkpointer copies SQLite's write-ahead log back into the database file
// beside the writes. SQLite would otherwise do it inside whichever commit
// takes the log past 1,000 pages, and every write queued behind that commit
// would wait for the copy and its sync. It is PASSIVE: it never waits for,
// nor holds up, readers or the writer.
type checkpointer struct {
	db      *sql.DB
	log     *slog.Logger
	commits *atomic.Int64 // counts commits; nothing to copy when unchanged

	stop chan struct{}
	done chan struct{}
}

func startCheckpointer(db *sql.DB, commits *atomic.Int64, logger *slog.Logger) *checkpointer {
	c := &checkpointer{db: db, log: logger, commits: commits, stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

func (c *checkpointer) loop() {
	defer close(c.done)
	ticker := time.NewTicker(checkpointEvery)
	defer ticker.Stop()
	copied := c.commits.Load()
	var failing bool
	for {
		select {
		case <-c.stop:
			return
		case <-ticker.C:
		}
		n := c.commits.Load()
		if n == copied {
			continue
		}
		complete, err := c.checkpoint()
		if err != nil {
			if !failing {
				c.log.Warn("store checkpoint failed; the write-ahead log grows until one succeeds", "err", err)
			}
			failing = true
			continue
		}
		failing = false
		if complete {
			copied = n
		}
	}
}

// checkpoint copies what it can of the log and reports whether that was
// all of it: readers on an older snapshot can hold some frames back.
func (c *checkpointer) checkpoint() (complete bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var busy, logged, checkpointed int
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logged, &checkpointed); err != nil {
		return false, err
	}
	return checkpointed >= logged, nil
}

// close stops the checkpoints; SQLite copies the rest of the log when the
// last connection closes.
func (c *checkpointer) close() {
	close(c.stop)
	<-c.done
}
