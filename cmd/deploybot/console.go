package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/slackemu"
)

// The console is the sandbox's playground: a page beside the dashboard
// where a person plays Slack, GitHub and AWS against the running bot. It
// exists only in the sandbox, on loopback; serve never mounts it.

//go:embed console.html
var consoleHTML string

// consoleHeader must come with every console POST. A page on another
// origin cannot set it without a CORS preflight the console never
// grants, so a web page visited while the sandbox runs cannot drive it.
const consoleHeader = "X-Deploybot-Sandbox"

type consoleUser struct {
	ID, Name, Note string
}

// The sandbox's seeded people, as the console offers them.
var (
	consoleSlackUsers = []consoleUser{
		// Named as Slack's users.info names them, so the console, the
		// messages and the dashboard speak of the same person.
		{ID: sandboxUser, Name: "bob", Note: "allowed on prod"},
		{ID: sandboxApprover, Name: "carol", Note: "may approve shop-web prod"},
		{ID: sandboxStranger, Name: "mallory", Note: "not allowed on prod"},
	}
	consoleGitHubUsers = []consoleUser{
		{ID: sandboxWriter, Name: sandboxWriter, Note: "write access"},
		{ID: sandboxReader, Name: sandboxReader, Note: "read access"},
	}
)

type console struct {
	sb   *sandbox
	page *template.Template

	mu      sync.Mutex
	commits []*consoleCommit // newest first
	prs     map[string]int   // repo + " " + branch → pull request number
	nextPR  int
	failing map[string]string // AWS target → "next" or "all" of its rollouts fail
	seq     int
}

type consoleCommit struct {
	Repo, Branch, SHA, CI, Pusher string
	PR                            int
}

func newConsole(sb *sandbox) *console {
	funcs := template.FuncMap{
		"short":    func(sha string) string { return bot.ShortSHA(sha) },
		"ciStates": func() []string { return []string{"pending", "success", "failure"} },
	}
	return &console{
		sb:      sb,
		page:    template.Must(template.New("console").Funcs(funcs).Parse(consoleHTML)),
		prs:     map[string]int{},
		nextPR:  100,
		failing: map[string]string{},
	}
}

// routes puts the console in front of the bot's own handler.
func (c *console) routes(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("GET /sandbox", c.index)
	mux.HandleFunc("GET /sandbox/live", c.live)
	for path, act := range map[string]func(context.Context, url.Values) consoleReply{
		"/sandbox/slash":   c.slash,
		"/sandbox/click":   c.click,
		"/sandbox/push":    c.push,
		"/sandbox/ci":      c.flipCI,
		"/sandbox/comment": c.comment,
		"/sandbox/fault":   c.fault,
	} {
		mux.HandleFunc("POST "+path, c.action(act))
	}
	return mux
}

type consoleReply struct {
	OK    bool
	Lines []string
	SHA   string // the commit an action made, for whoever watches it
}

func failed(format string, args ...any) consoleReply {
	return consoleReply{Lines: []string{fmt.Sprintf(format, args...)}}
}

func (c *console) action(act func(context.Context, url.Values) consoleReply) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(consoleHeader) != "1" {
			http.Error(w, "the sandbox console takes actions only from its own page ("+consoleHeader+" header missing)", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "malformed form: "+err.Error(), http.StatusBadRequest)
			return
		}
		reply := act(r.Context(), r.PostForm)
		if !reply.OK {
			w.WriteHeader(http.StatusUnprocessableEntity)
		}
		c.render(w, "reply", reply)
	}
}

func (c *console) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := c.page.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "console template: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (c *console) index(w http.ResponseWriter, _ *http.Request) {
	var repos []string
	for _, app := range c.sb.cfg.AppNames() {
		repos = append(repos, c.sb.cfg.Apps[app].Repo)
	}
	c.render(w, "page", map[string]any{
		"Live": c.snapshot(), "SlackUsers": consoleSlackUsers, "GitHubUsers": consoleGitHubUsers,
		"Repos": repos, "DefaultRepo": sandboxRepo, "Channel": sandboxChannel,
	})
}

func (c *console) live(w http.ResponseWriter, _ *http.Request) {
	c.render(w, "live", c.snapshot())
}

