package elasticbeanstalk_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
)

// Against an endpoint that ignores name filters and lists everything,
// the deployer still works on the environment it was told, and still
// notices a missing application.
func TestNamesInAnswersAreChecked(t *testing.T) {
	f := setup(t, func(emu *awsemu.Server) {
		emu.AddEBEnvironment("api", "api-prod", "api-prod.us-east-1.elasticbeanstalk.com", "a1")
	})
	f.emu.IgnoreEBFilters(true)
	if _, lines, err := f.deploy(t, deployment(), prodEnv()); err != nil {
		t.Fatalf("Deploy: %v; lines %q", err, lines)
	}
	if e, _ := f.emu.EBEnvironment("web-prod"); e.VersionLabel != label {
		t.Errorf("web-prod runs %q, want %q", e.VersionLabel, label)
	}
	if e, _ := f.emu.EBEnvironment("api-prod"); e.VersionLabel != "a1" {
		t.Errorf("api-prod runs %q, want it untouched", e.VersionLabel)
	}

	env := prodEnv()
	env.ElasticBeanstalk.Application = "nope"
	if _, _, err := f.deploy(t, &bot.Deployment{ID: 43, App: "web", Env: "prod", SHA: sha}, env); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("missing application: %v, want ENOTFOUND", err)
	}
}

func TestRollingDeployReportsInstancesOnTheNewVersion(t *testing.T) {
	f := setup(t, nil)
	f.emu.SetEBUpdatePolls(4)
	f.emu.SetEBRollingInstances("web-prod", 4)
	_, lines, err := f.deploy(t, deployment(), prodEnv())
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	var got []string
	for _, l := range lines {
		if _, n, ok := strings.Cut(l, "instances on the new version "); ok {
			got = append(got, n)
		}
	}
	if want := []string{"1/4", "2/4", "3/4"}; !slices.Equal(got, want) {
		t.Errorf("instance progress %q, want %q; lines %q", got, want, lines)
	}
}

func TestBasicHealthIsAskedOnce(t *testing.T) {
	f := setup(t, nil)
	f.emu.SetEBUpdatePolls(4)
	if _, lines, err := f.deploy(t, deployment(), prodEnv()); err != nil {
		t.Fatalf("Deploy: %v; lines %q", err, lines)
	}
	if n := f.emu.CallCount("DescribeInstancesHealth"); n != 1 {
		t.Errorf("DescribeInstancesHealth called %d times on a basic-health environment, want 1", n)
	}
}
