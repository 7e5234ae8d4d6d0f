package bot

import (
	"context"
	"fmt"
)

// SourceAutoRollback marks deployments deploybot started itself to undo a
// failed rollout.
const SourceAutoRollback Source = "auto_rollback"

// AutoRollbackRequester is the requester of automatic rollbacks.
const AutoRollbackRequester = "deploybot"

// planAutoRollback stores, for an environment with auto_rollback, a
// deployment of the version that ran before failed's rollout, for the
// caller to start once it has reported the failure; failed says why it
// failed, and the returned words say it with what happens next (zero when
// the environment does not roll back). The failure and the rollback are
// one report, so the timeline, GitHub and Slack hear of the failure once.
// The failed deployment stays failed (it is ended, so the rollback does
// not queue behind it) until the rollback succeeds; then it becomes
// rolled_back.
func (s *Service) planAutoRollback(ctx context.Context, failed *Deployment, why Text) (*Deployment, Text) {
	app, env, err := s.Config.Lookup(failed.App, failed.Env)
	if err != nil || !env.AutoRollback || failed.RollbackOf != 0 {
		// A rollback that fails is not rolled back again: that way lies a loop.
		return nil, Text{}
	}
	log := s.logger().With("deployment", failed.ID, "app", failed.App, "env", failed.Env)
	done, err := s.Store.ListDeployments(ctx, DeploymentFilter{App: failed.App, Env: failed.Env, States: []State{StateSucceeded}, Limit: 20})
	if err != nil {
		log.Error("auto rollback: read history", "err", err)
		return nil, Text{}
	}
	var previous *Deployment
	for _, d := range done {
		if d.SHA != failed.SHA && d.ID < failed.ID {
			previous = d
			break
		}
	}
	if previous == nil {
		log.Warn("auto rollback: no earlier successful version")
		return nil, Textf("Failed: %v — no earlier successful version to roll back to", why)
	}
	rb := &Deployment{
		App: failed.App, Env: failed.Env, Repo: failed.Repo,
		Ref: rollbackRef(app, previous), SHA: previous.SHA,
		Requester: AutoRollbackRequester, Source: SourceAutoRollback, State: StateReceived,
		InstallationID: failed.InstallationID, SlackChannel: failed.SlackChannel,
		RollbackOf: failed.ID,
	}
	if err := s.Store.CreateDeployment(ctx, rb); err != nil {
		log.Error("auto rollback: store", "err", err)
		return nil, Text{}
	}
	log.Info("auto rollback started", "rollback", rb.ID, "to", previous.SHA)
	return rb, Textf("Failed: %v — rolling back automatically to %s as deployment #%d", why, previous.ShortSHA(), rb.ID)
}

// rolledBack records on the deployment that rb rolled back that the
// rollback succeeded.
func (s *Service) rolledBack(ctx context.Context, rb *Deployment) {
	reason := fmt.Sprintf("rolled back to %s by deployment #%d", rb.ShortSHA(), rb.ID)
	orig, err := s.Store.TransitionDeployment(ctx, rb.RollbackOf, []State{StateFailed}, StateRolledBack, reason)
	if err != nil {
		s.logger().Warn("mark rolled back", "deployment", rb.RollbackOf, "err", err)
		return
	}
	s.deploymentLogger(orig).Info("deployment rolled back", "by", rb.ID)
	s.report(ctx, Update{Deployment: orig, Status: Textf("Failed, then %s", reason), GitHub: "failure"})
}
