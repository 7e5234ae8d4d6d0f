package ghclient

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/deploybot/deploybot/bot"
)

// Checks returns the latest commit status of each context and the latest
// check run of each name for sha, sorted by name.
func (c *Client) Checks(ctx context.Context, repo bot.Repo, sha string) ([]bot.Check, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	if !bot.ValidRef(sha) {
		return nil, bot.Errorf(bot.EINVALID, "%q is not a valid git ref", sha)
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return nil, err
	}
	var found []observed
	opts := &github.ListOptions{PerPage: 100}
	for {
		combined, resp, err := gh.Repositories.GetCombinedStatus(ctx, owner, name, sha, opts)
		if err != nil {
			return nil, c.checksError(repo, sha, err)
		}
		for _, st := range combined.Statuses {
			found = append(found, observed{
				check: bot.Check{Name: st.GetContext(), State: statusState(st.GetState()), URL: st.GetTargetURL()},
				at:    st.GetUpdatedAt().Time,
				id:    st.GetID(),
			})
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}

	runOpts := &github.ListCheckRunsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		runs, resp, err := gh.Checks.ListCheckRunsForRef(ctx, owner, name, sha, runOpts)
		if err != nil {
			return nil, c.checksError(repo, sha, err)
		}
		for _, run := range runs.CheckRuns {
			url := run.GetHTMLURL()
			if url == "" {
				url = run.GetDetailsURL()
			}
			at := run.GetCompletedAt().Time
			if at.IsZero() {
				at = run.GetStartedAt().Time
			}
			found = append(found, observed{
				check: bot.Check{Name: run.GetName(), State: checkRunState(run.GetStatus(), run.GetConclusion()), URL: url},
				at:    at,
				id:    run.GetID(),
			})
		}
		if resp.NextPage == 0 {
			break
		}
		runOpts.Page = resp.NextPage
	}
	return latest(found), nil
}

func (c *Client) checksError(repo bot.Repo, sha string, err error) error {
	c.forget(repo, err)
	switch statusCode(err) {
	case http.StatusNotFound, http.StatusUnprocessableEntity:
		return bot.Errorf(bot.ENOTFOUND, "commit %s not found in %s", bot.ShortSHA(sha), repo.FullName)
	}
	return wrapError(err, fmt.Sprintf("reading the checks of %s in %s", bot.ShortSHA(sha), repo.FullName))
}

// observed is a status or check run with what orders it among others of
// the same name.
type observed struct {
	check bot.Check
	at    time.Time
	id    int64
}

// latest keeps, per name, the newest of found; a re-run check run or a
// status context reported again by another app shares the name, and only
// the last word counts. Ties in time go to the higher id.
func latest(found []observed) []bot.Check {
	byName := map[string]observed{}
	for _, o := range found {
		prev, ok := byName[o.check.Name]
		if !ok || o.at.After(prev.at) || o.at.Equal(prev.at) && o.id > prev.id {
			byName[o.check.Name] = o
		}
	}
	checks := make([]bot.Check, 0, len(byName))
	for _, o := range byName {
		checks = append(checks, o.check)
	}
	sort.Slice(checks, func(i, j int) bool { return checks[i].Name < checks[j].Name })
	return checks
}

// statusState maps a commit status state; error means the CI itself broke,
// which for a deploy gate is as bad as a failure.
func statusState(state string) bot.CheckState {
	switch state {
	case "success":
		return bot.CheckSuccess
	case "pending":
		return bot.CheckPending
	}
	return bot.CheckFailure
}

// checkRunState maps a check run; any conclusion not known to be harmless
// (cancelled, timed_out, action_required, stale, startup_failure, and
// whatever GitHub adds later) fails the gate.
func checkRunState(status, conclusion string) bot.CheckState {
	if status != "completed" {
		return bot.CheckPending
	}
	switch conclusion {
	case "success":
		return bot.CheckSuccess
	case "neutral":
		return bot.CheckNeutral
	case "skipped":
		return bot.CheckSkipped
	}
	return bot.CheckFailure
}
