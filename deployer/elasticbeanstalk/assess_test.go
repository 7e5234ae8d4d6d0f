package elasticbeanstalk

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk/types"

	"github.com/deploybot/deploybot/bot"
)

func envState(status types.EnvironmentStatus, health types.EnvironmentHealth, hs types.EnvironmentHealthStatus, version string) types.EnvironmentDescription {
	return types.EnvironmentDescription{Status: status, Health: health, HealthStatus: hs, VersionLabel: aws.String(version)}
}

func event(severity types.EventSeverity, rid, msg string, at time.Time) types.EventDescription {
	return types.EventDescription{Severity: severity, RequestId: aws.String(rid), Message: aws.String(msg), EventDate: aws.Time(at)}
}

func TestAssess(t *testing.T) {
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		env    types.EnvironmentDescription
		events []types.EventDescription // newest first
		done   bool
		line   string
		errHas string
	}{
		{name: "green on ours", env: envState("Ready", "Green", "Ok", "ours"), done: true},
		{name: "basic health reports no status", env: envState("Ready", "Green", "", "ours"), done: true},
		{name: "green but warning", env: envState("Ready", "Green", "Warning", "ours"), line: "environment Ready, health Green (Warning)"},
		{name: "red after update", env: envState("Ready", "Red", "Severe", "ours"), line: "environment Ready, health Red (Severe)"},
		{name: "updating", env: envState("Updating", "Grey", "Info", "ours"), line: "environment Updating, health Grey (Info)"},
		{name: "reverted, green", env: envState("Ready", "Green", "Ok", "v1"), errHas: "rolled back by Elastic Beanstalk: the environment runs version v1"},
		{name: "error while updating keeps waiting", env: envState("Updating", "Grey", "Info", "ours"),
			events: []types.EventDescription{event("ERROR", "rid", "Failed to deploy application.", at)},
			line:   `environment Updating, health Grey (Info), error reported: "Failed to deploy application."`},
		{name: "error then ready on ours", env: envState("Ready", "Green", "Ok", "ours"),
			events: []types.EventDescription{
				event("ERROR", "rid", "Failed to deploy application.", at.Add(time.Second)),
				event("ERROR", "rid", "Incorrect application version found on 1 out of 2 instances.", at),
			},
			errHas: `Elastic Beanstalk reported an error while deploying version ours to web-prod: "Incorrect application version found on 1 out of 2 instances." (and 1 more ERROR events)`},
		{name: "another request's error is not ours", env: envState("Ready", "Green", "Ok", "ours"),
			events: []types.EventDescription{event("ERROR", "other", "Failed to deploy application.", at)}, done: true},
		{name: "terminated", env: envState("Terminated", "Grey", "", "ours"), errHas: "was terminated during the deploy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &watch{label: "ours", environment: "web-prod", requestID: "rid"}
			fresh := w.observe(tc.events)
			if again := w.observe(tc.events); len(again) != 0 { // a later poll sees the same events again
				t.Errorf("events reported twice: %q", again)
			}
			if len(fresh) != len(w.errors) {
				t.Errorf("observe returned %q for errors %q: each new error must be reported", fresh, w.errors)
			}
			done, line, err := w.assess(tc.env)
			if tc.errHas != "" {
				if bot.ErrorCode(err) != bot.ECONFLICT || !strings.Contains(bot.ErrorMessage(err), tc.errHas) {
					t.Errorf("got %v, want ECONFLICT containing %q", err, tc.errHas)
				}
				return
			}
			if err != nil || done != tc.done || line != tc.line {
				t.Errorf("got done=%v line=%q err=%v, want done=%v line=%q", done, line, err, tc.done, tc.line)
			}
		})
	}
}

func TestMultiContainerKeepsNumbers(t *testing.T) {
	in := `{"AWSEBDockerrunVersion":"2","containerDefinitions":[{"name":"app","image":"old","cpu":1e3,"memory":512.50}],"x":{"y":[1,2]}}`
	out, err := multiContainer([]byte(in), "v1", "app", "new")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"cpu": 1e3`, `"memory": 512.50`, `"image": "new"`, `"y": [`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
