package bot

import (
	"context"
	"fmt"
)

// Request is a resolved and authorized ask to deploy, before it is stored.
type Request struct {
	App, Env string
	Ref      string
	SHA      string // known already for GitHub-created deployments
	// Image is the digest-pinned image to run, known already for a
	// promotion; empty: the one the app's tag names for SHA.
	Image string
	// PromotedFrom is set by Promote, with Image.
	PromotedFrom *Promotion
	Requester    string
	Source       Source

	InstallationID     int64
	GitHubDeploymentID int64 // set when GitHub's deployment exists already

	SlackChannel     string // where the command was typed
	SlackResponseURL string

	PRNumber int // the pull request a comment asked from
}

// Accept checks req against the config and the env's allow list and stores
// it as a new deployment in state received. A refused request creates
// nothing; the error says why in words fit for the requester.
func (s *Service) Accept(ctx context.Context, req Request) (*Deployment, error) {
	app, env, err := s.Config.Lookup(req.App, req.Env)
	if err != nil {
		return nil, err
	}
	// Whoever runs `deploybot deploy` holds the AWS credentials and the
	// GitHub token already; the allow list guards the shared triggers.
	// Only a refusal is logged as one: a store or GitHub failure on the
	// way is the caller's to report, and once read as "refused: locked"
	// thousands of times under load.
	if err := s.authorize(ctx, app, env, req.Requester); err != nil && req.Source != SourceCLI {
		if ErrorCode(err) == EFORBIDDEN {
			s.logger().Warn("deploy refused", "app", req.App, "env", req.Env, "requester", req.Requester, "source", req.Source)
		}
		return nil, err
	}
	if err := s.checkLock(ctx, app.Name, env.Name, req.Requester); err != nil {
		if ErrorCode(err) == EFORBIDDEN {
			s.logger().Warn("deploy refused: locked", "app", req.App, "env", req.Env, "requester", req.Requester, "source", req.Source)
		}
		return nil, err
	}
	if err := s.checkGitTag(ctx, app, env.Name, Repo{FullName: app.Repo, InstallationID: req.InstallationID}, req.Ref, req.SHA, req.Image); err != nil {
		return nil, err
	}
	d := &Deployment{
		App: app.Name, Env: env.Name, Repo: app.Repo,
		Ref: req.Ref, SHA: req.SHA,
		Requester: req.Requester, Source: req.Source, State: StateReceived,
		InstallationID: req.InstallationID, GitHubDeploymentID: req.GitHubDeploymentID,
		SlackChannel: req.SlackChannel, SlackResponseURL: req.SlackResponseURL,
		PRNumber: req.PRNumber,
		Image:    req.Image, PromotedFrom: req.PromotedFrom,
	}
	if err := s.Store.CreateDeployment(ctx, d); err != nil {
		return nil, fmt.Errorf("store deployment of %s to %s: %w", req.App, req.Env, err)
	}
	return d, nil
}
