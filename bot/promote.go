package bot

import (
	"context"
	"fmt"
	"strings"
)

// Promotion says where a deployment's image came from: the deployment
// that put it in another environment of the app.
type Promotion struct {
	Env        string `json:"env"`
	Deployment int64  `json:"deployment"`
	Digest     string `json:"digest"` // sha256:…
}

// Text is the promotion as every view says it: "promoted from dev (#12,
// sha256:ab12cd34…)".
func (p *Promotion) Text() Text {
	return Textf("promoted from %s (#%d, %v)", p.Env, p.Deployment, Name(shortDigest(p.Digest)))
}

// shortDigest is a digest as people read it: the algorithm and 8 digits.
func shortDigest(digest string) string {
	algo, hex, ok := strings.Cut(digest, ":")
	if !ok || len(hex) <= 8 {
		return digest
	}
	return algo + ":" + hex[:8] + "…"
}

// Promote deploys to req.Env exactly the image environment from runs now,
// with the sha of the deployment that put it there. What from runs is read
// from AWS, not from the store: it must be a digest deploybot deployed
// there successfully, else the promotion is refused, naming what runs. The
// target's own rules apply as to any deploy (allow list and lock here, the
// CI gate in the pipeline).
func (s *Service) Promote(ctx context.Context, req Request, from string) (*Deployment, error) {
	if from == req.Env {
		return nil, Errorf(EINVALID, "promote needs two different environments; %s was named twice", from)
	}
	app, fromEnv, err := s.Config.Lookup(req.App, from)
	if err != nil {
		return nil, err
	}
	_, toEnv, err := s.Config.Lookup(req.App, req.Env)
	if err != nil {
		return nil, err
	}
	// Refused people learn nothing of what runs where.
	if err := s.authorize(ctx, app, toEnv, req.Requester); err != nil && req.Source != SourceCLI {
		return nil, err
	}
	running, err := s.runsNow(ctx, fromEnv)
	if err != nil {
		return nil, fmt.Errorf("read what %s %s runs: %w", app.Name, from, err)
	}
	if running.Image == "" {
		return nil, Errorf(ENOTFOUND, "%s %s runs nothing yet (%s); there is nothing to promote", app.Name, from, running.Revision)
	}
	src, err := s.deployedImage(ctx, app.Name, from, running.Image)
	if IsNotFound(err) {
		if refusal := s.notYetPromotable(ctx, app.Name, from, running); refusal != nil {
			return nil, refusal
		}
		s.logger().Warn("promotion refused: the source runs what deploybot did not deploy", "app", app.Name, "from", from, "image", running.Image)
		return nil, Errorf(ECONFLICT, "%s %s runs %v (%s), which deploybot did not deploy there: it was changed outside deploybot, so I will not promote it. Deploy a ref to %s first, or deploy to %s directly", app.Name, from, Name(running.Image), running.Revision, from, req.Env)
	}
	if err != nil {
		return nil, err
	}
	_, digest, ok := strings.Cut(running.Image, "@")
	if !ok || !strings.HasPrefix(digest, "sha256:") {
		return nil, Errorf(ECONFLICT, "%s %s runs %v, which is not pinned by digest; I promote only digests", app.Name, from, Name(running.Image))
	}
	req.Ref, req.SHA, req.Image = src.SHA, src.SHA, running.Image
	req.PromotedFrom = &Promotion{Env: from, Deployment: src.ID, Digest: digest}
	return s.Accept(ctx, req)
}

// notYetPromotable is the refusal when a deployment of deploybot put what
// from runs there but has not succeeded: still rolling out, or ended badly.
// Blaming an outside change then would send people hunting for a culprit.
func (s *Service) notYetPromotable(ctx context.Context, app, from string, running Running) error {
	tried, err := s.Store.ListDeployments(ctx, DeploymentFilter{App: app, Env: from, Limit: 50})
	if err != nil {
		return fmt.Errorf("read history of %s %s: %w", app, from, err)
	}
	for _, d := range tried {
		if d.Image != running.Image {
			continue
		}
		if !d.State.Terminal() {
			return Errorf(ECONFLICT, "%s %s is still deploying #%d (%s, %s): I promote only what succeeded there. Promote again once #%d has succeeded", app, from, d.ID, ShortSHA(d.SHA), d.State, d.ID)
		}
		return Errorf(ECONFLICT, "%s %s runs %v from #%d (%s), which ended %s: I promote only what succeeded there", app, from, Name(running.Image), d.ID, ShortSHA(d.SHA), d.State)
	}
	return nil
}
