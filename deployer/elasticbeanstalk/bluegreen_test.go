package elasticbeanstalk_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
)

const (
	liveCNAME = "shop.us-east-1.elasticbeanstalk.com"
	idleCNAME = "shop-idle.us-east-1.elasticbeanstalk.com"
)

// setupBlueGreen adds shop-blue (live, on v1) and shop-green (idle, on
// v0) to the fixture's emulator.
func setupBlueGreen(t *testing.T) *fixture {
	f := setup(t, nil)
	f.emu.AddEBEnvironment("web", "shop-blue", liveCNAME, "v1")
	f.emu.AddEBEnvironment("web", "shop-green", idleCNAME, "v0")
	return f
}

func blueGreenEnv() *bot.Environment {
	return &bot.Environment{
		Name: "prod", App: "web",
		ElasticBeanstalk: &bot.EBTarget{
			Application: "web", Bucket: "eb-bucket", Dockerrun: bot.DockerrunV1,
			BlueGreen: &bot.EBBlueGreen{Environments: []string{"shop-blue", "shop-green"}, CNAMEPrefix: "shop"},
		},
		Timeout: bot.Duration(time.Minute),
	}
}

func (f *fixture) env(t *testing.T, name string) awsemu.EBEnvironment {
	t.Helper()
	e, ok := f.emu.EBEnvironment(name)
	if !ok {
		t.Fatalf("no environment %s", name)
	}
	return e
}

func TestBlueGreenDeploysIdleThenSwaps(t *testing.T) {
	f := setupBlueGreen(t)
	rollout, lines, err := f.deploy(t, deployment(), blueGreenEnv())
	if err != nil {
		t.Fatalf("Deploy: %v; lines %q", err, lines)
	}
	green, blue := f.env(t, "shop-green"), f.env(t, "shop-blue")
	if green.VersionLabel != label || green.CNAME != liveCNAME {
		t.Errorf("shop-green: %s on %s, want %s on the live CNAME", green.VersionLabel, green.CNAME, label)
	}
	if blue.VersionLabel != "v1" || blue.CNAME != idleCNAME {
		t.Errorf("shop-blue: %s on %s, want v1 (untouched) on the idle CNAME", blue.VersionLabel, blue.CNAME)
	}
	if n := f.emu.EBSwaps(); n != 1 {
		t.Errorf("%d swaps, want 1", n)
	}
	if rollout.EnvironmentURL != "http://"+liveCNAME {
		t.Errorf("EnvironmentURL %q", rollout.EnvironmentURL)
	}
	joined := strings.Join(lines, "\n")
	for _, want := range []string{"shop-blue is live, deploying to shop-green", "swapping CNAMEs: shop.* moves from shop-blue to shop-green", "CNAME swap in progress", "shop-green is live on version " + label} {
		if !strings.Contains(joined, want) {
			t.Errorf("no progress line %q in %q", want, lines)
		}
	}
}

func TestBlueGreenFailedUpdateDoesNotSwap(t *testing.T) {
	f := setupBlueGreen(t)
	f.emu.FailEBUpdates("shop-green", true)
	_, _, err := f.deploy(t, deployment(), blueGreenEnv())
	if bot.ErrorCode(err) != bot.ECONFLICT || !strings.Contains(bot.ErrorMessage(err), "no CNAME swap: shop-blue still serves the live CNAME") {
		t.Fatalf("Deploy: %v, want a failure saying nothing was swapped", err)
	}
	if n := f.emu.CallCount("SwapEnvironmentCNAMEs"); n != 0 {
		t.Errorf("SwapEnvironmentCNAMEs called %d times after a failed update", n)
	}
	if blue := f.env(t, "shop-blue"); blue.VersionLabel != "v1" || blue.CNAME != liveCNAME {
		t.Errorf("shop-blue: %s on %s, want untouched", blue.VersionLabel, blue.CNAME)
	}
}

