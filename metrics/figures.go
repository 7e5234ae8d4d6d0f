package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deploybot/deploybot/bot"
)

// figuresTTL is how long one reading of the delivery figures is served:
// they move over days, and each reading reads the history of every env.
const figuresTTL = time.Minute

// figuresCollector exports the delivery figures of every configured env
// over bot.FigureWindows, read from the store like the queue, so every
// replica reports the same. A figure with nothing to measure (no lead
// time known, nothing reached AWS, no restore) is left out rather than
// reported as 0, which would read as a perfect score.
type figuresCollector struct {
	history QueueReader
	envs    [][2]string
	now     func() time.Time

	deploys, lead, failure, restore *prometheus.Desc

	mu      sync.Mutex
	read    time.Time
	metrics []prometheus.Metric
}

func newFiguresCollector(history QueueReader, envs [][2]string, now func() time.Time) *figuresCollector {
	labels := []string{"app", "env", "window"}
	return &figuresCollector{history: history, envs: envs, now: now,
		deploys: prometheus.NewDesc("deploybot_delivery_deployments",
			"Deployment frequency: successful deployments (rollbacks aside) over the window, by app, environment and window in days.", labels, nil),
		lead: prometheus.NewDesc("deploybot_delivery_lead_time_seconds",
			"Lead time for changes: median of commit time → success over the window.", labels, nil),
		failure: prometheus.NewDesc("deploybot_delivery_change_failure_ratio",
			"Change failure rate: failed or rolled back / deployments that reached AWS over the window.", labels, nil),
		restore: prometheus.NewDesc("deploybot_delivery_time_to_restore_seconds",
			"Time to restore: median of a failure → the next success on the environment, over the window.", labels, nil),
	}
}

func (c *figuresCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.deploys
	ch <- c.lead
	ch <- c.failure
	ch <- c.restore
}

func (c *figuresCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.metrics == nil || now.Sub(c.read) >= figuresTTL || now.Before(c.read) {
		ms, err := c.collect(now)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.deploys, err)
			return
		}
		c.metrics, c.read = ms, now
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func (c *figuresCollector) collect(now time.Time) ([]prometheus.Metric, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ms := []prometheus.Metric{}
	gauge := func(d *prometheus.Desc, v float64, f bot.Figures) {
		window := strconv.Itoa(int(f.Window/(24*time.Hour))) + "d"
		ms = append(ms, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, f.App, f.Env, window))
	}
	for _, e := range c.envs {
		ds, err := c.history.ListDeployments(ctx, bot.DeploymentFilter{App: e[0], Env: e[1], States: bot.FigureStates, Limit: bot.FiguresLimit})
		if err != nil {
			return nil, err
		}
		for _, w := range bot.FigureWindows {
			f := bot.ComputeFigures(ds, e[0], e[1], now, w)
			gauge(c.deploys, float64(f.Successes), f)
			if f.LeadTimes > 0 {
				gauge(c.lead, f.LeadTime.Seconds(), f)
			}
			if rate, ok := f.FailureRate(); ok {
				gauge(c.failure, rate, f)
			}
			if f.Restores > 0 {
				gauge(c.restore, f.TimeToRestore.Seconds(), f)
			}
		}
	}
	return ms, nil
}
