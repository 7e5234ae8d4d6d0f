package sqldb

import (
	"context"

	"github.com/deploybot/deploybot/bot"
)

var _ bot.Approvals = (*DB)(nil)

func (s *DB) AddApproval(ctx context.Context, a *bot.Approval) error {
	at := s.timestamp()
	_, err := s.exec(ctx, s.q(`INSERT INTO approvals (deployment_id, approver, at) VALUES (?, ?, ?)`), a.DeploymentID, a.Approver, at)
	if s.d.IsUniqueViolation(err) {
		return bot.Errorf(bot.ECONFLICT, "%s approved deployment %d already", a.Approver, a.DeploymentID)
	}
	if err != nil {
		return err
	}
	a.At = at
	return nil
}

func (s *DB) Approvals(ctx context.Context, deploymentID int64) ([]bot.Approval, error) {
	rows, err := s.pool(ctx).QueryContext(ctx, s.q(`SELECT deployment_id, approver, at FROM approvals WHERE deployment_id = ? ORDER BY at, approver`), deploymentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bot.Approval
	for rows.Next() {
		var a bot.Approval
		if err := rows.Scan(&a.DeploymentID, &a.Approver, &a.At); err != nil {
			return nil, err
		}
		a.At = a.At.UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}