// After a swap the previous live environment still runs the previous
// commit: rolling back to it is a swap back, not a redeploy.
func TestBlueGreenRollbackSwapsBack(t *testing.T) {
	f := setupBlueGreen(t)
	first := deployment()
	if _, _, err := f.deploy(t, first, blueGreenEnv()); err != nil {
		t.Fatal(err)
	}
	second := &bot.Deployment{ID: 43, App: "web", Env: "prod", SHA: "0123456789abcdef0123456789abcdef01234567"}
	if _, _, err := f.deploy(t, second, blueGreenEnv()); err != nil {
		t.Fatal(err)
	}
	if blue := f.env(t, "shop-blue"); blue.CNAME != liveCNAME || !strings.HasPrefix(blue.VersionLabel, "git_0123456") {
		t.Fatalf("after the second deploy shop-blue is %+v, want live on the second commit", blue)
	}
	updates := f.emu.CallCount("UpdateEnvironment")

	rollback := &bot.Deployment{ID: 44, App: "web", Env: "prod", SHA: sha, RollbackOf: 43}
	rollout, lines, err := f.deploy(t, rollback, blueGreenEnv())
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if n := f.emu.CallCount("UpdateEnvironment"); n != updates {
		t.Errorf("the rollback updated an environment (%d UpdateEnvironment calls, want none)", n-updates)
	}
	if green := f.env(t, "shop-green"); green.CNAME != liveCNAME || green.VersionLabel != label {
		t.Errorf("after the rollback shop-green is %+v, want live on %s", green, label)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "shop-green still runs version "+label+" of this commit: swapping back, no redeploy") {
		t.Errorf("no swap-back line in %q", lines)
	}
	if !strings.Contains(rollout.Detail, label) {
		t.Errorf("Detail %q does not name %s", rollout.Detail, label)
	}
}

func TestBlueGreenNeedsOneLiveEnvironment(t *testing.T) {
	f := setup(t, nil)
	f.emu.AddEBEnvironment("web", "shop-blue", idleCNAME, "v1")
	f.emu.AddEBEnvironment("web", "shop-green", "shop-other.us-east-1.elasticbeanstalk.com", "v0")
	_, _, err := f.deploy(t, deployment(), blueGreenEnv())
	if bot.ErrorCode(err) != bot.ECONFLICT || !strings.Contains(bot.ErrorMessage(err), "exactly one of shop-blue and shop-green must hold the CNAME shop.*, 0 do") {
		t.Fatalf("Deploy: %v", err)
	}
	if n := f.emu.CallCount("UpdateEnvironment"); n != 0 {
		t.Errorf("UpdateEnvironment called %d times", n)
	}
}

// A deploy that stopped while its swap went through is resumed without a
// second swap, which would put the old version back on the live CNAME.
func TestBlueGreenResumedDuringTheSwapSwapsOnce(t *testing.T) {
	f := setupBlueGreen(t)
	ctx, cancel := context.WithCancel(context.Background())
	d := deployment()
	_, err := f.deployer.Deploy(ctx, d, blueGreenEnv(), newImage, bot.RolloutHooks{
		Progress: func(line string) {
			if strings.HasPrefix(line, "swapping CNAMEs") {
				cancel() // the process dies with the swap under way
			}
		},
		Checkpoint: func(ref string) error { d.RolloutRef = ref; return nil },
	})
	if err == nil || d.RolloutRef != label {
		t.Fatalf("first attempt: %v, checkpoint %q; want it cut off after checkpointing %s", err, d.RolloutRef, label)
	}
	if n := f.emu.EBSwaps(); n != 1 {
		t.Fatalf("%d swaps before the resume, want 1", n)
	}
	d.Attempts = 2
	if _, lines, err := f.deploy(t, d, blueGreenEnv()); err != nil {
		t.Fatalf("resumed Deploy: %v; lines %q", err, lines)
	}
	if n := f.emu.EBSwaps(); n != 1 {
		t.Errorf("%d swaps after the resume, want still 1", n)
	}
	if green := f.env(t, "shop-green"); green.CNAME != liveCNAME || green.VersionLabel != label {
		t.Errorf("shop-green %+v, want live on %s", green, label)
	}
}

// A label that looks like this commit's but was not made by deploybot for
// it is no reason to skip the deploy.
func TestBlueGreenSwapsBackOnlyToItsOwnBuild(t *testing.T) {
	f := setup(t, nil)
	f.emu.AddEBVersion("web", "git_cf7edb2-deploybot-1", []byte(awsemu.DefaultDockerrun))
	f.emu.AddEBEnvironment("web", "shop-blue", liveCNAME, "v1")
	f.emu.AddEBEnvironment("web", "shop-green", idleCNAME, "git_cf7edb2-deploybot-1")
	if _, lines, err := f.deploy(t, deployment(), blueGreenEnv()); err != nil {
		t.Fatalf("Deploy: %v; lines %q", err, lines)
	}
	if n := f.emu.CallCount("UpdateEnvironment"); n != 1 {
		t.Errorf("UpdateEnvironment called %d times, want 1: the idle env's version is not this deployment's build", n)
	}
	if green := f.env(t, "shop-green"); green.VersionLabel != label || green.CNAME != liveCNAME {
		t.Errorf("shop-green %+v, want live on %s", green, label)
	}
}
