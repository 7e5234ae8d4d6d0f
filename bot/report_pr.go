package bot

import (
	"context"
	"fmt"
	"strings"
)

// prComment keeps one comment per PR-comment deployment on its pull
// request, posted on its first update and edited afterwards, as the Slack
// message is. It renders GitHub Markdown.
type prComment struct{ s *Service }

func (p prComment) Report(ctx context.Context, u Update) {
	d := u.Deployment
	if d.PRNumber == 0 || u.Status.format == "" {
		return
	}
	release := p.s.edits.take(ctx, d)
	if release == nil {
		return
	}
	defer release()
	log := p.s.deploymentLogger(d)
	repo := Repo{FullName: d.Repo, InstallationID: d.InstallationID}
	body := p.render(d, u.Status)
	if d.PRCommentID != 0 {
		if err := p.s.PullRequests.EditComment(ctx, repo, d.PRCommentID, body); err != nil {
			log.Warn("edit PR comment", "err", err)
		}
		return
	}
	id, err := p.s.PullRequests.Comment(ctx, repo, d.PRNumber, body)
	if err != nil {
		log.Warn("PR comment", "err", err)
		return
	}
	d.PRCommentID = id
	if err := p.s.save(ctx, d, log); err != nil {
		log.Warn("store PR comment id", "err", err)
	}
}

// render is the deployment's PR comment. Everything in it that came from
// elsewhere (the ref, the requester, the status with its reasons) is
// quoted by githubText or githubCode.
func (p prComment) render(d *Deployment, status Text) string {
	var b strings.Builder
	// "#12" alone would link issue 12 and mark it "mentioned".
	fmt.Fprintf(&b, "%s **Deployment %s**: %s %s to %s — %s\n\n", prEmoji(d.State), githubText(fmt.Sprintf("#%d", d.ID)),
		githubCode(d.App), githubCode(orDash(d.ShortSHA(), d.Ref)), githubCode(d.Env), status.GitHub())
	fmt.Fprintf(&b, "Requested by %s · stage %s", githubText(d.Requester), githubCode(string(d.State)))
	if d.EnvironmentURL != "" {
		fmt.Fprintf(&b, " · [environment](%s)", d.EnvironmentURL)
	}
	if u := p.s.logURL(d); u != "" {
		fmt.Fprintf(&b, " · [details](%s)", u)
	}
	return b.String()
}

func prEmoji(s State) string {
	switch s {
	case StateSucceeded:
		return "✅"
	case StateFailed:
		return "❌"
	case StateCancelled:
		return "🚫"
	}
	return "⏳"
}
