package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/emulator/slackemu"
)

// generator makes the i-th request of a run and reads its answer.
type generator struct {
	// request returns request i to the bot at base (http://host:port).
	request func(base string, i int) (*http.Request, error)
	// accepted returns the deployment id an answer acknowledges, or why
	// it is not an acknowledgement.
	accepted func(status int, body []byte) (int64, error)
}

// slackGenerator sends `/deploy web <sha> <env>` as Slack does, each
// with a response_url of its own, signed when it leaves.
func (w *world) slackGenerator(total int) (generator, error) {
	channelID := w.slack.ChannelID(channel)
	bodies := make([][]byte, total)
	for i := range bodies {
		bodies[i] = slackemu.Command{
			UserID: slackUser, UserName: "ackload", ChannelID: channelID, ChannelName: strings.TrimPrefix(channel, "#"),
			Command: "/deploy", Text: fmt.Sprintf("%s %s %s", app, w.sha[:7], w.envs[i%len(w.envs)]),
			ResponseURL: w.slack.NewResponseURL(),
		}.Body()
	}
	return generator{
		request: func(base string, i int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, base+"/slack/commands", bytes.NewReader(bodies[i]))
			if err != nil {
				return nil, err
			}
			ts := time.Now()
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
			req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
			req.Header.Set("X-Slack-Signature", slackemu.Sign(signingSecret, ts, bodies[i]))
			return req, nil
		},
		accepted: func(status int, body []byte) (int64, error) {
			var reply struct {
				Text string `json:"text"`
			}
			_ = json.Unmarshal(body, &reply)
			var id int64
			if _, err := fmt.Sscanf(reply.Text, "Deployment #%d accepted", &id); err != nil || status != http.StatusOK {
				return 0, fmt.Errorf("HTTP %d: %s", status, strings.TrimSpace(string(body)))
			}
			return id, nil
		},
	}, nil
}

// Values in GitHub's example deployment payload that each request
// replaces with its own.
const (
	corpusDeploymentID = "145988746"
	corpusSHA          = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
	corpusRepo         = "Codertocat/Hello-World"
)

// githubGenerator sends `deployment` events as GitHub does once someone
// has created a deployment through the API: the deployments are created
// in the emulator first (not timed), and each event is GitHub's example
// payload naming one of them.
func (w *world) githubGenerator(ctx context.Context, total int) (generator, error) {
	path, raw, err := corpusPayload("deployment", "payload.json")
	if err != nil {
		return generator{}, err
	}
	// A textual rewrite keeps the payload byte for byte as GitHub
	// documents it but for the values that must be ours.
	doc := string(raw)
	for _, must := range []string{corpusDeploymentID, corpusSHA, corpusRepo, `"environment": "production"`, `"ref": "master"`} {
		if !strings.Contains(doc, must) {
			return generator{}, fmt.Errorf("%s: no %s to rewrite", path, must)
		}
	}
	doc = strings.NewReplacer(
		corpusSHA, w.sha,
		corpusRepo, repo,
		`"name": "Hello-World"`, `"name": "`+repo[strings.Index(repo, "/")+1:]+`"`,
		`"ref": "master"`, `"ref": "main"`,
	).Replace(doc)
	// One template per environment, split where the deployment id goes.
	templates := make([][]string, len(w.envs))
	for i, env := range w.envs {
		d := strings.NewReplacer(
			`"environment": "production"`, `"environment": "`+env+`"`,
			`"original_environment": "production"`, `"original_environment": "`+env+`"`,
		).Replace(doc)
		templates[i] = strings.Split(d, corpusDeploymentID)
	}
	if err := checkRewrite(templates[0], w.sha, w.envs[0]); err != nil {
		return generator{}, fmt.Errorf("%s: %w", path, err)
	}

	ids, err := w.createGitHubDeployments(ctx, total)
	if err != nil {
		return generator{}, err
	}
	return generator{
		request: func(base string, i int) (*http.Request, error) {
			body := []byte(strings.Join(templates[i%len(templates)], strconv.FormatInt(ids[i], 10)))
			return webhookRequest(base, "deployment", body)
		},
		accepted: func(status int, body []byte) (int64, error) {
			var reply struct {
				Msg        string `json:"msg"`
				Deployment int64  `json:"deployment"`
			}
			_ = json.Unmarshal(body, &reply)
			if status != http.StatusAccepted || reply.Msg != "deployment accepted" || reply.Deployment == 0 {
				return 0, fmt.Errorf("HTTP %d: %s", status, strings.TrimSpace(string(body)))
			}
			return reply.Deployment, nil
		},
	}, nil
}

