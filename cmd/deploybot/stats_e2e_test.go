package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
)

// A Slack deploy stores its commit's time (from the resolve, at no extra
// GitHub call), so `/deploy stats` knows its lead time.
func TestSlackStats(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("stats", "main", "success", true)
	d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
	if d.State != bot.StateSucceeded || d.CommittedAt.IsZero() {
		t.Fatalf("deployment %s (%s), committed at %s; want succeeded with its commit time", d.State, d.Reason, d.CommittedAt)
	}
	code, reply, err := sb.slash(context.Background(), sandboxUser, "stats takumi-server dev")
	if err != nil || code != http.StatusOK {
		t.Fatalf("stats: %d %q %v", code, reply, err)
	}
	for _, want := range []string{"7d: 1 deploy (", "30d: 1 deploy (", "lead time ", "(median of 1)", "change failure 0/1 (0%)"} {
		if !strings.Contains(reply, want) {
			t.Errorf("stats reply %q; want it to say %q", reply, want)
		}
	}
	if strings.Contains(reply, "lead time unknown") {
		t.Errorf("stats reply %q: the lead time should be known", reply)
	}
}
