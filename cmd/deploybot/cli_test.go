package main

import (
	"context"
	"errors"
	"net"
	"runtime/debug"
	"strings"
	"testing"
)

// TestCLI holds the command line to issue 18: --help on every command
// prints its usage and flags to stdout and succeeds; the top-level usage
// names every flag; bad flags are usage errors (exit 2).
func TestCLI(t *testing.T) {
	tests := []struct {
		args      []string
		wantUsage bool     // a usage error (exit 2); else success
		want      []string // in stdout, or in the usage error
	}{
		{[]string{"help"}, false, []string{"--config FILE", "--once", "--listen ADDR", "--url URL", "deploybot version", "deploybot deploy  APP REF ENV"}},
		{[]string{"--help"}, false, []string{"usage:\n  deploybot serve"}},
		{[]string{"serve", "--help"}, false, []string{"usage: deploybot serve [--config FILE]", "-config FILE"}},
		{[]string{"check", "--help"}, false, []string{"usage: deploybot check [--config FILE]", "-config FILE"}},
		{[]string{"check", "-h"}, false, []string{"usage: deploybot check"}},
		{[]string{"sandbox", "--help"}, false, []string{"usage: deploybot sandbox [--once] [--listen ADDR]", "-listen string", "-once"}},
		{[]string{"health", "--help"}, false, []string{"usage: deploybot health [--url URL]", "-url string"}},
		{[]string{"deploy", "--help"}, false, []string{"usage: deploybot deploy APP REF ENV [--config FILE]", "-config FILE"}},
		{[]string{"deploy", "web", "--help"}, false, []string{"usage: deploybot deploy"}},
		{[]string{"version", "--help"}, false, []string{"usage: deploybot version"}},
		{[]string{"help", "check"}, false, []string{"usage: deploybot check [--config FILE]"}},
		{[]string{"version"}, false, []string{"deploybot "}},
		{[]string{"check", "--colour"}, true, []string{"check: flag provided but not defined: -colour", "usage:"}},
		{[]string{"check", "extra"}, true, []string{"check: unexpected arguments: [extra]"}},
		{[]string{"version", "extra"}, true, []string{"version: unexpected arguments: [extra]"}},
		{[]string{"help", "nope"}, true, []string{`no command "nope"`}},
		{[]string{"nope"}, true, []string{`unknown command "nope"`}},
		{nil, true, []string{"a command is required"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut strings.Builder
			err := run(context.Background(), tt.args, &out, &errOut, func(string) string { return "" })
			var usage usageError
			if got := errors.As(err, &usage); got != tt.wantUsage || (!tt.wantUsage && err != nil) {
				t.Fatalf("err = %v, want a usage error: %v", err, tt.wantUsage)
			}
			said := out.String()
			if err != nil {
				said = err.Error()
			}
			for _, want := range tt.want {
				if !strings.Contains(said, want) {
					t.Errorf("%q does not say %q", said, want)
				}
			}
			if errOut.Len() > 0 {
				t.Errorf("printed to stderr: %q", errOut.String())
			}
		})
	}
}

func TestDescribeBuild(t *testing.T) {
	for _, tt := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{nil, "deploybot v1.2.3, go1.26.8"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "3f7091c0"}, {Key: "vcs.time", Value: "2026-12-01T04:00:00Z"}, {Key: "vcs.modified", Value: "false"}},
			"deploybot v1.2.3, commit 3f7091c0 of 2026-12-01T04:00:00Z, go1.26.8"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "3f7091c0"}, {Key: "vcs.modified", Value: "true"}},
			"deploybot v1.2.3, commit 3f7091c0 with local changes, go1.26.8"},
	} {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/deploybot/deploybot", Version: "v1.2.3"}, Settings: tt.settings}
		if got := describeBuild(bi); got != tt.want {
			t.Errorf("describeBuild = %q, want %q", got, tt.want)
		}
	}
}

// --listen is obeyed with --once, not dropped for a random port.
func TestSandboxOnceListensWhereTold(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out, errOut strings.Builder
	if err := run(context.Background(), []string{"sandbox", "--once", "--listen", addr}, &out, &errOut, func(string) string { return "" }); err != nil {
		t.Fatalf("sandbox --once: %v\n%s", err, out.String())
	}
	if want := "sandbox: bot on http://" + addr + ","; !strings.Contains(out.String(), want) {
		t.Errorf("sandbox printed:\n%s\nwant %q", out.String(), want)
	}
}
