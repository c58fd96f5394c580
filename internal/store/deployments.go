package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hoistbot/hoist/internal/release"
)

func (s *sqlStore) GetDeployment(ctx context.Context, id release.ID) (release.DeploymentRecord, error) {
	d := release.DeploymentRecord{Release: id}
	err := s.read().queryRow(ctx, `SELECT deployment_id, environment, state FROM deployments WHERE release_id = ?`, int64(id)).
		Scan(&d.ID, &d.Environment, &d.State)
	if errors.Is(err, sql.ErrNoRows) {
		return release.DeploymentRecord{}, fmt.Errorf("get deployment of release %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return release.DeploymentRecord{}, fmt.Errorf("get deployment of release %d: %w", id, err)
	}
	return d, nil
}

func (s *sqlStore) PutDeployment(ctx context.Context, d release.DeploymentRecord) error {
	err := s.tx(ctx, func(q runner) error {
		var before release.DeploymentRecord
		err := q.queryRow(ctx, `SELECT deployment_id, state FROM deployments WHERE release_id = ?`+s.d.rowLock, int64(d.Release)).
			Scan(&before.ID, &before.State)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := q.exec(ctx, `INSERT INTO deployments (release_id, deployment_id, environment, state) VALUES (?, ?, ?, ?)
			ON CONFLICT (release_id) DO UPDATE SET deployment_id = excluded.deployment_id,
			environment = excluded.environment, state = excluded.state`,
			int64(d.Release), d.ID, d.Environment, string(d.State)); err != nil {
			return err
		}
		if before.ID == d.ID && before.State == d.State {
			return nil
		}
		return s.addEvent(ctx, q, release.Event{Actor: release.ActorHoist, Action: "deployment", ReleaseID: d.Release,
			Detail: fmt.Sprintf("github deployment %d in %s: %s", d.ID, d.Environment, d.State)})
	})
	if err != nil {
		return fmt.Errorf("put deployment of release %d: %w", d.Release, err)
	}
	return nil
}