// slash plays Slack delivering `/deploy text` typed by user.
func (c *console) slash(ctx context.Context, form url.Values) consoleReply {
	user, ok := slackUser(form.Get("user"))
	if !ok {
		return failed("Choose one of the seeded Slack users.")
	}
	text := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(form.Get("text")), "/deploy"))
	responseURL := c.sb.slack.NewResponseURL()
	code, reply, err := c.sb.slashVia(ctx, user.ID, text, responseURL)
	if err != nil {
		return failed("The bot did not answer: %v", err)
	}
	out := consoleReply{OK: code == http.StatusOK, Lines: []string{fmt.Sprintf("/deploy %s (as %s)", text, user.Name)}}
	if code != http.StatusOK {
		out.Lines = append(out.Lines, fmt.Sprintf("HTTP %d", code))
	}
	out.Lines = append(out.Lines, slackPlain(reply))
	return c.withResponses(out, responseURL)
}

// click plays Slack delivering a button click on one of the bot's
// messages, signed as Slack signs it.
func (c *console) click(ctx context.Context, form url.Values) consoleReply {
	user, ok := slackUser(form.Get("user"))
	if !ok {
		return failed("Choose one of the seeded Slack users.")
	}
	responseURL := c.sb.slack.NewResponseURL()
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "team": map[string]string{"id": slackemu.TeamID},
		"user": map[string]string{"id": user.ID}, "channel": map[string]string{"id": c.sb.slack.ChannelID(sandboxChannel)},
		"response_url": responseURL,
		"actions":      []map[string]string{{"action_id": form.Get("action"), "value": form.Get("value")}},
	})
	body := []byte(url.Values{"payload": {string(payload)}}.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.sb.bot.URL+"/slack/interactions", bytes.NewReader(body))
	if err != nil {
		return failed("%v", err)
	}
	now := time.Now()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("X-Slack-Signature", slackemu.Sign(sandboxSigningSecret, now, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return failed("The bot did not answer: %v", err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	out := consoleReply{OK: resp.StatusCode == http.StatusOK, Lines: []string{fmt.Sprintf("%s clicked %q on #%s", user.Name, form.Get("action"), form.Get("value"))}}
	if resp.StatusCode != http.StatusOK {
		out.Lines = append(out.Lines, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(answer))))
	}
	return c.withResponses(out, responseURL)
}

// withResponses adds what the bot sent to the response_url while it
// handled the request.
func (c *console) withResponses(out consoleReply, responseURL string) consoleReply {
	for _, r := range c.sb.slack.Responses(responseURL) {
		out.Lines = append(out.Lines, slackPlain(r.Text))
	}
	return out
}

func slackUser(id string) (consoleUser, bool) {
	for _, u := range consoleSlackUsers {
		if u.ID == id {
			return u, true
		}
	}
	return consoleUser{}, false
}

