package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// The dashboard says why a deployment has not started while it waits
// (the note its wait told GitHub and Slack), and says nothing of a wait
// that is over, though the store keeps its last note.
func TestDashboardSaysWhyItWaits(t *testing.T) {
	ctx := context.Background()
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	parked := func(state bot.State, on, note string) int64 {
		t.Helper()
		d := &bot.Deployment{App: "api", Env: "dev", Repo: "octo-org/api", Ref: "main", SHA: w.shaC,
			Requester: "slack:U4", Source: bot.SourceSlack, State: state}
		if err := w.db.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if _, err := w.db.ClaimDeployment(ctx, d.ID, "replica", now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := w.db.Park(ctx, d.ID, "replica", bot.Wait{On: on, Note: note, Since: now, Until: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return d.ID
	}
	const behind = "Queued behind deployment #3 (aaaaaaa)"
	queued := parked(bot.StateQueued, bot.WaitForGate("api", "dev"), behind)
	// Through the gate now, its last park still the gate's.
	through := parked(bot.StateWaitingForCI, bot.WaitForGate("api", "dev"), "Held: api dev is locked by slack:U9")

	apiWaiting := func(id int64) string {
		t.Helper()
		resp, body := w.get(t, "/api/deployments/"+itoa(id))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/deployments/%d = %d", id, resp.StatusCode)
		}
		var j struct {
			Waiting *string `json:"waiting"`
		}
		if err := json.Unmarshal([]byte(body), &j); err != nil || j.Waiting == nil {
			t.Fatalf("API answer %s has no waiting field (%v)", body, err)
		}
		return *j.Waiting
	}
	if got := apiWaiting(queued); got != behind {
		t.Errorf("API waiting = %q, want %q", got, behind)
	}
	if got := apiWaiting(through); got != "" {
		t.Errorf("API of a deployment past its wait still says %q", got)
	}
	_, page := w.get(t, "/deployments/"+itoa(queued))
	if !strings.Contains(page, `id="waiting">`+behind+`<`) {
		t.Errorf("the deployment page does not say why it waits: %s", page)
	}
	_, page = w.get(t, "/deployments/"+itoa(through))
	if strings.Contains(page, `id="waiting"`) || strings.Contains(page, "locked by slack:U9") {
		t.Error("the deployment page still shows a wait that is over")
	}
	_, index := w.get(t, "/")
	if r := row(t, index, "inflight-"+itoa(queued)); !strings.Contains(r, behind) {
		t.Errorf("the in-flight row does not say why it waits: %s", r)
	}
	if r := row(t, index, "inflight-"+itoa(through)); strings.Contains(r, "waiting small") {
		t.Errorf("the in-flight row still shows a wait that is over: %s", r)
	}
}
