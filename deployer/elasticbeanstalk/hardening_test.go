package elasticbeanstalk_test

import (
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
