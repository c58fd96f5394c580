package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hoistbot/hoist/internal/release"
)

func (s *sqlStore) GetBuild(ctx context.Context, id release.ID) (release.Build, error) {
	b := release.Build{ReleaseID: id}
	err := s.read().queryRow(ctx, `SELECT job, queue_id, number, url, log_offset, triggered_at FROM builds WHERE release_id = ?`, int64(id)).
		Scan(&b.Job, &b.QueueID, &b.Number, &b.URL, &b.LogOffset, timeDest{&b.TriggeredAt})
	if errors.Is(err, sql.ErrNoRows) {
		return release.Build{}, fmt.Errorf("get build of release %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return release.Build{}, fmt.Errorf("get build of release %d: %w", id, err)
	}
	return b, nil
}

func (s *sqlStore) PutBuild(ctx context.Context, b release.Build) error {
	err := s.tx(ctx, func(q runner) error {
		var before release.Build
		err := q.queryRow(ctx, `SELECT queue_id, number FROM builds WHERE release_id = ?`+s.d.rowLock, int64(b.ReleaseID)).
			Scan(&before.QueueID, &before.Number)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := q.exec(ctx, `INSERT INTO builds (release_id, job, queue_id, number, url, triggered_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (release_id) DO UPDATE SET job = excluded.job, queue_id = excluded.queue_id,
			number = excluded.number, url = excluded.url, triggered_at = excluded.triggered_at`,
			int64(b.ReleaseID), b.Job, b.QueueID, b.Number, b.URL, s.d.nullTimeArg(b.TriggeredAt)); err != nil {
			return err
		}
		var detail string
		switch {
		case b.Number != 0 && b.Number != before.Number:
			detail = fmt.Sprintf("build %s #%d started", b.Job, b.Number)
		case b.QueueID != 0 && b.QueueID != before.QueueID:
			detail = fmt.Sprintf("build %s queued as item %d", b.Job, b.QueueID)
		default:
			return nil
		}
		return s.addEvent(ctx, q, release.Event{Actor: release.ActorHoist, Action: "build", ReleaseID: b.ReleaseID, Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("put build of release %d: %w", b.ReleaseID, err)
	}
	return nil
}

func (s *sqlStore) AppendLog(ctx context.Context, id release.ID, offset int64, data []byte, next int64) error {
	err := s.tx(ctx, func(q runner) error {
		n, err := q.execN(ctx, `UPDATE builds SET log_offset = ? WHERE release_id = ? AND log_offset = ?`, next, int64(id), offset)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: the log is not at offset %d", ErrConflict, offset)
		}
		if len(data) == 0 {
			return nil
		}
		_, err = q.exec(ctx, `INSERT INTO build_logs (release_id, offset_at, data) VALUES (?, ?, ?)`, int64(id), offset, data)
		return err
	})
	if err != nil {
		return fmt.Errorf("append log of release %d: %w", id, err)
	}
	return nil
}

func (s *sqlStore) Log(ctx context.Context, id release.ID) ([]byte, error) {
	rows, err := s.read().query(ctx, `SELECT data FROM build_logs WHERE release_id = ? ORDER BY offset_at`, int64(id))
	if err != nil {
		return nil, fmt.Errorf("read log of release %d: %w", id, err)
	}
	defer rows.Close()
	var buf bytes.Buffer
	for rows.Next() {
		var chunk []byte
		if err := rows.Scan(&chunk); err != nil {
			return nil, fmt.Errorf("read log of release %d: %w", id, err)
		}
		buf.Write(chunk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read log of release %d: %w", id, err)
	}
	return buf.Bytes(), nil
}