var branchName = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,100}$`)

// push plays a developer pushing a new commit to a branch: its CI state
// is set, its image is in the registry (as a build pipeline would have
// put it), and GitHub sends the push webhook.
func (c *console) push(_ context.Context, form url.Values) consoleReply {
	app := c.appOfRepo(form.Get("repo"))
	if app == nil {
		return failed("Unknown repository %q.", form.Get("repo"))
	}
	branch := strings.TrimPrefix(strings.TrimSpace(form.Get("branch")), "refs/heads/")
	if !branchName.MatchString(branch) || strings.Contains(branch, "..") {
		return failed("%q is not a branch name this console accepts (letters, digits, . _ / -).", branch)
	}
	ci := form.Get("ci")
	if ci != "pending" && ci != "success" && ci != "failure" {
		return failed("CI must be pending, success or failure, not %q.", ci)
	}
	pusher := form.Get("pusher")
	if pusher != sandboxWriter && pusher != sandboxReader {
		return failed("Choose one of the seeded GitHub users.")
	}

	c.mu.Lock()
	c.seq++
	sum := sha256.Sum256([]byte(fmt.Sprintf("console commit %d %d", c.seq, time.Now().UnixNano())))
	c.mu.Unlock()
	sha := hex.EncodeToString(sum[:20])
	// On top of the branch's head, so GitHub can compare it with what an
	// env runs and a dry run lists the commits that would ship.
	if head, ok := c.sb.github.Ref(app.Repo, branch); ok {
		c.sb.github.AddChild(app.Repo, head, sha, pusher, fmt.Sprintf("console commit %d on %s", c.seq, branch))
	} else {
		c.sb.github.AddCommit(app.Repo, sha)
	}
	for _, check := range consoleChecks(app) {
		c.sb.github.SetStatus(app.Repo, sha, check, ci)
	}
	image, err := c.pushImage(app, sha)
	if err != nil {
		return failed("Could not push the image: %v", err)
	}
	if _, err := c.sb.github.Push(app.Repo, branch, sha, pusher); err != nil {
		return failed("Pushed %s to %s, but the push webhook failed: %v", bot.ShortSHA(sha), branch, err)
	}
	out := consoleReply{OK: true, SHA: sha, Lines: []string{fmt.Sprintf("%s pushed %s to %s of %s, CI %s, image %s.", pusher, bot.ShortSHA(sha), branch, app.Repo, ci, image)}}
	for _, env := range app.EnvNames() {
		if ad := app.Environments[env].AutoDeploy; ad != nil && ad.Branch == branch {
			out.Lines = append(out.Lines, fmt.Sprintf("%s deploys every push to %s once CI is green.", env, branch))
		}
	}

	record := &consoleCommit{Repo: app.Repo, Branch: branch, SHA: sha, CI: ci, Pusher: pusher}
	if form.Get("pr") != "" {
		c.mu.Lock()
		key := app.Repo + " " + branch
		n, existed := c.prs[key]
		if !existed {
			n = c.nextPR
			c.nextPR++
			c.prs[key] = n
		}
		c.mu.Unlock()
		if existed {
			c.sb.github.SetPullRequestHead(app.Repo, n, sha)
			out.Lines = append(out.Lines, fmt.Sprintf("Pull request #%d now has head %s.", n, bot.ShortSHA(sha)))
		} else {
			c.sb.github.AddPullRequest(app.Repo, n, sha, branch, pusher)
			out.Lines = append(out.Lines, fmt.Sprintf("Opened pull request #%d from %s; comment \"deploy to dev\" on it.", n, branch))
		}
		record.PR = n
	}
	c.mu.Lock()
	c.commits = append([]*consoleCommit{record}, c.commits...)
	c.mu.Unlock()
	return out
}

// consoleChecks are the commit statuses the console sets: the app's
// required checks, or one of its own when the app requires none.
func consoleChecks(app *bot.App) []string {
	if len(app.Checks) > 0 {
		return app.Checks
	}
	return []string{"ci/console"}
}

func (c *console) pushImage(app *bot.App, sha string) (string, error) {
	tag := "git_" + bot.ShortSHA(sha)
	if app.Image == sandboxImage {
		sum := sha256.Sum256([]byte("image " + sha))
		c.sb.aws.PutImage(sandboxApp, tag, "sha256:"+hex.EncodeToString(sum[:]))
		return app.Image + ":" + tag, nil
	}
	repo := strings.TrimPrefix(app.Image, c.sb.oci.Host()+"/")
	if _, err := c.sb.oci.Push(repo, tag); err != nil {
		return "", err
	}
	return app.Image + ":" + tag, nil
}

func (c *console) appOfRepo(repo string) *bot.App {
	for _, name := range c.sb.cfg.AppNames() {
		if app := c.sb.cfg.Apps[name]; app.Repo == repo {
			return app
		}
	}
	return nil
}

// flipCI changes the CI state of a commit the console pushed and sends
// GitHub's status webhook.
func (c *console) flipCI(_ context.Context, form url.Values) consoleReply {
	state := form.Get("state")
	if state != "pending" && state != "success" && state != "failure" {
		return failed("CI must be pending, success or failure, not %q.", state)
	}
	c.mu.Lock()
	var found *consoleCommit
	for _, cm := range c.commits {
		if cm.SHA == form.Get("sha") {
			found = cm
		}
	}
	c.mu.Unlock()
	if found == nil {
		return failed("No commit %q was pushed from this console.", form.Get("sha"))
	}
	for _, check := range consoleChecks(c.appOfRepo(found.Repo)) {
		if err := c.sb.setCI(found.Repo, found.SHA, check, state); err != nil {
			return failed("CI of %s is %s, but the status webhook failed: %v", bot.ShortSHA(found.SHA), state, err)
		}
	}
	c.mu.Lock()
	found.CI = state
	c.mu.Unlock()
	return consoleReply{OK: true, SHA: found.SHA, Lines: []string{fmt.Sprintf("CI of %s is now %s.", bot.ShortSHA(found.SHA), state)}}
}

// comment plays a GitHub user commenting on a pull request.
func (c *console) comment(_ context.Context, form url.Values) consoleReply {
	app := c.appOfRepo(form.Get("repo"))
	if app == nil {
		return failed("Unknown repository %q.", form.Get("repo"))
	}
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(form.Get("pr")), "#"))
	if err != nil || c.sb.github.Comments(app.Repo, n) == nil {
		return failed("%s has no pull request %q; push with \"open a pull request\" first.", app.Repo, form.Get("pr"))
	}
	author := form.Get("author")
	if author != sandboxWriter && author != sandboxReader {
		return failed("Choose one of the seeded GitHub users.")
	}
	body := strings.TrimSpace(form.Get("body"))
	if body == "" {
		return failed("The comment is empty.")
	}
	if _, err := c.sb.github.UserComment(app.Repo, n, author, body); err != nil {
		return failed("Commented, but the issue_comment webhook failed: %v", err)
	}
	return consoleReply{OK: true, Lines: []string{fmt.Sprintf("%s commented on %s#%d: %s", author, app.Repo, n, body)}}
}

// fault makes the next rollout of one AWS target fail, or all of them
// until switched off, or none.
func (c *console) fault(_ context.Context, form url.Values) consoleReply {
	_, env, err := c.sb.cfg.Lookup(form.Get("app"), form.Get("env"))
	if err != nil {
		return failed("%s", bot.ErrorMessage(err))
	}
	mode := form.Get("fail")
	if mode != "next" && mode != "all" && mode != "none" {
		return failed("fail must be next, all or none, not %q.", mode)
	}
	key := targetOf(env)
	c.mu.Lock()
	c.setFault(env, mode)
	c.mu.Unlock()
	switch mode {
	case "next":
		return consoleReply{OK: true, Lines: []string{fmt.Sprintf("The next rollout on %s fails; the switch then turns itself off.", key)}}
	case "all":
		return consoleReply{OK: true, Lines: []string{fmt.Sprintf("Rollouts on %s now fail, until you switch it off.", key)}}
	}
	return consoleReply{OK: true, Lines: []string{fmt.Sprintf("Rollouts on %s succeed again.", key)}}
}

// setFault is called with c.mu held.
func (c *console) setFault(env *bot.Environment, mode string) {
	on := mode != "none"
	switch {
	case env.ECS != nil:
		c.sb.aws.FailRollouts(env.ECS.Cluster, env.ECS.Service, on)
	case env.ElasticBeanstalk != nil:
		c.sb.aws.FailEBUpdates(env.ElasticBeanstalk.Environment, on)
	}
	if on {
		c.failing[targetOf(env)] = mode
	} else {
		delete(c.failing, targetOf(env))
	}
}

// finished turns a "next rollout fails" switch off once a deployment
// that reached the target has ended; one stopped before AWS (red CI, a
// missing image) leaves it on for the next.
func (c *console) finished(d *bot.Deployment) {
	_, env, err := c.sb.cfg.Lookup(d.App, d.Env)
	if err != nil {
		return
	}
	c.mu.Lock()
	next := c.failing[targetOf(env)] == "next"
	c.mu.Unlock()
	if !next {
		return
	}
	events, err := c.sb.bot.store.Events(context.Background(), d.ID)
	if err != nil {
		return
	}
	for _, e := range events {
		if e.Stage == bot.StateDeploying {
			c.mu.Lock()
			if c.failing[targetOf(env)] == "next" {
				c.setFault(env, "none")
			}
			c.mu.Unlock()
			return
		}
	}
}

func targetOf(env *bot.Environment) string {
	switch {
	case env.ECS != nil:
		return "ECS " + env.ECS.Cluster + "/" + env.ECS.Service
	case env.ElasticBeanstalk != nil:
		return "Elastic Beanstalk " + env.ElasticBeanstalk.Environment
	}
	return "?"
}

// consoleLive is what the page polls.
type consoleLive struct {
	Messages []consoleMessage
	Commits  []consoleCommit
	PRs      []consolePR
	Targets  []consoleTarget
}

type consoleMessage struct {
	TS, Text   string
	Deployment int64 // the deployment it reports, 0 if none
	Edits      int
	Thread     bool
	Fields     []bot.Field
	Buttons    []bot.Action
}

type consolePR struct {
	Repo     string
	Number   int
	Branch   string
	Comments []string
}

type consoleTarget struct {
	App, Env, Target, Runs, Status string
	Failing                        string // "", "next" or "all"
}

func (c *console) snapshot() consoleLive {
	var live consoleLive
	for _, m := range c.sb.slack.Messages(sandboxChannel) {
		live.Messages = append(live.Messages, readMessage(m))
	}
	c.mu.Lock()
	for _, cm := range c.commits {
		live.Commits = append(live.Commits, *cm)
	}
	for key, n := range c.prs {
		repo, branch, _ := strings.Cut(key, " ")
		live.PRs = append(live.PRs, consolePR{Repo: repo, Number: n, Branch: branch})
	}
	failing := make(map[string]string, len(c.failing))
	for k, v := range c.failing {
		failing[k] = v
	}
	c.mu.Unlock()
	for i := range live.PRs {
		for _, cm := range c.sb.github.Comments(live.PRs[i].Repo, live.PRs[i].Number) {
			live.PRs[i].Comments = append(live.PRs[i].Comments, cm.Author+": "+cm.Body)
		}
	}
	for _, name := range c.sb.cfg.AppNames() {
		app := c.sb.cfg.Apps[name]
		for _, envName := range app.EnvNames() {
			env := app.Environments[envName]
			t := consoleTarget{App: name, Env: envName, Target: targetOf(env), Failing: failing[targetOf(env)]}
			switch {
			case env.ECS != nil:
				if td, ok := c.sb.aws.Service(env.ECS.Cluster, env.ECS.Service); ok {
					t.Runs = c.sb.aws.TaskDefinitionImage(td, env.ECS.Container)
					t.Status = "task definition " + td[strings.LastIndex(td, "/")+1:]
				}
			case env.ElasticBeanstalk != nil:
				if e, ok := c.sb.aws.EBEnvironment(env.ElasticBeanstalk.Environment); ok {
					t.Runs = "version " + e.VersionLabel
					t.Status = e.Status + ", " + e.Health
				}
			}
			live.Targets = append(live.Targets, t)
		}
	}
	return live
}

var deploymentRef = regexp.MustCompile(`Deployment #(\d+)`)

