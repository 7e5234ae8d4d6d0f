package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/store/sqlite"
)

// `deploybot deploy --dry-run` prints the plan and changes nothing;
// `deploybot promote` deploys to prod the very image dev runs.
func TestDryRunAndPromoteCommands(t *testing.T) {
	w := newCLIWorld(t)
	f, err := os.OpenFile(w.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("      prod:\n        ecs: {cluster: prod, service: takumi-api, container: api}\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	w.aws.AddService("prod", sandboxService, awsemuTaskDef())
	base := w.commit("cli release base", "main", "success")
	if code, out, errOut := w.run(t, "deploy", "takumi-server", base, "dev", "--config", w.config); code != 0 {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, out, errOut)
	}
	devTD, _ := w.aws.Service(sandboxCluster, sandboxService)
	devImage := w.aws.TaskDefinitionImage(devTD, sandboxContainer)
	head := childCommit(&sandbox{github: w.github, aws: w.aws}, base, "cli change", "alice", "success")
	writes, deployments := len(w.aws.Writes()), len(w.github.Deployments(sandboxRepo))

	code, out, errOut := w.run(t, "deploy", "takumi-server", head[:7], "dev", "--dry-run", "--config", w.config)
	if code != 0 {
		t.Fatalf("deploy --dry-run: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"Dry run: takumi-server " + head[:7] + " → dev",
		"Now: " + devImage + " (task definition " + devTD[strings.LastIndex(devTD, "/")+1:] + "), deployed by deploybot as #1 (" + base[:7] + ")",
		"CI: passed: ci/codeship success",
		"Commits that would ship: 1\n• " + head[:7] + " cli change (alice)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if n := len(w.aws.Writes()) - writes; n != 0 {
		t.Errorf("the dry run made %d AWS writes: %+v", n, w.aws.Writes()[writes:])
	}
	if n := len(w.github.Deployments(sandboxRepo)) - deployments; n != 0 {
		t.Errorf("the dry run created %d GitHub deployments", n)
	}

	code, out, errOut = w.run(t, "promote", "takumi-server", "dev", "prod", "--config", w.config)
	if code != 0 {
		t.Fatalf("promote: exit %d\n%s\n%s", code, out, errOut)
	}
	digest := strings.TrimPrefix(devImage, sandboxImage+"@")
	if want := "promoted from dev (#1, " + digest[:15] + "…)"; !strings.Contains(out, want) || !strings.Contains(out, "succeeded in") {
		t.Errorf("promote output lacks %q or success:\n%s", want, out)
	}
	prodTD, _ := w.aws.Service("prod", sandboxService)
	if got := w.aws.TaskDefinitionImage(prodTD, sandboxContainer); got != devImage {
		t.Errorf("prod runs %q; want exactly %q", got, devImage)
	}

	db, err := sqlite.Open(context.Background(), filepath.Join(w.dir, "deploybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Deployments(context.Background(), 10)
	if err != nil || len(rows) != 2 {
		t.Fatalf("store holds %d deployments (%v); want the deploy and the promotion, none for the dry run", len(rows), err)
	}
	if p := rows[0].PromotedFrom; p == nil || p.Env != "dev" || p.Deployment != 1 || p.Digest != digest {
		t.Errorf("stored promotion %+v", p)
	}
}

func TestReleaseCommandsUsage(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		wantUsage bool
		want      []string
	}{
		{[]string{"help"}, false, []string{"deploybot promote APP FROM TO [--config FILE]", "[--dry-run]"}},
		{[]string{"deploy", "--help"}, false, []string{"-dry-run\n", "print the plan only"}},
		{[]string{"promote", "--help"}, false, []string{"usage: deploybot promote APP FROM TO [--config FILE]", "-config FILE"}},
		{[]string{"promote", "web", "dev"}, true, []string{"promote needs APP FROM TO"}},
		{[]string{"promote", "web", "dev", "prod", "--dry-run"}, true, []string{"promote: unknown flag --dry-run"}},
	} {
		var out, errOut strings.Builder
		err := run(context.Background(), tc.args, &out, &errOut, func(string) string { return "" })
		var usage usageError
		if got := errors.As(err, &usage); got != tc.wantUsage || (!tc.wantUsage && err != nil) {
			t.Errorf("%q: err = %v, want a usage error: %v", tc.args, err, tc.wantUsage)
			continue
		}
		said := out.String()
		if err != nil {
			said = err.Error()
		}
		for _, want := range tc.want {
			if !strings.Contains(said, want) {
				t.Errorf("%q: %q does not say %q", tc.args, said, want)
			}
		}
	}
}
