package sqldb

import (
	"context"

	"github.com/deploybot/deploybot/bot"
)

func (s *DB) AddEvent(ctx context.Context, e *bot.Event) error {
	e.At = s.timestamp()
	_, err := s.exec(ctx, s.q(`INSERT INTO deployment_events (deployment_id, at, stage, message) VALUES (?, ?, ?, ?)`),
		e.DeploymentID, e.At, string(e.Stage), e.Message)
	return err
}

func (s *DB) Events(ctx context.Context, deploymentID int64) ([]bot.Event, error) {
	rows, err := s.pool(ctx).QueryContext(ctx, s.q(`SELECT deployment_id, at, stage, message FROM deployment_events WHERE deployment_id = ? ORDER BY id`), deploymentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var events []bot.Event
	for rows.Next() {
		var (
			e     bot.Event
			stage string
		)
		if err := rows.Scan(&e.DeploymentID, &e.At, &stage, &e.Message); err != nil {
			return nil, err
		}
		e.Stage, e.At = bot.State(stage), e.At.UTC()
		events = append(events, e)
	}
	return events, rows.Err()
}
