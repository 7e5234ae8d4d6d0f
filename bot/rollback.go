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

// autoRollback starts, for an environment with auto_rollback, a deployment
// of the version that ran before failed's rollout, and says so on
// failed's messages. The failed deployment stays failed (it is ended, so
// the rollback does not queue behind it) until the rollback succeeds; then
// it becomes rolled_back.
func (s *Service) autoRollback(ctx context.Context, failed *Deployment) {
	_, env, err := s.Config.Lookup(failed.App, failed.Env)
	if err != nil || !env.AutoRollback || failed.RollbackOf != 0 {
		// A rollback that fails is not rolled back again: that way lies a loop.
		return
	}
	log := s.logger().With("deployment", failed.ID, "app", failed.App, "env", failed.Env)
	done, err := s.Store.ListDeployments(ctx, DeploymentFilter{App: failed.App, Env: failed.Env, States: []State{StateSucceeded}, Limit: 20})
	if err != nil {
		log.Error("auto rollback: read history", "err", err)
		return
	}
	var previous *Deployment
	for _, d := range done {
		if d.SHA != failed.SHA && d.ID < failed.ID {
			previous = d
			break
		}
	}
	r := &run{s: s, d: failed, log: log}
	if previous == nil {
		log.Warn("auto rollback: no earlier successful version")
		r.announce(ctx, Textf("Failed: %s — no earlier successful version to roll back to", failed.Reason))
		return
	}
	rb := &Deployment{
		App: failed.App, Env: failed.Env, Repo: failed.Repo,
		Ref: previous.SHA, SHA: previous.SHA,
		Requester: AutoRollbackRequester, Source: SourceAutoRollback, State: StateReceived,
		InstallationID: failed.InstallationID, SlackChannel: failed.SlackChannel,
		RollbackOf: failed.ID,
	}
	if err := s.Store.CreateDeployment(ctx, rb); err != nil {
		log.Error("auto rollback: store", "err", err)
		return
	}
	log.Info("auto rollback started", "rollback", rb.ID, "to", previous.SHA)
	text := Textf("Failed: %s — rolling back automatically to %s as deployment #%d", failed.Reason, previous.ShortSHA(), rb.ID)
	r.setStatus(ctx, "failure", text.Plain())
	r.announce(ctx, text)
	r.progress(text.Plain())
	s.Start(rb)
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
	r := &run{s: s, d: orig, log: s.logger().With("deployment", orig.ID, "app", orig.App, "env", orig.Env)}
	r.log.Info("deployment rolled back", "by", rb.ID)
	r.setStatus(ctx, "failure", "Failed, then "+reason)
	r.announce(ctx, Textf("Failed, then %s", reason))
}
