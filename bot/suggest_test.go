package bot

import (
	"strings"
	"testing"
)

func TestClosest(t *testing.T) {
	names := []string{"shop-api", "shop-web", "billing", "status", "lock"}
	tests := []struct {
		word, want string
		ok         bool
	}{
		{"shop-apj", "shop-api", true},
		{"shpo-api", "shop-api", true}, // swapped neighbours are one edit
		{"Billing", "billing", true},
		{"biling", "billing", true},
		{"stauts", "status", true},
		{"lokc", "lock", true},
		{"lx", "", false}, // two edits from lock: too far for a short word
		{"prod", "", false},
		{"shop-api", "", false}, // an exact name needs no suggestion
	}
	for _, tt := range tests {
		got, ok := closest(tt.word, names)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("closest(%q) = %q, %v; want %q, %v", tt.word, got, ok, tt.want, tt.ok)
		}
	}
}

func TestUsageHintIsOneLine(t *testing.T) {
	for _, k := range append(subcommands, CommandDeploy, CommandDryRun, CommandPromote) {
		h := UsageHint(k)
		if strings.Contains(h, "\n") || !strings.Contains(h, "`/deploy help`") || !strings.HasPrefix(h, "Usage: `/deploy ") {
			t.Errorf("UsageHint(%s) = %q, want one line with its form, pointing at /deploy help", k, h)
		}
		if k == CommandDryRun && !strings.Contains(h, "--dry-run`") {
			t.Errorf("UsageHint(%s) = %q does not show its form", k, h)
		}
		if k != CommandDeploy && k != CommandDryRun && !strings.Contains(h, "`/deploy "+string(k)) {
			t.Errorf("UsageHint(%s) = %q does not show its form", k, h)
		}
	}
}

func TestHistoryRef(t *testing.T) {
	const sha = "cf7edb2a1b2c3d4e5f60718293a4b5c6d7e8f901"
	tests := []struct {
		name string
		d    Deployment
		want string
	}{
		{"branch", Deployment{Ref: "main", SHA: sha}, "`main` (`cf7edb2`)"},
		{"tag", Deployment{Ref: "v1.2.3", SHA: sha}, "`v1.2.3` (`cf7edb2`)"},
		{"full sha", Deployment{Ref: sha, SHA: sha}, "`cf7edb2`"},
		{"short sha", Deployment{Ref: "cf7edb2a1", SHA: sha}, "`cf7edb2`"},
		{"not resolved yet", Deployment{Ref: "main"}, "`main`"},
	}
	for _, tt := range tests {
		if got := historyRef(&tt.d); got != tt.want {
			t.Errorf("%s: historyRef = %q, want %q", tt.name, got, tt.want)
		}
	}
}
