package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
)

// readEnvFile reads the sandbox's env file as a shell would source it:
// KEY='value' lines, comments skipped.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(value, "'") || !strings.HasSuffix(value, "'") {
			t.Fatalf("env file line %q is not KEY='value'", line)
		}
		vars[key] = strings.ReplaceAll(value[1:len(value)-1], `'\''`, "'")
	}
	return vars
}

// TestCLIAgainstSandbox points `deploybot check` and `deploybot deploy`
// at a running sandbox through the files it wrote, as its printed
// commands do.
func TestCLIAgainstSandbox(t *testing.T) {
	sb := newTestSandbox(t)
	vars := readEnvFile(t, sb.files.Env)
	// The AWS SDK reads its endpoint and credentials from the process
	// environment, not through deploybot's getenv.
	for key, value := range vars {
		if strings.HasPrefix(key, "AWS_") {
			t.Setenv(key, value)
		}
	}
	getenv := func(key string) string {
		if v, ok := vars[key]; ok {
			return v
		}
		return os.Getenv(key)
	}
	ctx := context.Background()

	var out, errs bytes.Buffer
	if err := run(ctx, []string{"check", "--config", sb.files.Config}, &out, &errs, getenv); err != nil {
		t.Fatalf("check: %v\n%s%s", err, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "is valid") || !strings.Contains(out.String(), sandboxApp) {
		t.Errorf("check said:\n%s", out.String())
	}

	sha := sb.commit("cli against the sandbox", "main", "success", true)
	out.Reset()
	errs.Reset()
	if err := run(ctx, []string{"deploy", sandboxApp, "main", "dev", "--config", sb.files.Config}, &out, &errs, getenv); err != nil {
		t.Fatalf("deploy: %v\n%s%s", err, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "succeeded") {
		t.Errorf("deploy said:\n%s", out.String())
	}
	td, _ := sb.aws.Service(sandboxCluster, sandboxService)
	d, err := sb.latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.SHA != sha || d.Source != bot.SourceCLI || sb.aws.TaskDefinitionImage(td, sandboxContainer) != d.Image {
		t.Errorf("the sandbox's store has #%d of %s from %s, image %s; its ECS runs %s", d.ID, d.ShortSHA(), d.Source, d.Image, sb.aws.TaskDefinitionImage(td, sandboxContainer))
	}
	// The running sandbox's Slack shows the terminal's deployment too.
	if history := sb.slackHistory(d); len(history) == 0 || !strings.Contains(history[len(history)-1], "Succeeded") {
		t.Errorf("Slack shows #%d as %q", d.ID, history)
	}
}
