package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// The whole sandbox scenario, logged as production logs it (JSON), holds
// none of the secrets the bot handles: signing and webhook secrets, the
// bot token, the App's private key, installation tokens, AWS keys.
func TestNoSecretsInLogs(t *testing.T) {
	var logs syncBuffer
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", &logs)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if failures := playScenario(context.Background(), sb, io.Discard); len(failures) > 0 {
		t.Fatalf("the scenario went wrong: %v", failures)
	}
	out := logs.String()
	if strings.Count(out, "\n") < 50 {
		t.Fatalf("only %d log lines: the test would prove nothing", strings.Count(out, "\n"))
	}
	// Every line must be JSON with the deployment's identity when it is
	// about one.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %s", line)
		}
		if rec["msg"] == "stage" {
			for _, key := range []string{"deployment", "app", "env", "sha"} {
				if _, ok := rec[key]; !ok {
					t.Errorf("stage line without %s: %s", key, line)
				}
			}
		}
	}
	key := sb.cfg.GitHub.PrivateKey
	keyLines := strings.Split(strings.TrimSpace(key), "\n")
	secrets := map[string]string{
		"Slack signing secret":  sandboxSigningSecret,
		"GitHub webhook secret": sandboxWebhookSecret,
		"Slack bot token":       sandboxBotToken,
		"private key header":    "PRIVATE KEY",
		"private key body":      keyLines[len(keyLines)/2],
		"AWS secret key":        sandboxAWSSecret,
		"installation token":    "ghs_",
		"response_url":          "/response/R",
	}
	for what, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("the logs hold the %s", what)
		}
	}
}
