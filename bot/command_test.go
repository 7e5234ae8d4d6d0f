package bot

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSlackCommand(t *testing.T) {
	deploy := func(app, ref, env string) Command {
		return Command{Kind: CommandDeploy, App: app, Ref: ref, Env: env}
	}
	tests := []struct {
		text string
		want Command
	}{
		{"takumi-server cf7edb2 dev", deploy("takumi-server", "cf7edb2", "dev")},
		{"  takumi-server   main  prod ", deploy("takumi-server", "main", "prod")},
		{"takumi-server v1.2.3 to dev", deploy("takumi-server", "v1.2.3", "dev")},
		{"takumi-server v1.2.3 TO dev", deploy("takumi-server", "v1.2.3", "dev")},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(ParseSlackCommand(tt.text), tt.want); diff != "" {
			t.Errorf("ParseSlackCommand(%q) (-got +want):\n%s", tt.text, diff)
		}
	}
}

func TestParseSlackCommandReplies(t *testing.T) {
	tests := []struct {
		text     string
		contains string
	}{
		{"", "Tell me what to deploy"},
		{"help", "/deploy <app> <ref> <env>"},
		{"HELP", "/deploy <app> <ref> <env>"},
		{"takumi-server dev", "could not read `takumi-server dev`"},
		{"takumi-server cf7edb2 from dev", "could not read"},
		{"a b c d e", "could not read"},
		{"status takumi-server", "`/deploy status` is not available yet"},
	}
	for _, tt := range tests {
		got := ParseSlackCommand(tt.text)
		if got.Kind == CommandDeploy {
			t.Errorf("ParseSlackCommand(%q) = deploy, want a reply", tt.text)
			continue
		}
		if !strings.Contains(got.Reply, tt.contains) {
			t.Errorf("ParseSlackCommand(%q).Reply = %q, want it to contain %q", tt.text, got.Reply, tt.contains)
		}
		if !strings.Contains(got.Reply, "Usage:") {
			t.Errorf("ParseSlackCommand(%q).Reply does not show usage: %q", tt.text, got.Reply)
		}
	}
}
