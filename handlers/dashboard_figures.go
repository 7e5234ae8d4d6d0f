package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// figuresPanel is one app's delivery figures on the dashboard: a row per
// environment.
type figuresPanel struct {
	App  string
	Envs []envFigures
}

type envFigures struct {
	Env         string
	Week, Month figureCells
	Spark       sparkline
}

// figureCells are one window's figures as the page shows them; "—" where
// there is nothing to measure.
type figureCells struct {
	Deploys, PerDay, LeadTime, FailureRate, Restore string
	Unrestored, Truncated                           bool
}

// sparkline is deployments per day as bars of an inline SVG, drawn on the
// server so the page loads nothing (the CSP allows no other source).
type sparkline struct {
	Width, Height int
	Bars          []sparkBar
	Label         string
}

type sparkBar struct {
	X, Y, W, H int
	Title      string
}

const (
	sparkBarWidth = 4
	sparkGap      = 1
	sparkHeight   = 24
)

// figures reads each configured env's history once and computes its
// figures over both windows.
func (s *Server) figures(ctx context.Context, now time.Time) ([]figuresPanel, error) {
	if s.Config == nil {
		return nil, nil
	}
	var panels []figuresPanel
	for _, app := range s.Config.AppNames() {
		p := figuresPanel{App: app}
		envs := s.Config.Apps[app].EnvNames()
		sortEnvs(envs)
		for _, env := range envs {
			ds, err := s.Store.ListDeployments(ctx, bot.DeploymentFilter{App: app, Env: env, States: bot.FigureStates, Limit: bot.FiguresLimit})
			if err != nil {
				return nil, err
			}
			truncated := len(ds) == bot.FiguresLimit
			week := bot.ComputeFigures(ds, app, env, now, bot.FigureWindows[0])
			month := bot.ComputeFigures(ds, app, env, now, bot.FigureWindows[1])
			week.Truncated, month.Truncated = truncated, truncated
			p.Envs = append(p.Envs, envFigures{Env: env, Week: cells(week), Month: cells(month), Spark: spark(month.Daily, now)})
		}
		panels = append(panels, p)
	}
	return panels, nil
}

func cells(f bot.Figures) figureCells {
	c := figureCells{
		Deploys: fmt.Sprint(f.Successes), PerDay: fmt.Sprintf("%.1f/day", f.PerDay()),
		LeadTime: "—", FailureRate: "—", Restore: "—",
		Unrestored: f.Unrestored, Truncated: f.Truncated,
	}
	if f.LeadTimes > 0 {
		c.LeadTime = bot.FormatFigure(f.LeadTime)
	}
	if rate, ok := f.FailureRate(); ok {
		c.FailureRate = fmt.Sprintf("%.0f%% (%d/%d)", rate*100, f.Failed, f.Reached)
	}
	if f.Restores > 0 {
		c.Restore = bot.FormatFigure(f.TimeToRestore)
	}
	return c
}

// spark draws daily (oldest first, the last ending at now) with bars
// scaled to the busiest day; a day without deployments keeps a 1px tick
// so the time axis stays readable.
func spark(daily []int, now time.Time) sparkline {
	top, total := 0, 0
	for _, n := range daily {
		top, total = max(top, n), total+n
	}
	sl := sparkline{
		Width: len(daily)*(sparkBarWidth+sparkGap) - sparkGap, Height: sparkHeight,
		Label: fmt.Sprintf("%d deployments over %d days, at most %d a day", total, len(daily), top),
	}
	for i, n := range daily {
		h := 1
		if top > 0 && n > 0 {
			h = max(2, n*sparkHeight/top)
		}
		day := now.Add(-time.Duration(len(daily)-1-i) * 24 * time.Hour).UTC().Format("Jan 2")
		sl.Bars = append(sl.Bars, sparkBar{
			X: i * (sparkBarWidth + sparkGap), Y: sparkHeight - h, W: sparkBarWidth, H: h,
			Title: fmt.Sprintf("%s: %d", day, n),
		})
	}
	return sl
}
