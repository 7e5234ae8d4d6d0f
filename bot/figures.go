package bot

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Figures are DORA's four keys of one app and env over Window ending at
// Until, from deploybot's own history. A deployment counts where it ended
// (UpdatedAt of a terminal one), since that is when it changed what runs.
type Figures struct {
	App, Env string
	Window   time.Duration
	Until    time.Time

	// Successes is the deployment frequency: successful deployments in
	// the window. Rollbacks are not counted, as they ship nothing new.
	Successes int
	// Daily is Successes per day, oldest first: Daily[len-1] is the 24
	// hours ending at Until.
	Daily []int

	// LeadTime is the median of commit time → success over the successes
	// whose commit time is known (LeadTimes of them); 0 when none is.
	LeadTime  time.Duration
	LeadTimes int

	// Reached counts deployments that changed AWS (succeeded, or failed or
	// rolled back after the deployer touched AWS); Failed those of them
	// that failed or were rolled back. A failure before AWS (CI, a missing
	// image) changed nothing in production, so is no change failure.
	Reached, Failed int

	// TimeToRestore is the median of a failure → the next success on the
	// env (a rollback's or a fix's), over the Restores in the window. A
	// run of failures is one outage, timed from its first.
	TimeToRestore time.Duration
	Restores      int
	// Unrestored is true when the env's last change failed and nothing
	// has succeeded since.
	Unrestored bool

	// Truncated says the history read was cut at FiguresLimit rows, so the
	// figures may miss the window's oldest deployments.
	Truncated bool
}

// FailureRate is Failed / Reached; ok is false when nothing reached AWS.
func (f Figures) FailureRate() (rate float64, ok bool) {
	if f.Reached == 0 {
		return 0, false
	}
	return float64(f.Failed) / float64(f.Reached), true
}

// PerDay is the deployment frequency as deployments per day.
func (f Figures) PerDay() float64 {
	days := f.Window.Hours() / 24
	if days <= 0 {
		return 0
	}
	return float64(f.Successes) / days
}

// FigureWindows are the windows the figures are given over.
var FigureWindows = []time.Duration{7 * 24 * time.Hour, 30 * 24 * time.Hour}

// FiguresLimit bounds the rows read for one app and env's figures.
const FiguresLimit = 10000

// reachedAWS reports whether d ended after the deployer changed AWS.
func reachedAWS(d *Deployment) bool {
	switch d.State {
	case StateSucceeded, StateRolledBack:
		return true
	case StateFailed:
		return d.RolloutRef != ""
	}
	return false
}

// ComputeFigures returns app/env's figures over window ending at until,
// from ds (any order; those of other apps or envs are ignored).
func ComputeFigures(ds []*Deployment, app, env string, until time.Time, window time.Duration) Figures {
	f := Figures{App: app, Env: env, Window: window, Until: until}
	days := int(window / (24 * time.Hour))
	if days < 1 {
		days = 1
	}
	f.Daily = make([]int, days)
	since := until.Add(-window)
	var ended []*Deployment
	for _, d := range ds {
		if d.App == app && d.Env == env && reachedAWS(d) && !d.UpdatedAt.After(until) {
			ended = append(ended, d)
		}
	}
	sort.SliceStable(ended, func(i, j int) bool {
		if !ended[i].UpdatedAt.Equal(ended[j].UpdatedAt) {
			return ended[i].UpdatedAt.Before(ended[j].UpdatedAt)
		}
		return ended[i].ID < ended[j].ID
	})
	var leads, restores []time.Duration
	var down time.Time // start of the current outage; zero while up
	for _, d := range ended {
		in := d.UpdatedAt.After(since)
		failed := d.State != StateSucceeded
		if failed {
			if down.IsZero() {
				down = d.UpdatedAt
			}
		} else if !down.IsZero() {
			// The outage counts in the window where it began, so a window
			// never holds a restore without its failure.
			if down.After(since) {
				restores = append(restores, d.UpdatedAt.Sub(down))
			}
			down = time.Time{}
		}
		if !in {
			continue
		}
		if d.RollbackOf == 0 {
			f.Reached++
			if failed {
				f.Failed++
			}
		}
		if failed || d.RollbackOf != 0 {
			continue
		}
		f.Successes++
		if ago := int(until.Sub(d.UpdatedAt) / (24 * time.Hour)); ago < days {
			f.Daily[days-1-ago]++
		}
		if !d.CommittedAt.IsZero() && !d.CommittedAt.After(d.UpdatedAt) {
			leads = append(leads, d.UpdatedAt.Sub(d.CommittedAt))
		}
	}
	f.Unrestored = !down.IsZero()
	f.LeadTime, f.LeadTimes = median(leads), len(leads)
	f.TimeToRestore, f.Restores = median(restores), len(restores)
	return f
}

