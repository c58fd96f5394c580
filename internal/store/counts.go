package store

import (
	"context"
	"fmt"

	"github.com/hoistbot/hoist/internal/release"
)

// ReleaseCount is how many releases are in one state in one environment.
type ReleaseCount struct {
	State release.State
	Env   string
	N     int
}

func (s *sqlStore) TallyReleases(ctx context.Context) ([]ReleaseCount, error) {
	rows, err := s.read().query(ctx, `SELECT state, env, COUNT(*) FROM releases GROUP BY state, env ORDER BY state, env`)
	if err != nil {
		return nil, fmt.Errorf("count releases: %w", err)
	}
	defer rows.Close()
	var out []ReleaseCount
	for rows.Next() {
		var c ReleaseCount
		if err := rows.Scan(&c.State, &c.Env, &c.N); err != nil {
			return nil, fmt.Errorf("count releases: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count releases: %w", err)
	}
	return out, nil
}
