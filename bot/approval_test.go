package bot_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/store/sqlite"
)

func TestParseApprovalCommands(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bot.Command
		help string // with Kind help: what the reply must say
	}{
		{text: "approve 42", want: bot.Command{Kind: bot.CommandApprove, ID: 42}},
		{text: "APPROVE #7", want: bot.Command{Kind: bot.CommandApprove, ID: 7}},
		{text: "reject 7", want: bot.Command{Kind: bot.CommandReject, ID: 7}},
		{text: "reject #7 wrong sha, &lt;!channel&gt;", want: bot.Command{Kind: bot.CommandReject, ID: 7, Reason: "wrong sha, <!channel>"}},
		{text: "approve", help: "`/deploy approve` needs a deployment id"},
		{text: "reject", help: "`/deploy reject` needs a deployment id"},
		{text: "approve web", help: "is not a deployment id"},
		{text: "approve 0", help: "is not a deployment id"},
		{text: "approve 4 5", help: "takes one deployment id; I did not expect `5`"},
	} {
		got := bot.ParseSlackCommand(tc.text)
		if tc.help != "" {
			if got.Kind != bot.CommandHelp || !strings.Contains(got.Reply, tc.help) || !strings.Contains(got.Reply, "Usage: `/deploy "+strings.ToLower(strings.Fields(tc.text)[0])+" &lt;id&gt;") {
				t.Errorf("%q = %+v; want help saying %q and the usage", tc.text, got, tc.help)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%q = %+v; want %+v", tc.text, got, tc.want)
		}
	}
}

func TestApprovalsConfig(t *testing.T) {
	const base = `
store: "sqlite:x.db"
github: {token: t}
aws: {region: us-east-1}
apps:
  web:
    repo: acme/web
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    tag: "git_{{.ShortSHA}}"
    environments:
      prod:
        ecs: {cluster: prod, service: web, container: web}
`
	cfg, err := config.Parse([]byte(base+"        approvals: 2\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if prod := cfg.Apps["web"].Environments["prod"]; prod.Approvals != 2 || time.Duration(prod.ApprovalTimeout) != time.Hour {
		t.Errorf("approvals %d within %s; want 2 within the default 1h", prod.Approvals, time.Duration(prod.ApprovalTimeout))
	}
	_, err = config.Parse([]byte(base+"        approvals: -1\n"), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "apps.web.environments.prod.approvals: must be 0 or more") {
		t.Errorf("approvals: -1 gave %v", err)
	}
}

// approvalWorld is a service on a real SQLite store with web/prod asking
// for one approval from the people allowed there, and web/dev for none.
func approvalWorld(t testing.TB) (*bot.Service, bot.Store) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := &bot.Config{Apps: map[string]*bot.App{"web": {Name: "web", Repo: "acme/web", Environments: map[string]*bot.Environment{
		"prod": {Name: "prod", App: "web", Approvals: 1, ApprovalTimeout: bot.Duration(time.Hour), Allow: []string{"slack:U1", "slack:U2", "github:octocat"}, AutoDeploy: &bot.AutoDeploy{Branch: "main"}},
		"dev":  {Name: "dev", App: "web"},
	}}}}
	return &bot.Service{Config: cfg, Store: db.Ports(), Logger: slog.New(slog.DiscardHandler)}, db.Ports()
}

