package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/githubemu"
)

// exampleEnv sets every variable deploybot.example.yaml names.
func exampleEnv(name string) string {
	if name == "GITHUB_APP_PRIVATE_KEY" {
		return string(testKeyPEM())
	}
	return map[string]string{
		"GITHUB_APP_ID": "12345", "GITHUB_WEBHOOK_SECRET": "w", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
		"DEPLOYBOT_DASHBOARD_TOKEN": "t", "DEPLOYBOT_DASHBOARD_PASSWORD": "p",
	}[name]
}

// testKeyPEM is a GitHub App key, made once: check parses it as serve does.
var testKeyPEM = sync.OnceValue(func() []byte {
	_, pemBytes, err := githubemu.GenerateKey()
	if err != nil {
		panic(err)
	}
	return pemBytes
})

// The example config shipped at the root must stay valid, and `deploybot
// check` must say so.
func TestExampleConfigChecks(t *testing.T) {
	var out, errOut strings.Builder
	err := run(context.Background(), []string{"check", "--config", "../../deploybot.example.yaml"}, &out, &errOut, exampleEnv)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if !strings.Contains(out.String(), "is valid") || !strings.Contains(out.String(), "takumi-server → dev (elasticbeanstalk), prod (ecs)") {
		t.Errorf("check printed %q", out.String())
	}
	// Warnings are printed, one a line, at the line of what they are
	// about, and check still succeeds.
	example, err := os.ReadFile("../../deploybot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	devLine := slices.Index(strings.Split(string(example), "\n"), "      dev:") + 1
	if want := fmt.Sprintf("warning: line %d: apps.takumi-server.environments.dev: no allow list", devLine); devLine == 0 || !strings.HasPrefix(out.String(), want) {
		t.Errorf("check printed %q, want it to start with %q", out.String(), want)
	}
	err = run(context.Background(), []string{"check", "--config", "../../deploybot.example.yaml"}, &out, &errOut, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "GITHUB_APP_ID is not set") {
		t.Errorf("check without the environment: %v", err)
	}
}

// `deploybot check` refuses what serve would refuse at start-up, every
// problem at once, one line each, in the order of the file.
func TestCheckRefusesWhatServeWould(t *testing.T) {
	example, err := os.ReadFile("../../deploybot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "deploybot.yaml")
	bad := strings.Replace(string(example), "region: us-east-1", "region: us-east-9", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "GITHUB_APP_PRIVATE_KEY" {
			return "junk"
		}
		return exampleEnv(k)
	}
	var out, errOut strings.Builder
	err = run(context.Background(), []string{"check", "--config", path}, &out, &errOut, getenv)
	if err == nil {
		t.Fatalf("check accepted it; printed %q", out.String())
	}
	want := "config " + path + ":\n" +
		"line 9: github.private_key: not a GitHub App private key: want the RSA key in PEM form (the .pem file GitHub gives, -----BEGIN RSA PRIVATE KEY-----)\n" +
		`line 22: aws.region: "us-east-9" is not an AWS region (did you mean us-east-1?)`
	if err.Error() != want {
		t.Errorf("check said:\n%v\nwant:\n%s", err, want)
	}
}

// `deploybot check` never prints the store's password: not in its summary
// of a valid config, not in the error for a store it refuses (a typo in
// the scheme, a key=value DSN), where the whole DSN used to be quoted.
func TestCheckDoesNotPrintTheStorePassword(t *testing.T) {
	const password = "hunter2-s3cret"
	for _, tt := range []struct {
		name, dsn string
		valid     bool
	}{
		{"postgres URL", "postgres://deploybot:" + password + "@db.example.com:5432/deploybot?sslmode=require", true},
		{"scheme typo", "postgress://deploybot:" + password + "@db.example.com:5432/deploybot", false},
		{"key=value", "host=db.example.com user=deploybot password=" + password + " dbname=deploybot", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			example, err := os.ReadFile("../../deploybot.example.yaml")
			if err != nil {
				t.Fatal(err)
			}
			withStore := regexp.MustCompile(`(?m)^store: .*$`).ReplaceAllLiteral(example, []byte("store: ${DATABASE_URL}"))
			if bytes.Equal(withStore, example) {
				t.Fatal("deploybot.example.yaml has no store: line to replace")
			}
			path := filepath.Join(t.TempDir(), "deploybot.yaml")
			if err := os.WriteFile(path, withStore, 0o600); err != nil {
				t.Fatal(err)
			}
			getenv := func(k string) string {
				if k == "DATABASE_URL" {
					return tt.dsn
				}
				return exampleEnv(k)
			}
			var out, errOut strings.Builder
			err = run(context.Background(), []string{"check", "--config", path}, &out, &errOut, getenv)
			printed := out.String() + errOut.String()
			if err != nil {
				printed += err.Error() // what main prints
			}
			if (err == nil) != tt.valid {
				t.Fatalf("check: err = %v, want valid %v; printed:\n%s", err, tt.valid, printed)
			}
			if strings.Contains(printed, password) {
				t.Errorf("check printed the password:\n%s", printed)
			}
			if !strings.Contains(printed, "xxxxx") {
				t.Errorf("check did not name the store (redacted):\n%s", printed)
			}
		})
	}
}

// serve says at start-up when the dashboard, /api and /metrics are closed
// to everyone or open to anyone, and says nothing when they sit behind
// credentials.
func TestDashboardAccess(t *testing.T) {
	for _, tt := range []struct {
		c    bot.DashboardConfig
		want string
	}{
		{bot.DashboardConfig{}, "answer 401 to everyone"},
		{bot.DashboardConfig{Public: true}, "are public"},
		{bot.DashboardConfig{Token: "t"}, ""},
		{bot.DashboardConfig{Username: "u", Password: "p"}, ""},
	} {
		got := dashboardAccess(tt.c)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("dashboardAccess(%+v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}
