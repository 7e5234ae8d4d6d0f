package dispatch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
	"github.com/deploybot/deploybot/dispatch"
)

// A deployment a `deploybot serve` on the same store claimed between its
// creation and RunOne's claim runs there: RunOne says so, and runs nothing.
func TestRunOneOfADeploymentTakenElsewhere(t *testing.T) {
	ctx := context.Background()
	clock := bottest.NewClock()
	store := bottest.NewStore(clock.Now)
	d := &bot.Deployment{App: "web", Env: "dev", Repo: "acme/web", Ref: "main", Requester: "cli:me", Source: bot.SourceCLI, State: bot.StateReceived}
	if err := store.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ClaimDeployment(ctx, d.ID, "serve-replica", clock.Now(), clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	runs := 0
	dsp := &dispatch.Dispatcher{Store: store, Runner: runnerFunc(func() { runs++ }), Owner: "cli", Now: clock.Now}
	err := dsp.RunOne(ctx, d)
	if !errors.Is(err, dispatch.ErrTakenElsewhere) || runs != 0 {
		t.Fatalf("RunOne = %v after %d runs; want ErrTakenElsewhere and no run", err, runs)
	}
}

type runnerFunc func()

func (f runnerFunc) RunClaimed(context.Context, *bot.Deployment, func(context.Context)) error {
	f()
	return nil
}

func (f runnerFunc) Run(context.Context, *bot.Deployment) error {
	f()
	return nil
}