// checkRewrite decodes one rewritten payload to make sure the fields the
// bot reads hold the values meant.
func checkRewrite(template []string, sha, env string) error {
	var ev struct {
		Deployment struct {
			ID          int64  `json:"id"`
			SHA         string `json:"sha"`
			Ref         string `json:"ref"`
			Environment string `json:"environment"`
		} `json:"deployment"`
		Repository struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	if err := json.Unmarshal([]byte(strings.Join(template, "7")), &ev); err != nil {
		return err
	}
	d := ev.Deployment
	if d.ID != 7 || d.SHA != sha || d.Ref != "main" || d.Environment != env || ev.Repository.FullName != repo {
		return fmt.Errorf("rewritten payload reads %+v in %s", d, ev.Repository.FullName)
	}
	return nil
}

// webhookRequest is a delivery of event with body as GitHub sends it,
// signed both ways.
func webhookRequest(base, event string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/github", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha1.New, []byte(webhookSecret))
	mac.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/ackload")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", newDeliveryID())
	req.Header.Set("X-GitHub-Hook-ID", "424242")
	req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-Hub-Signature-256", githubemu.Signature256(webhookSecret, body))
	return req, nil
}

// corpusPayload reads one of GitHub's example events from the module's
// copy of the corpus (testdata/corpus, DESIGN.md's "Real data for tests").
func corpusPayload(event, name string) (path string, payload []byte, err error) {
	root, err := moduleRoot()
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(root, "testdata", "corpus", "github-webhooks", event, name)
	payload, err = os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("GitHub's example payload: %w", err)
	}
	return path, payload, nil
}

// moduleRoot is the directory of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run ackload inside the deploybot module (no go.mod above the working directory)")
		}
		dir = parent
	}
}

// createGitHubDeployments creates total deployments of the commit through
// the emulator's API, as a person or a CI job would, environment i%envs
// for the i-th, and returns their ids in that order. required_contexts is
// empty: the commit's CI is pending, which GitHub would refuse otherwise.
func (w *world) createGitHubDeployments(ctx context.Context, total int) ([]int64, error) {
	ids := make([]int64, total)
	client := &http.Client{Timeout: 30 * time.Second}
	base := w.ghURL + githubemu.Prefix + "/repos/" + repo + "/deployments"
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan int)
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id, err := w.createGitHubDeployment(ctx, client, base, w.envs[i%len(w.envs)])
				mu.Lock()
				ids[i] = id
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for i := range total {
		next <- i
	}
	close(next)
	wg.Wait()
	return ids, firstErr
}