// median of ds, the mean of the middle two for an even count; 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	m := len(ds) / 2
	if len(ds)%2 == 1 {
		return ds[m]
	}
	return (ds[m-1] + ds[m]) / 2
}

// FigureStates are the end states ComputeFigures reads.
var FigureStates = []State{StateSucceeded, StateFailed, StateRolledBack}

// Figures returns app/env's figures over each of FigureWindows ending now.
func (s *Service) Figures(ctx context.Context, app, env string) ([]Figures, error) {
	if err := s.lookupAppEnv(app, env); err != nil {
		return nil, err
	}
	ds, err := s.Store.ListDeployments(ctx, DeploymentFilter{App: app, Env: env, States: FigureStates, Limit: FiguresLimit})
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []Figures
	for _, w := range FigureWindows {
		f := ComputeFigures(ds, app, env, now, w)
		f.Truncated = len(ds) == FiguresLimit
		out = append(out, f)
	}
	return out, nil
}

// Stats answers `/deploy stats <app> [<env>]`: the figures of each env.
func (s *Service) Stats(ctx context.Context, app, env string) (Message, error) {
	if err := s.lookupAppEnv(app, env); err != nil {
		return Message{}, err
	}
	envs := s.Config.Apps[app].EnvNames()
	if env != "" {
		envs = []string{env}
	}
	lines := []string{Textf("Delivery figures of %s:", Name(app)).Slack()}
	for _, e := range envs {
		fs, err := s.Figures(ctx, app, e)
		if err != nil {
			return Message{}, err
		}
		lines = append(lines, Textf("%s", Name(e)).Slack())
		for _, f := range fs {
			lines = append(lines, "• "+f.Summary().Slack())
		}
	}
	return Message{Text: strings.Join(lines, "\n")}, nil
}

// Summary is f in one line, e.g. "7d: 5 deploys (0.7/day), lead time 2h
// (5), change failure 1/6 (17%), time to restore 45m (1)".
func (f Figures) Summary() Text {
	days := int(f.Window / (24 * time.Hour))
	noun := "deploys"
	if f.Successes == 1 {
		noun = "deploy"
	}
	s := fmt.Sprintf("%dd: %d %s (%.1f/day)", days, f.Successes, noun, f.PerDay())
	if f.LeadTimes > 0 {
		s += fmt.Sprintf(", lead time %s (median of %d)", FormatFigure(f.LeadTime), f.LeadTimes)
	} else {
		s += ", lead time unknown"
	}
	if rate, ok := f.FailureRate(); ok {
		s += fmt.Sprintf(", change failure %d/%d (%.0f%%)", f.Failed, f.Reached, rate*100)
	} else {
		s += ", change failure — (nothing reached AWS)"
	}
	if f.Restores > 0 {
		s += fmt.Sprintf(", time to restore %s (median of %d)", FormatFigure(f.TimeToRestore), f.Restores)
	} else {
		s += ", time to restore — (no restore)"
	}
	if f.Unrestored {
		s += ", last change failed and is not restored yet"
	}
	if f.Truncated {
		s += fmt.Sprintf(" (from the newest %d deployments only)", FiguresLimit)
	}
	return Textf("%s", s)
}

// FormatFigure shows a duration to the unit people think of it in.
func FormatFigure(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1fh", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return d.Round(time.Second).String()
}