// readMessage turns a message as Slack holds it (mrkdwn text, Block Kit)
// into what a Slack client would show.
func readMessage(m slackemu.Message) consoleMessage {
	out := consoleMessage{TS: m.TS, Text: slackPlain(m.Text), Edits: m.Edits, Thread: m.ThreadTS != "" && m.ThreadTS != m.TS}
	if match := deploymentRef.FindStringSubmatch(m.Text); match != nil {
		out.Deployment, _ = strconv.ParseInt(match[1], 10, 64)
	}
	var blocks []struct {
		Type   string `json:"type"`
		Fields []struct {
			Text string `json:"text"`
		} `json:"fields"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			Style    string `json:"style"`
			Text     struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(m.Blocks, &blocks)
	for _, b := range blocks {
		for _, f := range b.Fields {
			label, value, _ := strings.Cut(f.Text, "\n")
			out.Fields = append(out.Fields, bot.Field{Label: strings.Trim(label, "*"), Value: slackPlain(value)})
		}
		if b.Type == "actions" {
			for _, e := range b.Elements {
				out.Buttons = append(out.Buttons, bot.Action{ID: e.ActionID, Value: e.Value, Label: e.Text.Text, Style: e.Style})
			}
		}
	}
	return out
}

var slackMarkup = regexp.MustCompile(`<([^<>|]*)(?:\|([^<>]*))?>`)

// slackPlain shows mrkdwn as a reader sees it: mentions by name, links
// by label, the bot's emoji codes as emoji, Slack's three escapes undone. The page escapes it again, for
// HTML.
func slackPlain(s string) string {
	s = slackMarkup.ReplaceAllStringFunc(s, func(m string) string {
		parts := slackMarkup.FindStringSubmatch(m)
		target, label := parts[1], parts[2]
		if id, ok := strings.CutPrefix(target, "@"); ok {
			if u, known := slackUser(id); known {
				return "@" + u.Name
			}
			return "@" + id
		}
		if cmd, ok := strings.CutPrefix(target, "!"); ok {
			return "@" + cmd
		}
		if label != "" {
			return label
		}
		return target
	})
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&",
		":white_check_mark:", "✅", ":x:", "❌", ":hourglass_flowing_sand:", "⏳",
		":no_entry_sign:", "🚫", ":leftwards_arrow_with_hook:", "↩️").Replace(s)
}