func storedDeployment(t testing.TB, s bot.Store, env string, state bot.State) *bot.Deployment {
	t.Helper()
	d := &bot.Deployment{App: "web", Env: env, Repo: "acme/web", Ref: "main", SHA: strings.Repeat("a", 40), Requester: "slack:U1", Source: bot.SourceSlack, State: state}
	if err := s.CreateDeployment(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

// Who may approve or reject what, and what the refusals say.
func TestApproveAndRejectRefusals(t *testing.T) {
	ctx := context.Background()
	s, db := approvalWorld(t)
	waiting := storedDeployment(t, db, "prod", bot.StateWaitingForApproval)
	ci := storedDeployment(t, db, "prod", bot.StateWaitingForCI)
	dev := storedDeployment(t, db, "dev", bot.StateWaitingForApproval)
	for _, tc := range []struct {
		name   string
		id     int64
		who    string
		reject bool
		code   string // "" for success
		says   string
	}{
		{"self", waiting.ID, "slack:U1", false, bot.EFORBIDDEN, "you asked for deployment"},
		{"self, another case", waiting.ID, "SLACK:U1", false, bot.EFORBIDDEN, "you asked for deployment"},
		{"not allowed", waiting.ID, "slack:U9", false, bot.EFORBIDDEN, "may not decide on deployments to web prod"},
		{"not allowed to reject", waiting.ID, "slack:U9", true, bot.EFORBIDDEN, "may not decide on deployments to web prod"},
		{"before CI passed", ci.ID, "slack:U2", false, bot.ECONFLICT, "once its CI has passed"},
		{"env without approvals", dev.ID, "slack:U2", false, bot.EINVALID, "needs no approval"},
		{"no such deployment", 999, "slack:U2", false, bot.ENOTFOUND, ""},
		{"allowed other", waiting.ID, "slack:U2", false, "", "1 of 1 approvals"},
		{"allowed other again", waiting.ID, "slack:U2", false, bot.ECONFLICT, "you approved deployment #1 already"},
		{"rejected by the requester", waiting.ID, "slack:U1", true, "", "rejected by <@U1>"},
		{"rejected twice", waiting.ID, "slack:U2", true, bot.ECONFLICT, "is failed; only a deployment waiting for approval can be rejected"},
	} {
		var (
			msg bot.Message
			err error
		)
		if tc.reject {
			msg, err = s.RejectDeployment(ctx, tc.id, tc.who, "")
		} else {
			msg, err = s.Approve(ctx, tc.id, tc.who)
		}
		if bot.ErrorCode(err) != tc.code && !(tc.code == "" && err == nil) {
			t.Errorf("%s: error %v (%s); want code %q", tc.name, err, bot.ErrorCode(err), tc.code)
			continue
		}
		got := msg.Text
		if err != nil {
			got = bot.ErrorMessage(err)
		}
		if !strings.Contains(got, tc.says) {
			t.Errorf("%s: said %q; want %q in it", tc.name, got, tc.says)
		}
	}
	approvals, err := db.Approvals.Approvals(ctx, waiting.ID)
	if err != nil || len(approvals) != 1 || approvals[0].Approver != "slack:U2" {
		t.Errorf("recorded approvals %+v, %v; want slack:U2's alone", approvals, err)
	}
	if d, _ := db.Deployment(ctx, waiting.ID); d.State != bot.StateFailed || d.Reason != "rejected by slack:U1" {
		t.Errorf("rejected deployment is %s (%s)", d.State, d.Reason)
	}
}

// An auto deployment waiting for approval has not reached AWS: a newer
// push supersedes it.
func TestNewerPushSupersedesOneWaitingForApproval(t *testing.T) {
	ctx := context.Background()
	s, db := approvalWorld(t)
	t0 := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	older, err := s.AutoDeploy(ctx, bot.Push{Repo: bot.Repo{FullName: "acme/web"}, Branch: "main", SHA: strings.Repeat("a", 40), Pusher: "octocat", At: t0})
	if err != nil || len(older) != 1 {
		t.Fatalf("first push: %v, %v", older, err)
	}
	waiting := older[0]
	waiting.State = bot.StateWaitingForApproval
	if err := db.UpdateDeployment(ctx, waiting); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AutoDeploy(ctx, bot.Push{Repo: bot.Repo{FullName: "acme/web"}, Branch: "main", SHA: strings.Repeat("b", 40), Pusher: "octocat", At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if d, _ := db.Deployment(ctx, waiting.ID); d.State != bot.StateSuperseded || !strings.Contains(d.Reason, "superseded by #2 (bbbbbbb)") {
		t.Errorf("older push waiting for approval is %s (%s); want superseded by #2", d.State, d.Reason)
	}
}

// One approval: checks, the store's write and read, the timeline line and
// the wake. go test -bench Approve ./bot (numbers in docs/benchmarks.md).
func BenchmarkApprove(b *testing.B) {
	ctx := context.Background()
	s, db := approvalWorld(b)
	ids := make([]int64, b.N)
	for i := range ids {
		ids[i] = storedDeployment(b, db, "prod", bot.StateWaitingForApproval).ID
	}
	b.ResetTimer()
	for _, id := range ids {
		if _, err := s.Approve(ctx, id, "slack:U2"); err != nil {
			b.Fatal(err)
		}
	}
}
