package handlers

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// figuresRow returns app/env's row of the delivery figures as HTML.
func figuresRow(t *testing.T, page, app, env string) string {
	t.Helper()
	start := strings.Index(page, `<div class="card figures" data-app="`+app+`">`)
	if start < 0 {
		t.Fatalf("no delivery figures panel for %s", app)
	}
	panel := page[start:]
	panel = panel[:strings.Index(panel, "</table>")]
	i := strings.Index(panel, `<tr data-env="`+env+`">`)
	if i < 0 {
		t.Fatalf("no delivery figures of %s/%s", app, env)
	}
	return panel[i : i+strings.Index(panel[i:], "</tr>")]
}

func figure(t *testing.T, row, name string) string {
	t.Helper()
	m := regexp.MustCompile(`data-figure="` + name + `"[^>]*>([^<]*)<`).FindStringSubmatch(row)
	if m == nil {
		t.Fatalf("no figure %s in %s", name, row)
	}
	return m[1]
}

func TestDashboardDeliveryFigures(t *testing.T) {
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	ctx := context.Background()
	end := func(app, env string, st bot.State, committed time.Time) {
		t.Helper()
		d := &bot.Deployment{App: app, Env: env, Repo: "octo-org/" + app, Ref: "main", SHA: sha40('d'),
			Requester: "slack:U1", Source: bot.SourceSlack, State: bot.StateQueued}
		if err := w.db.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		d.State, d.RolloutRef, d.CommittedAt = st, "web:43", committed
		if err := w.db.UpdateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	end("web", "prod", bot.StateSucceeded, time.Now().Add(-3*time.Hour))
	end("api", "dev", bot.StateFailed, time.Time{})

	_, page := w.get(t, "/")
	// The seeded failure of web prod failed at CI: it never reached AWS.
	prod := figuresRow(t, page, "web", "prod")
	for name, want := range map[string]string{
		"deploys-7d": "1", "deploys-30d": "1", "lead-7d": "3.0h", "failure-7d": "0% (0/1)", "restore-30d": "—",
	} {
		if got := figure(t, prod, name); got != want {
			t.Errorf("web prod %s = %q; want %q", name, got, want)
		}
	}
	dev := figuresRow(t, page, "web", "dev")
	if got := figure(t, dev, "deploys-30d"); got != "2" {
		t.Errorf("web dev deploys-30d = %q; want 2", got)
	}
	if got := figure(t, dev, "lead-30d"); got != "—" {
		t.Errorf("web dev lead-30d = %q; want — (no commit time known)", got)
	}
	api := figuresRow(t, page, "api", "dev")
	if got := figure(t, api, "failure-30d"); got != "100% (1/1)" || !strings.Contains(api, ">down</span>") {
		t.Errorf("api dev: failure-30d %q, row %s; want 100%% (1/1) and marked down", got, api)
	}

	// The sparkline is drawn here: 30 bars, today's (the last) as tall as
	// the busiest day, and nothing fetched from elsewhere.
	svg := dev[strings.Index(dev, "<svg"):]
	svg = svg[:strings.Index(svg, "</svg>")]
	rects := regexp.MustCompile(`<rect x="(\d+)" y="(\d+)" width="4" height="(\d+)">`).FindAllStringSubmatch(svg, -1)
	if len(rects) != 30 {
		t.Fatalf("sparkline has %d bars; want 30:\n%s", len(rects), svg)
	}
	if last := rects[29]; last[2] != "0" || last[3] != "24" {
		t.Errorf("today's bar is y=%s height=%s; want the full height (2 deploys, the most of any day)", last[2], last[3])
	}
	if first := rects[0]; first[3] != "1" {
		t.Errorf("a day without deploys has height %s; want a 1px tick", first[3])
	}
	if !strings.Contains(svg, `aria-label="2 deployments over 30 days, at most 2 a day"`) {
		t.Errorf("sparkline lacks its label:\n%s", svg)
	}
	if strings.Contains(svg, "href") || strings.Contains(svg, "src=") {
		t.Errorf("sparkline refers to something outside the page:\n%s", svg)
	}
}
