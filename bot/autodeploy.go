package bot

import (
	"context"
	"fmt"
	"time"
)

// Push is a push to a branch, as GitHub's push webhook tells it.
type Push struct {
	Repo   Repo
	Branch string
	SHA    string    // the branch's new head
	Pusher string    // GitHub login
	At     time.Time // when GitHub took the push (repository.pushed_at)
}

// supersedable are the states of an auto deployment a newer push may end:
// nothing has been changed in AWS yet.
var supersedable = cancellable

// AutoDeploy is continuous delivery: for every environment that deploys
// pushes to the push's branch, it stores a deployment of the new head and
// ends the auto deployments of older pushes that have not reached AWS.
// Allow lists do not apply — the branch's push rights are the check — and
// a lock holds the deployment at the gate instead of refusing it. The
// deployments are returned stored, not started.
func (s *Service) AutoDeploy(ctx context.Context, p Push) ([]*Deployment, error) {
	var created []*Deployment
	for _, env := range s.Config.AutoDeployEnvs(p.Repo.FullName, p.Branch) {
		app := s.Config.Apps[env.App]
		d := &Deployment{
			App: app.Name, Env: env.Name, Repo: app.Repo,
			Ref: p.Branch, SHA: p.SHA, PushedAt: p.At,
			Requester: GitHubRequester(p.Pusher), Source: SourceAuto, State: StateReceived,
			InstallationID: p.Repo.InstallationID,
		}
		if err := s.Store.CreateDeployment(ctx, d); err != nil {
			return created, fmt.Errorf("store auto deployment of %s to %s: %w", app.Name, env.Name, err)
		}
		s.logger().Info("auto deployment", "deployment", d.ID, "app", d.App, "env", d.Env, "branch", p.Branch, "sha", p.SHA, "pusher", p.Pusher)
		created = append(created, d)
		if err := s.supersede(ctx, d); err != nil {
			return created, err
		}
	}
	return created, nil
}

// supersede makes the newest push win in d's environment: d ends if a
// newer push is known already (webhooks may arrive out of order), and
// otherwise every auto deployment of an older push that has not reached
// AWS ends. Pushes are ordered by GitHub's push time, then by id, so
// replicas handling two pushes at once agree on the winner.
func (s *Service) supersede(ctx context.Context, d *Deployment) error {
	newest, err := s.Store.NewestPush(ctx, d.App, d.Env)
	if err != nil {
		return fmt.Errorf("newest push to %s %s: %w", d.App, d.Env, err)
	}
	if newest.ID != d.ID {
		s.endSuperseded(ctx, d, newest)
		return nil
	}
	older, err := s.Store.PushedBefore(ctx, d, supersedable)
	if err != nil {
		return fmt.Errorf("older pushes to %s %s: %w", d.App, d.Env, err)
	}
	for _, o := range older {
		s.endSuperseded(ctx, o, d)
	}
	return nil
}

// endSuperseded ends d, replaced by newer, and says so where d was shown.
// One that has moved on meanwhile (it reached AWS, or ended) is left to
// finish: the newer one waits behind it in the gate.
func (s *Service) endSuperseded(ctx context.Context, d, newer *Deployment) {
	reason := fmt.Sprintf("superseded by #%d (%s)", newer.ID, newer.ShortSHA())
	ended, err := s.Store.TransitionDeployment(ctx, d.ID, supersedable, StateSuperseded, reason)
	if err != nil {
		if ErrorCode(err) != ECONFLICT {
			s.logger().Warn("supersede deployment", "deployment", d.ID, "by", newer.ID, "err", err)
		}
		return
	}
	s.init()
	ranHere := s.stopRun(d.ID, errEnded)
	s.envEnded(d.App, d.Env)
	r := &run{s: s, d: ended, log: s.logger().With("deployment", d.ID, "app", d.App, "env", d.Env)}
	r.log.Info("deployment superseded", "by", newer.ID, "sha", newer.SHA)
	r.observeEnd()
	if ended.GitHubDeploymentID != 0 {
		// inactive: GitHub's word for a deployment another replaced.
		r.setStatus(ctx, "inactive", fmt.Sprintf("Superseded by %s (deployment #%d)", newer.ShortSHA(), newer.ID))
	}
	if ended.SlackTS != "" {
		// One never shown in Slack is not announced only to say it ends.
		r.announce(ctx, Textf("Superseded by #%d (%s), a newer push to %v", newer.ID, newer.ShortSHA(), Name(newer.Ref)))
	}
	if !ranHere && s.Finished != nil {
		s.Finished(ended)
	}
}
