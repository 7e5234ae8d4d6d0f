package bot

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// DefaultCIPoll is how often commit statuses are read while CI runs.
var DefaultCIPoll = Backoff{Initial: 10 * time.Second, Max: time.Minute}

// waitForCI reads the sha's statuses and check runs until they pass, one
// fails, or the app's ci_timeout passes; between reads it waits, woken
// by a CI webhook for the sha or by its poll's backoff.
func (r *run) waitForCI(ctx context.Context, app *App) error {
	repo := Repo{FullName: r.d.Repo, InstallationID: r.d.InstallationID}
	on := WaitForCI(r.d.SHA)
	deadline := r.ciStarted(ctx).Add(time.Duration(app.CITimeout))
	poll := r.s.CIPoll
	if poll.Initial == 0 {
		poll = DefaultCIPoll
	}
	for {
		// Listen before reading: news arriving between the read and the
		// wait would otherwise wake nobody, leaving the wait to the poll.
		woken := r.s.waiter(on)
		checked := r.s.now()
		seen := r.d.Wait.Note
		if r.d.Wait.On != on {
			seen = ""
		}
		checks, err := r.s.GitHub.Checks(ctx, repo, r.d.SHA)
		if ErrorCode(err) == EUNAVAILABLE {
			// Reading CI results is safe to repeat, and GitHub failing to
			// answer is no verdict on the commit: keep asking until the
			// CI deadline.
			if !r.s.now().Before(deadline) {
				return Errorf(EUNAVAILABLE, "CI results could not be read within %s: %s", time.Duration(app.CITimeout), ErrorMessage(err))
			}
			if line := "could not read CI results: " + ErrorMessage(err) + "; trying again"; "Waiting for CI: "+line != seen {
				seen = "Waiting for CI: " + line
				r.s.report(ctx, Update{Deployment: r.d, Status: plain(seen), Line: plain(line)})
			}
		} else if err != nil {
			return fmt.Errorf("read CI results: %w", err)
		} else {
			verdict := EvaluateCI(app, checks)
			// The note is what the requester is told while CI runs, on
			// every medium; the timeline line is the same news as a fact.
			waits := !verdict.Passed && verdict.Failed == nil && !verdict.NoneReported && r.s.now().Before(deadline)
			if line := "CI: " + describeChecks(checks); "Waiting for "+line != seen {
				seen = "Waiting for " + line
				if waits {
					// Saved first, as every stage is: one cancelled or
					// superseded while CI was read must not be shown
					// waiting again after its end was told.
					if err := r.save(ctx); err != nil {
						return err
					}
					r.s.report(ctx, Update{Deployment: r.d, Status: plain(seen), Line: plain(line), GitHub: "queued"})
				} else {
					r.progress(ctx, line)
				}
			}
			switch {
			case verdict.NoneReported:
				return Errorf(EINVALID, "CI failed for %s: no CI status or check run reported for this commit", r.d.ShortSHA())
			case verdict.Failed != nil:
				return Errorf(EINVALID, "CI failed for %s: %v", r.d.ShortSHA(), failedChecks(verdict.Failed))
			case verdict.Passed:
				return nil
			case !r.s.now().Before(deadline):
				return Errorf(EINVALID, "CI did not finish within %s; still pending: %v", time.Duration(app.CITimeout), pendingChecks(verdict.Pending))
			}
			r.log.Info("waiting for CI", "pending", verdict.Pending)
		}
		until := r.s.now().Add(r.ciBackoff(poll, on))
		if deadline.Before(until) {
			until = deadline
		}
		if err := r.wait(ctx, on, woken, checked, until, seen); err != nil {
			return err
		}
	}
}

// ciBackoff is the wait before the next read of CI results: from
// poll.Initial, growing with the time already waited (half of it) up to
// poll.Max. It is computed from the wait's start, which the store keeps,
// so a parked deployment backs off as one that waits in place does.
func (r *run) ciBackoff(poll Backoff, on string) time.Duration {
	var waited time.Duration
	if r.d.Wait.On == on && !r.d.Wait.Since.IsZero() {
		waited = r.s.now().Sub(r.d.Wait.Since)
	}
	return min(max(waited/2, poll.Initial), poll.Max)
}

// ciStarted is when d began to wait for CI: now, or for a resumed
// deployment the time its timeline says, so that ci_timeout counts from
// the first wait and not from each resumption.
func (r *run) ciStarted(ctx context.Context) time.Time {
	return r.waitStarted(ctx, WaitForCI(r.d.SHA), StateWaitingForCI)
}

// describeChecks lists the checks as "name state, …" for the timeline.
func describeChecks(checks []Check) string {
	if len(checks) == 0 {
		return "nothing reported"
	}
	parts := make([]string, len(checks))
	for i, c := range checks {
		parts[i] = c.Name + " " + string(c.State)
	}
	return strings.Join(parts, ", ")
}

// CIVerdict is the reading of a sha's CI results.
type CIVerdict struct {
	Passed bool
	Failed []Check // what failed; nil if nothing did
	// NoneReported: without `checks`, nothing was reported, which fails.
	NoneReported bool
	Pending      []string
}

// failedChecks names the failed checks, each with its state: "a (failure),
// b (neutral)". Names are whatever CI called its checks, so they are
// Names, quoted wherever the reason is shown.
func failedChecks(failed []Check) Text {
	parts := make([]Text, len(failed))
	for i, c := range failed {
		parts[i] = Textf("%v (%s)", Name(c.Name), c.State)
	}
	return joinText(parts, ", ")
}

// pendingChecks lists the names of the checks CI still runs, as Names.
func pendingChecks(names []string) Text {
	parts := make([]Text, len(names))
	for i, n := range names {
		parts[i] = Textf("%v", Name(n))
	}
	return joinText(parts, ", ")
}

// EvaluateCI applies the app's CI rule: with `checks`, each named one must
// exist and pass; without, every reported one must pass and at least one
// must be reported. Neutral and skipped pass only if ci_pass_states says so.
func EvaluateCI(app *App, checks []Check) CIVerdict {
	passes := func(s CheckState) bool {
		if s == CheckSuccess {
			return true
		}
		for _, ok := range app.CIPassStates {
			if s == ok {
				return true
			}
		}
		return false
	}
	byName := make(map[string]Check, len(checks))
	for _, c := range checks {
		byName[c.Name] = c
	}
	var v CIVerdict
	judge := func(c Check) {
		switch {
		case c.State == CheckPending:
			v.Pending = append(v.Pending, c.Name)
		case !passes(c.State):
			v.Failed = append(v.Failed, c)
		}
	}
	if len(app.Checks) > 0 {
		var missing []string
		for _, name := range app.Checks {
			c, ok := byName[name]
			if !ok {
				missing = append(missing, name)
				continue
			}
			judge(c)
		}
		if len(missing) > 0 && v.Failed == nil {
			// A required check that has not reported yet may still start.
			v.Pending = append(v.Pending, missing...)
		}
	} else {
		if len(checks) == 0 {
			return CIVerdict{NoneReported: true}
		}
		names := make([]string, 0, len(byName))
		for n := range byName {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			judge(byName[n])
		}
	}
	v.Passed = v.Failed == nil && len(v.Pending) == 0
	return v
}
