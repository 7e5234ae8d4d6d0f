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
	path, err := corpusPayload()
	if err != nil {
		return generator{}, err
	}
	raw, err := os.ReadFile(path)
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
			req, err := http.NewRequest(http.MethodPost, base+"/webhooks/github", bytes.NewReader(body))
			if err != nil {
				return nil, err
			}
			mac := hmac.New(sha1.New, []byte(webhookSecret))
			mac.Write(body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", "GitHub-Hookshot/ackload")
			req.Header.Set("X-GitHub-Event", "deployment")
			req.Header.Set("X-GitHub-Delivery", newDeliveryID())
			req.Header.Set("X-GitHub-Hook-ID", "424242")
			req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(mac.Sum(nil)))
			req.Header.Set("X-Hub-Signature-256", githubemu.Signature256(webhookSecret, body))
			return req, nil
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

// corpusPayload finds GitHub's example deployment event in the module's
// copy of the corpus (testdata/corpus, DESIGN.md's "Real data for tests").
func corpusPayload() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, "testdata", "corpus", "github-webhooks", "deployment", "payload.json")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("GitHub's example payload: %w", err)
	}
	return path, nil
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
	id      int64         // the deployment acknowledged; 0 if none
	err     error
}

type loadResult struct {
	results []result
	elapsed time.Duration
	failed  int
}

// load sends total requests at rate per second, open loop: each leaves on
// schedule whether or not the earlier ones were answered, so queueing in
// the bot shows in the tail instead of slowing the sender down.
func load(ctx context.Context, gen generator, base string, rate, total int) loadResult {
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute,
			DisableCompression: true,
		},
	}
	defer client.CloseIdleConnections()
	results := make([]result, total)
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		if ctx.Err() != nil {
			for j := i; j < total; j++ {
				results[j].err = ctx.Err()
			}
			break
		}
		lag := time.Since(due)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			r.lag = lag
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
			r.id, r.err = gen.accepted(resp.StatusCode, body)
		}()
	}
	wg.Wait()
	lr := loadResult{results: results, elapsed: time.Since(start)}
	for _, r := range results {
		if r.err != nil {
			lr.failed++
		}
	}
	return lr
}

func (lr loadResult) print(out io.Writer, kind string, rate int, duration time.Duration) {
	what := "signed Slack /deploy commands"
	if kind == "github" {
		what = "signed GitHub deployment webhooks"
	}
	latencies := make([]time.Duration, len(lr.results))
	var maxLag time.Duration
	errs := map[string]int{}
	acked := 0
	for i, r := range lr.results {
		latencies[i] = r.latency
		maxLag = max(maxLag, r.lag)
		if r.err != nil {
			errs[r.err.Error()]++
		}
		if r.id != 0 {
			acked++
		}
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	fmt.Fprintf(out, "%d %s at %d/s over %s (sent in %s; the sender ran late by %s at most): %d acknowledged, %d failed\n",
		len(lr.results), what, rate, duration, lr.elapsed.Round(time.Millisecond), maxLag.Round(10*time.Microsecond), acked, lr.failed)
	fmt.Fprintf(out, "latency p50 %s  p90 %s  p99 %s  max %s\n",
		round(pct(0.50)), round(pct(0.90)), round(pct(0.99)), round(pct(1)))
	fmt.Fprintf(out, "p99 of the requests sent in each second: %s\n", lr.perSecond(rate))
	shown := 0
	for msg, n := range errs {
		if shown == 5 {
			fmt.Fprintf(out, "  … and %d other errors\n", len(errs)-shown)
			break
		}
		fmt.Fprintf(out, "  failed %d×: %s\n", n, msg)
		shown++
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
