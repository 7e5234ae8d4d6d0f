// Package metrics exports deploybot's Prometheus metrics: deployments and
// their stages (as a bot.Observer), HTTP requests (middleware), GitHub and
// AWS API calls (an http.RoundTripper), GitHub's rate limit and the queue.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deploybot/deploybot/bot"
)

// Metrics holds the collectors on a registry of their own.
type Metrics struct {
	registry *prometheus.Registry

	deployments    *prometheus.CounterVec
	deploySeconds  *prometheus.HistogramVec
	stageSeconds   *prometheus.HistogramVec
	ciWaitSeconds  *prometheus.HistogramVec
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	apiCalls       *prometheus.CounterVec
	apiSeconds     *prometheus.HistogramVec
	githubRate     prometheus.Gauge
}

var _ bot.Observer = (*Metrics)(nil)

// QueueReader counts the deployments waiting for their turn.
type QueueReader interface {
	ListDeployments(ctx context.Context, f bot.DeploymentFilter) ([]*bot.Deployment, error)
}

// QueryCounter is a store that counts the statements it sends.
type QueryCounter interface {
	Queries() uint64
}

// Rollouts take minutes and CI waits up to half an hour; request latencies
// are milliseconds.
var (
	longBuckets    = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}
	requestBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
)

// New registers every collector. queue may be nil; it is also the history
// the delivery figures are read from. envs are the configured
// app/environment pairs, reported with a queue of 0 when nothing waits, so
// that alerts see the series.
func New(queue QueueReader, envs [][2]string) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		deployments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_deployments_total", Help: "Deployments that ended, by app, environment and outcome.",
		}, []string{"app", "env", "outcome"}),
		deploySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deploybot_deployment_duration_seconds", Help: "From request to end, by app, environment and outcome.", Buckets: longBuckets,
		}, []string{"app", "env", "outcome"}),
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deploybot_stage_duration_seconds", Help: "Time spent in each stage of the pipeline.", Buckets: longBuckets,
		}, []string{"stage"}),
		ciWaitSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deploybot_ci_wait_seconds", Help: "Time from entering the CI gate to its verdict, by app.", Buckets: longBuckets,
		}, []string{"app"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deploybot_http_request_duration_seconds", Help: "HTTP request latency by route.", Buckets: requestBuckets,
		}, []string{"route"}),
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deploybot_api_calls_total", Help: "Calls to GitHub, Slack and AWS APIs by API, service and result (HTTP status class, or error).",
		}, []string{"api", "service", "result"}),
		apiSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deploybot_api_call_duration_seconds", Help: "API call latency by API and service.", Buckets: requestBuckets,
		}, []string{"api", "service"}),
		githubRate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deploybot_github_rate_limit_remaining", Help: "X-RateLimit-Remaining of the last GitHub API answer.",
		}),
	}
	m.registry.MustRegister(m.deployments, m.deploySeconds, m.stageSeconds, m.ciWaitSeconds,
		m.requests, m.requestSeconds, m.apiCalls, m.apiSeconds, m.githubRate,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queue != nil {
		m.registry.MustRegister(&queueCollector{queue: queue, envs: envs, desc: prometheus.NewDesc(
			"deploybot_queue_length", "Deployments waiting for their turn, by app and environment.", []string{"app", "env"}, nil)})
		m.registry.MustRegister(newFiguresCollector(queue, envs, time.Now))
	}
	return m
}

// CountStoreQueries exports store's count of statements as
// deploybot_store_queries_total: a store that works while nothing happens
// (deployments that poll instead of waiting parked) shows as a rate.
func (m *Metrics) CountStoreQueries(store QueryCounter) {
	m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "deploybot_store_queries_total", Help: "Statements sent to the store's database.",
	}, func() float64 { return float64(store.Queries()) }))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

func (m *Metrics) StageDone(d *bot.Deployment, stage bot.State, took time.Duration) {
	m.stageSeconds.WithLabelValues(string(stage)).Observe(took.Seconds())
}

func (m *Metrics) CIWaited(d *bot.Deployment, took time.Duration) {
	m.ciWaitSeconds.WithLabelValues(d.App).Observe(took.Seconds())
}

func (m *Metrics) Ended(d *bot.Deployment) {
	outcome := string(d.State)
	m.deployments.WithLabelValues(d.App, d.Env, outcome).Inc()
	if !d.CreatedAt.IsZero() {
		m.deploySeconds.WithLabelValues(d.App, d.Env, outcome).Observe(time.Since(d.CreatedAt).Seconds())
	}
}

// Middleware counts and times the requests next serves, labelled by the
// route pattern the ServeMux matched (so ids in paths do not explode the
// label set).
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		m.requestSeconds.WithLabelValues(route).Observe(time.Since(began).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush keeps server-sent events working through the middleware.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Transport counts and times the calls of one API ("github", "slack")
// made through base, and keeps GitHub's remaining rate limit.
func (m *Metrics) Transport(api string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{m: m, api: api, base: base}
}

type transport struct {
	m    *Metrics
	api  string
	base http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	service := t.api
	began := time.Now()
	resp, err := t.base.RoundTrip(r)
	t.m.apiSeconds.WithLabelValues(t.api, service).Observe(time.Since(began).Seconds())
	result := "error"
	if err == nil {
		result = strconv.Itoa(resp.StatusCode/100) + "xx"
		if v := resp.Header.Get("X-RateLimit-Remaining"); v != "" && t.api == "github" {
			if n, perr := strconv.ParseFloat(v, 64); perr == nil {
				t.m.githubRate.Set(n)
			}
		}
	}
	t.m.apiCalls.WithLabelValues(t.api, service, result).Inc()
	return resp, err
}

// AWSAPIOptions counts and times every AWS operation, retries included,
// by service and operation, through the SDK's own middleware stack (the
// SDK builds its HTTP client itself, CA bundles and all, so wrapping its
// transport is not an option).
func (m *Metrics) AWSAPIOptions() []func(*middleware.Stack) error {
	return []func(*middleware.Stack) error{func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("DeploybotMetrics",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				began := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				service := strings.ToLower(awsmiddleware.GetServiceID(ctx)) + "." + awsmiddleware.GetOperationName(ctx)
				m.apiSeconds.WithLabelValues("aws", service).Observe(time.Since(began).Seconds())
				result := "ok"
				if err != nil {
					result = "error"
				}
				m.apiCalls.WithLabelValues("aws", service, result).Inc()
				return out, md, err
			}), middleware.After)
	}}
}

// queueCollector reads the queue from the store at scrape time, so every
// replica reports the same, whole queue.
type queueCollector struct {
	queue QueueReader
	envs  [][2]string
	desc  *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	queued, err := c.queue.ListDeployments(ctx, bot.DeploymentFilter{States: []bot.State{bot.StateQueued}, Limit: 10000})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	counts := map[[2]string]int{}
	for _, e := range c.envs {
		counts[e] = 0
	}
	for _, d := range queued {
		counts[[2]string{d.App, d.Env}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}
