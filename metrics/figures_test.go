package metrics

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/deploybot/deploybot/bot"
)

// history is a store's ListDeployments over a fixed list, counting reads.
type history struct {
	mu    sync.Mutex
	ds    []*bot.Deployment
	reads int
}

func (h *history) ListDeployments(ctx context.Context, f bot.DeploymentFilter) ([]*bot.Deployment, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reads++
	var out []*bot.Deployment
	for _, d := range h.ds {
		if d.App == f.App && d.Env == f.Env {
			out = append(out, d)
		}
	}
	return out, nil
}

func TestDeliveryFiguresAreGauges(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ended := func(st bot.State, ago, lead time.Duration) *bot.Deployment {
		d := &bot.Deployment{App: "web", Env: "prod", State: st, RolloutRef: "td", UpdatedAt: now.Add(-ago)}
		if lead > 0 {
			d.CommittedAt = d.UpdatedAt.Add(-lead)
		}
		return d
	}
	h := &history{ds: []*bot.Deployment{
		ended(bot.StateSucceeded, 10*24*time.Hour, 4*time.Hour),
		ended(bot.StateFailed, 3*time.Hour, 0),
		ended(bot.StateSucceeded, 2*time.Hour, 30*time.Minute),
	}}
	clock := now
	reg := prometheus.NewRegistry()
	reg.MustRegister(newFiguresCollector(h, [][2]string{{"web", "prod"}, {"web", "dev"}}, func() time.Time { return clock }))
	want := `
# HELP deploybot_delivery_change_failure_ratio Change failure rate: failed or rolled back / deployments that reached AWS over the window.
# TYPE deploybot_delivery_change_failure_ratio gauge
deploybot_delivery_change_failure_ratio{app="web",env="prod",window="30d"} 0.3333333333333333
deploybot_delivery_change_failure_ratio{app="web",env="prod",window="7d"} 0.5
# HELP deploybot_delivery_deployments Deployment frequency: successful deployments (rollbacks aside) over the window, by app, environment and window in days.
# TYPE deploybot_delivery_deployments gauge
deploybot_delivery_deployments{app="web",env="dev",window="30d"} 0
deploybot_delivery_deployments{app="web",env="dev",window="7d"} 0
deploybot_delivery_deployments{app="web",env="prod",window="30d"} 2
deploybot_delivery_deployments{app="web",env="prod",window="7d"} 1
# HELP deploybot_delivery_lead_time_seconds Lead time for changes: median of commit time → success over the window.
# TYPE deploybot_delivery_lead_time_seconds gauge
deploybot_delivery_lead_time_seconds{app="web",env="prod",window="30d"} 8100
deploybot_delivery_lead_time_seconds{app="web",env="prod",window="7d"} 1800
# HELP deploybot_delivery_time_to_restore_seconds Time to restore: median of a failure → the next success on the environment, over the window.
# TYPE deploybot_delivery_time_to_restore_seconds gauge
deploybot_delivery_time_to_restore_seconds{app="web",env="prod",window="30d"} 3600
deploybot_delivery_time_to_restore_seconds{app="web",env="prod",window="7d"} 3600
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if h.reads != 2 {
		t.Errorf("one scrape read the history %d times; want once per env (2)", h.reads)
	}
	testutil.GatherAndCount(reg)
	if h.reads != 2 {
		t.Errorf("a second scrape within %s read the history again (%d reads)", figuresTTL, h.reads)
	}
	clock = clock.Add(figuresTTL)
	testutil.GatherAndCount(reg)
	if h.reads != 4 {
		t.Errorf("a scrape %s later read the history %d times in all; want 4", figuresTTL, h.reads)
	}
}

func TestNewExportsDeliveryFigures(t *testing.T) {
	m := New(&history{}, [][2]string{{"web", "prod"}})
	if out := scrape(t, m); !strings.Contains(out, `deploybot_delivery_deployments{app="web",env="prod",window="7d"} 0`) {
		t.Errorf("metrics lack the delivery figures:\n%s", out)
	}
}
