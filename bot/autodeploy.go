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
//
// Only the store is written before it returns: the push webhook waits for
// it, and one push to a monorepo may end hundreds of deployments. Telling
// GitHub and Slack about the ended ones (two calls each) follows in the
// background, one at a time, as GitHub asks of an App's calls.
func (s *Service) AutoDeploy(ctx context.Context, p Push) ([]*Deployment, error) {
	var (
		created []*Deployment
		ended   []supersession
	)
	defer func() { s.tellSuperseded(context.WithoutCancel(ctx), ended) }()
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
		e, err := s.supersede(ctx, d)
		ended = append(ended, e...)
		if err != nil {
			return created, err
		}
	}
	return created, nil
}

// supersession is a deployment a newer push ended, still to be told.
type supersession struct {
	ended, newer *Deployment
	ranHere      bool // its pipeline ran on this replica and was stopped
}

// supersede makes the newest push win in d's environment: d ends if a
// newer push is known already (webhooks may arrive out of order), and
// otherwise every auto deployment of an older push that has not reached
// AWS ends. Pushes are ordered by GitHub's push time, then by id, so
// replicas handling two pushes at once agree on the winner. It returns
// the deployments it ended, for tellSuperseded.
func (s *Service) supersede(ctx context.Context, d *Deployment) ([]supersession, error) {
	newest, err := s.Store.NewestPush(ctx, d.App, d.Env)
	if err != nil {
		return nil, fmt.Errorf("newest push to %s %s: %w", d.App, d.Env, err)
	}
	if newest.ID != d.ID {
		return s.endSuperseded(ctx, nil, d, newest), nil
	}
	older, err := s.Store.PushedBefore(ctx, d, supersedable)
	if err != nil {
		return nil, fmt.Errorf("older pushes to %s %s: %w", d.App, d.Env, err)
	}
	var ended []supersession
	for _, o := range older {
		ended = s.endSuperseded(ctx, ended, o, d)
	}
	return ended, nil
}

// endSuperseded ends d in the store, replaced by newer, and appends it to
// ended. One that has moved on meanwhile (it reached AWS, or ended) is
// left to finish: the newer one waits behind it in the gate.
func (s *Service) endSuperseded(ctx context.Context, ended []supersession, d, newer *Deployment) []supersession {
	reason := fmt.Sprintf("superseded by #%d (%s)", newer.ID, newer.ShortSHA())
	stored, err := s.Store.TransitionDeployment(ctx, d.ID, supersedable, StateSuperseded, reason)
	if err != nil {
		if ErrorCode(err) != ECONFLICT {
			s.logger().Warn("supersede deployment", "deployment", d.ID, "by", newer.ID, "err", err)
		}
		return ended
	}
	ranHere := s.stopRun(d.ID, errEnded)
	s.envEnded(d.App, d.Env)
	s.logger().Info("deployment superseded", "deployment", d.ID, "app", d.App, "env", d.Env, "by", newer.ID, "sha", newer.SHA)
	return append(ended, supersession{ended: stored, newer: newer, ranHere: ranHere})
}

// tellSuperseded says where each ended deployment was shown that it was
// superseded, in the background: the store already says so, and the push
// webhook is not kept waiting for GitHub and Slack.
func (s *Service) tellSuperseded(ctx context.Context, ended []supersession) {
	if len(ended) == 0 {
		return
	}
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		for _, e := range ended {
			s.tellOneSuperseded(ctx, e)
		}
	}()
}

func (s *Service) tellOneSuperseded(ctx context.Context, e supersession) {
	d, newer := e.ended, e.newer
	s.observeEnd(d)
	// inactive: GitHub's word for a deployment another replaced.
	s.report(ctx, Update{
		Deployment:        d,
		Status:            Textf("Superseded by #%d (%s), a newer push to %v", newer.ID, newer.ShortSHA(), Name(newer.Ref)),
		GitHub:            "inactive",
		GitHubDescription: Textf("Superseded by %s (deployment #%d)", newer.ShortSHA(), newer.ID),
	})
	if !e.ranHere && s.Finished != nil {
		s.Finished(d)
	}
}
