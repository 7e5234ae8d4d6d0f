package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkSlackDryRun is one `--dry-run` through the real server, from
// the signed command to the plan in the reply, against an environment
// deploybot deployed to (so the plan reads AWS and compares commits). It
// reports the bot's own time as BenchmarkSlackDeployEndToEnd does, and
// the GitHub and AWS calls each plan makes.
func BenchmarkSlackDryRun(b *testing.B) {
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	sb.aws.SetRolloutPolls(1)
	ctx := context.Background()
	base := sb.commit("bench dry run base", "main", "success", true)
	id, err := sb.slashAccepted(ctx, "takumi-server "+base[:7]+" dev")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sb.wait(ctx, id); err != nil {
		b.Fatal(err)
	}
	head := base
	for i := 1; i <= 20; i++ {
		head = childCommit(sb, head, fmt.Sprintf("bench change %d", i), "alice", "success")
	}
	text := "takumi-server " + head[:7] + " dev --dry-run"
	if _, _, err := sb.slash(ctx, sandboxUser, text); err != nil { // the installation token, cached from here on
		b.Fatal(err)
	}
	githubBefore, awsBefore, writesBefore := len(sb.github.Calls()), len(sb.aws.Calls()), len(sb.aws.Writes())
	var wall, emulators time.Duration
	for b.Loop() {
		began, emulatorsBefore := time.Now(), sb.emulatorTime.Load()
		code, reply, err := sb.slash(ctx, sandboxUser, text)
		if err != nil || code != http.StatusOK || !strings.Contains(reply, "Commits that would ship: 20") {
			b.Fatalf("dry run: %d %v %q", code, err, reply)
		}
		wall += time.Since(began)
		emulators += time.Duration(sb.emulatorTime.Load() - emulatorsBefore)
	}
	reportEndToEnd(b, sb, wall, emulators, githubBefore, awsBefore)
	if w := sb.aws.Writes(); len(w) != writesBefore {
		b.Fatalf("dry runs wrote to AWS: %+v", w[writesBefore:])
	}
}

// reportEndToEnd reports a sandbox benchmark's bot-ms/op (wall time less
// the emulators' handlers), emulator-ms/op and the API calls per op since
// githubBefore and awsBefore calls.
func reportEndToEnd(b *testing.B, sb *sandbox, wall, emulators time.Duration, githubBefore, awsBefore int) {
	n := float64(b.N)
	b.ReportMetric(float64(wall-emulators)/float64(time.Millisecond)/n, "bot-ms/op")
	b.ReportMetric(float64(emulators)/float64(time.Millisecond)/n, "emulator-ms/op")
	b.ReportMetric(float64(len(sb.github.Calls())-githubBefore)/n, "github-calls/op")
	b.ReportMetric(float64(len(sb.aws.Calls())-awsBefore)/n, "aws-calls/op")
}