func (w *world) createGitHubDeployment(ctx context.Context, client *http.Client, url, env string) (int64, error) {
	body, _ := json.Marshal(map[string]any{
		"ref": w.sha, "environment": env, "required_contexts": []string{}, "auto_merge": false,
		"description": "load test deployment",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "token "+humanToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var d struct {
		ID int64 `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != http.StatusCreated || d.ID == 0 {
		return 0, fmt.Errorf("create GitHub deployment in the emulator: HTTP %d %v", resp.StatusCode, err)
	}
	return d.ID, nil
}

func newDeliveryID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// result is what became of one request.
type result struct {
	latency time.Duration // from handing it to the client to the last byte of the answer
	lag     time.Duration // how late it left against the open-loop schedule
	status  int           // the answer's HTTP status; 0 if none came
	id      int64         // the deployment acknowledged; 0 if none
	err     error         // why it is not the acknowledgement expected
	unsent  bool          // the sender was at its bound of requests in flight
}

type loadResult struct {
	results []result
	elapsed time.Duration
	failed  int
}

// pace is how load sends.
type pace struct {
	rate, total int
	timeout     time.Duration // the client's, per request
	// maxInFlight bounds the requests awaiting an answer (0: no bound); a
	// request due while it is reached is not sent, and counted so.
	maxInFlight int
}

func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute,
			DisableCompression: true,
		},
	}
}

// send sends request i and records what became of it in r.
func send(client *http.Client, gen generator, base string, i int, r *result) {
	req, err := gen.request(base, i)
	if err != nil {
		r.err = err
		return
	}
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		r.latency, r.err = time.Since(began), err
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.latency = time.Since(began)
	if err != nil {
		r.err = err
		return
	}
	r.status = resp.StatusCode
	r.id, r.err = gen.accepted(resp.StatusCode, body)
}

// load sends p.total requests at p.rate per second, open loop: each
// leaves on schedule whether or not the earlier ones were answered, so
// queueing in the bot shows in the tail instead of slowing the sender
// down.
func load(ctx context.Context, gen generator, base string, p pace) loadResult {
	client := newClient(p.timeout)
	defer client.CloseIdleConnections()
	results := make([]result, p.total)
	interval := time.Second / time.Duration(p.rate)
	var slots chan struct{}
	if p.maxInFlight > 0 {
		slots = make(chan struct{}, p.maxInFlight)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range p.total {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		if ctx.Err() != nil {
			for j := i; j < p.total; j++ {
				results[j].err = ctx.Err()
			}
			break
		}
		if slots != nil {
			select {
			case slots <- struct{}{}:
			default:
				results[i].unsent, results[i].err = true, errors.New("not sent: the sender was at its bound of requests in flight")
				continue
			}
		}
		lag := time.Since(due)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].lag = lag
			send(client, gen, base, i, &results[i])
			if slots != nil {
				<-slots
			}
		}()
	}
	wg.Wait()
	return newLoadResult(results, time.Since(start))
}

func newLoadResult(results []result, elapsed time.Duration) loadResult {
	lr := loadResult{results: results, elapsed: elapsed}
	for _, r := range results {
		if r.err != nil {
			lr.failed++
		}
	}
	return lr
}

// closedLoop keeps conns requests in flight for d, each sent as soon as
// an earlier one is answered: what the server can take, not a rate
// chosen beforehand. It stops early after limit requests if limit > 0.
func closedLoop(ctx context.Context, gen generator, base string, conns int, d, timeout time.Duration, limit int) loadResult {
	client := newClient(timeout)
	defer client.CloseIdleConnections()
	var (
		next    atomic.Int64
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []result
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if limit > 0 && i >= limit {
					break
				}
				var r result
				send(client, gen, base, i, &r)
				mine = append(mine, r)
			}
			mu.Lock()
			results = append(results, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return newLoadResult(results, time.Since(start))
}

// acknowledged counts the answers that were the acknowledgement expected.
func (lr loadResult) acknowledged() int {
	n := 0
	for _, r := range lr.results {
		if r.err == nil && r.status != 0 {
			n++
		}
	}
	return n
}

// latencies returns the latencies of the requests answered, sorted.
func (lr loadResult) latencies() []time.Duration {
	var ls []time.Duration
	for _, r := range lr.results {
		if r.status != 0 {
			ls = append(ls, r.latency)
		}
	}
	slices.Sort(ls)
	return ls
}

// percentile of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

var describeKind = map[string]string{
	"slack":            "signed Slack /deploy commands",
	"github":           "signed GitHub deployment webhooks",
	"checkrun":         "signed GitHub check_run webhooks",
	"comment":          "signed plain PR comments (issue_comment) in the served repository",
	"comment-unserved": "signed plain PR comments (issue_comment) in a repository deploybot does not serve",
}

func (lr loadResult) print(out io.Writer, kind string, rate int, duration time.Duration) {
	latencies := make([]time.Duration, len(lr.results))
	var maxLag time.Duration
	errs := map[string]int{}
	for i, r := range lr.results {
		latencies[i] = r.latency
		maxLag = max(maxLag, r.lag)
		if r.err != nil {
			errs[r.err.Error()]++
		}
	}
	slices.Sort(latencies)
	pct := func(p float64) string { return round(percentile(latencies, p)) }
	fmt.Fprintf(out, "%d %s at %d/s over %s (sent in %s; the sender ran late by %s at most): %d acknowledged, %d failed\n",
		len(lr.results), describeKind[kind], rate, duration, lr.elapsed.Round(time.Millisecond), maxLag.Round(10*time.Microsecond), lr.acknowledged(), lr.failed)
	fmt.Fprintf(out, "latency p50 %s  p90 %s  p99 %s  max %s\n", pct(0.50), pct(0.90), pct(0.99), pct(1))
	fmt.Fprintf(out, "p99 of the requests sent in each second: %s\n", lr.perSecond(rate))
	printErrors(out, errs)
}

// printErrors prints the five most frequent errors.
func printErrors(out io.Writer, errs map[string]int) {
	for i, msg := range sortedByCount(errs) {
		if i == 5 {
			fmt.Fprintf(out, "  … and %d other errors\n", len(errs)-i)
			break
		}
		fmt.Fprintf(out, "  failed %d×: %s\n", errs[msg], msg)
	}
}

// perSecond lists the p99 latency of the requests sent in each second of
// the run, to tell a start-up transient from a sustained backlog.
func (lr loadResult) perSecond(rate int) string {
	var parts []string
	for lo := 0; lo < len(lr.results); lo += rate {
		second := make([]time.Duration, 0, rate)
		for _, r := range lr.results[lo:min(lo+rate, len(lr.results))] {
			second = append(second, r.latency)
		}
		slices.Sort(second)
		parts = append(parts, round(second[min(len(second)-1, len(second)*99/100)]))
	}
	return strings.Join(parts, " ")
}

func round(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(time.Millisecond).String()
}
