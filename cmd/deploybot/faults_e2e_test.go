package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/faults"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/emulator/slackemu"
	"github.com/deploybot/deploybot/slackclient"
)

// Failure injection: the emulators fail the way GitHub, AWS and Slack do,
// and the pipeline must ride out what can be ridden out, say clearly what
// could not, and never report a success that did not happen.

// newFaultSandbox is a sandbox whose retry waits are short, so that the
// tests spend their time on the faults, not on backoff.
func newFaultSandbox(t *testing.T) *sandbox {
	t.Helper()
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard, func(o *options) {
		o.githubRetryBase = 10 * time.Millisecond
		o.slack = []slackclient.Option{slackclient.WithCallTimeout(300 * time.Millisecond), slackclient.WithOutageCooldown(time.Minute)}
		o.awsOptions = append(o.awsOptions, awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) { so.MaxBackoff = 20 * time.Millisecond })
		}))
	})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)
	return sb
}

func githubStates(sb *sandbox, d *bot.Deployment) string {
	return strings.Join(sb.githubStatuses(d), " ")
}

// Passing failures everywhere at once: GitHub 5xx and rate limits, a lost
// answer to "create deployment", AWS throttling and 5xx, slow answers.
// The deployment succeeds, exactly once, and says so everywhere.
func TestTransientFailuresAreRiddenOut(t *testing.T) {
	sb := newFaultSandbox(t)
	sha := sb.commit("faults transient", "main", "success", true)

	gh := sb.github
	gh.Inject(faults.Rule{Match: githubemu.Route("GET", "/repos/*/*/commits/*"), Times: 1, Respond: githubemu.SecondaryRateLimit(time.Second)})
	gh.Inject(faults.Rule{Match: githubemu.Route("POST", "/repos/*/*/deployments"), Times: 1, Respond: gh.LoseAnswer(http.StatusGatewayTimeout)})
	gh.Inject(faults.Rule{Match: githubemu.Route("POST", "/repos/*/*/deployments/*/statuses"), Times: 2, Respond: githubemu.ServerError(http.StatusBadGateway)})
	gh.Inject(faults.Rule{Match: githubemu.Route("GET", "/repos/*/*/commits/*/check-runs"), Times: 1, Respond: githubemu.ServerError(http.StatusServiceUnavailable)})
	gh.Inject(faults.Rule{Delay: 50 * time.Millisecond}) // every other call is slow

	sb.aws.Inject(faults.Rule{Match: awsemu.Op("ecr.DescribeImages"), Times: 1, Respond: awsemu.Throttle})
	sb.aws.Inject(faults.Rule{Match: awsemu.Op("ecs.RegisterTaskDefinition"), Times: 1, Respond: awsemu.Unavailable})
	sb.aws.Inject(faults.Rule{Match: awsemu.Op("ecs.UpdateService"), Times: 2, Respond: awsemu.Throttle})
	// Four failures in a row during the rollout outlast one poll's SDK
	// retries: the poll after is what must carry on.
	describe := awsemu.Op("ecs.DescribeServices")
	sb.aws.Inject(faults.Rule{Match: func(r *http.Request) bool {
		return describe(r) && sb.aws.CallCount("ecs.UpdateService") > 0
	}, Times: 4, Respond: awsemu.Unavailable})
	sb.aws.Inject(faults.Rule{Delay: 30 * time.Millisecond})

	d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
	if d.State != bot.StateSucceeded {
		t.Fatalf("deployment %s (%s); want succeeded", d.State, d.Reason)
	}
	if deps := sb.github.Deployments(sandboxRepo); len(deps) != 1 || deps[0].ID != d.GitHubDeploymentID {
		t.Fatalf("GitHub has %d deployments; want exactly the one deploybot recorded", len(deps))
	}
	if got := githubStates(sb, d); got != "queued in_progress success" {
		t.Errorf("GitHub statuses %q; want queued in_progress success", got)
	}
	if n := sb.aws.CallCount("ecs.RegisterTaskDefinition"); n != 1 {
		t.Errorf("%d task definitions registered; want 1", n)
	}
	if n := sb.aws.CallCount("ecs.UpdateService"); n != 1 {
		t.Errorf("UpdateService took effect %d times; want 1", n)
	}
	td, _ := sb.aws.Service(sandboxCluster, sandboxService)
	if image := sb.aws.TaskDefinitionImage(td, sandboxContainer); image != d.Image {
		t.Errorf("ECS runs %q; want %q", image, d.Image)
	}
	events, err := sb.bot.store.Events(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var timeline []string
	for _, e := range events {
		timeline = append(timeline, e.Message)
	}
	if !strings.Contains(strings.Join(timeline, "\n"), "AWS did not answer the last poll (AWS ECS DescribeServices failed 3 times: ServiceUnavailableException") {
		t.Errorf("the timeline does not say that a poll went unanswered:\n%s", strings.Join(timeline, "\n"))
	}
	if msgs := sb.slack.Messages(sandboxChannel); len(msgs) != 1 || !strings.Contains(msgs[0].Text, "Succeeded") {
		t.Errorf("Slack shows %+v; want one message saying Succeeded", msgs)
	}
}

// Failures that outlast the retries end the deployment as failed, with a
// reason naming the service and its answer, GitHub status "error", and
// nothing claimed that did not happen.
func TestLastingFailuresAreReportedClearly(t *testing.T) {
	for _, tc := range []struct {
		name       string
		inject     func(sb *sandbox)
		wantReason string
		deployment bool // whether a GitHub deployment exists to carry the error
	}{
		{
			name: "GitHub 502 on resolving the ref",
			inject: func(sb *sandbox) {
				sb.github.Inject(faults.Rule{Match: githubemu.Route("GET", "/repos/*/*/commits/*"), Respond: githubemu.ServerError(http.StatusBadGateway)})
			},
			wantReason: `GitHub answered 502 Bad Gateway (resolving "main" in takumi/takumi-server)`,
		},
		{
			name: "GitHub rate limit on creating the deployment",
			inject: func(sb *sandbox) {
				sb.github.Inject(faults.Rule{Match: githubemu.Route("POST", "/repos/*/*/deployments"), Respond: githubemu.SecondaryRateLimit(5 * time.Minute)})
			},
			wantReason: "GitHub is rate-limiting deploybot; it asks to wait 5m0s",
		},
		{
			name: "AWS throttling UpdateService",
			inject: func(sb *sandbox) {
				sb.aws.Inject(faults.Rule{Match: awsemu.Op("ecs.UpdateService"), Respond: awsemu.Throttle})
			},
			wantReason: "AWS ECS UpdateService failed 3 times: ThrottlingException: Rate exceeded",
			deployment: true,
		},
		{
			name: "ECR unavailable",
			inject: func(sb *sandbox) {
				sb.aws.Inject(faults.Rule{Match: awsemu.Op("ecr.DescribeImages"), Respond: awsemu.Unavailable})
			},
			wantReason: "AWS ECR DescribeImages failed 3 times: ServiceUnavailableException",
			deployment: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newFaultSandbox(t)
			sb.commit("faults lasting", "main", "success", true)
			before, _ := sb.aws.Service(sandboxCluster, sandboxService)
			tc.inject(sb)

			d := slashDeploy(t, sb, "takumi-server main dev")
			if d.State != bot.StateFailed || !strings.Contains(d.Reason, tc.wantReason) {
				t.Fatalf("deployment %s (%q); want failed saying %q", d.State, d.Reason, tc.wantReason)
			}
			if after, _ := sb.aws.Service(sandboxCluster, sandboxService); after != before {
				t.Errorf("service moved from %s to %s", before, after)
			}
			if tc.deployment {
				states := sb.githubStatuses(d)
				if len(states) == 0 || states[len(states)-1] != "error" || strings.Contains(strings.Join(states, " "), "success") {
					t.Errorf("GitHub statuses %v; want ending in error, no success", states)
				}
			} else if n := len(sb.github.Deployments(sandboxRepo)); n != 0 {
				t.Errorf("GitHub has %d deployments; want none", n)
			}
			msgs := sb.slack.Messages(sandboxChannel)
			said := ""
			for _, m := range msgs {
				said += m.Text
			}
			for _, r := range sb.slack.Responses(d.SlackResponseURL) {
				said += r.Text
			}
			if !strings.Contains(said, tc.wantReason) {
				t.Errorf("Slack was not told %q; it shows %q", tc.wantReason, said)
			}
		})
	}
}

// A Slack outage, down or hung, neither blocks a deployment nor costs it
// any GitHub status.
func TestSlackOutageBlocksNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault faults.Rule
	}{
		{"down", faults.Rule{Match: slackemu.Method("chat.postMessage"), Respond: slackemu.Unavailable}},
		{"hung", faults.Rule{Delay: 2 * time.Second, Respond: slackemu.Unavailable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newFaultSandbox(t)
			sha := sb.commit("faults slack "+tc.name, "main", "success", true)
			sb.slack.Inject(tc.fault)
			sb.slack.Inject(faults.Rule{Match: slackemu.Method("chat.update"), Respond: slackemu.Unavailable})

			d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
			if d.State != bot.StateSucceeded {
				t.Fatalf("deployment %s (%s); want succeeded while Slack is out", d.State, d.Reason)
			}
			if got := githubStates(sb, d); got != "queued in_progress success" {
				t.Errorf("GitHub statuses %q; want queued in_progress success", got)
			}
			if hits := sb.slack.FaultHits(); hits == 0 || hits > 2 {
				t.Errorf("Slack was tried %d times during the outage; want one or two, then no more", hits)
			}
		})
	}
}

// GitHub failing just when the final status is due: it is tried again
// until it lands, so GitHub does not show the deployment in progress
// forever.
func TestFinalStatusOutlivesAGitHubOutage(t *testing.T) {
	sb := newFaultSandbox(t)
	sha := sb.commit("faults final status", "main", "success", true)
	statuses := githubemu.Route("POST", "/repos/*/*/deployments/*/statuses")
	// Let queued and in_progress through, then fail every status for a
	// while: the transport's own retries give up, the pipeline's do not.
	sb.github.Inject(faults.Rule{Match: statuses, Times: 2})
	sb.github.Inject(faults.Rule{Match: statuses, Times: 12, Respond: githubemu.ServerError(http.StatusServiceUnavailable)})

	d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
	if d.State != bot.StateSucceeded {
		t.Fatalf("deployment %s (%s); want succeeded", d.State, d.Reason)
	}
	if got := githubStates(sb, d); got != "queued in_progress success" {
		t.Errorf("GitHub statuses %q; want the final success to have landed", got)
	}
}

// A PR comment is handled inside its webhook, which GitHub gives 10 s: a
// GitHub too slow to answer the handling's own calls gets a 503 in time,
// nothing is deployed, and the comment is left for a redelivery.
func TestSlowGitHubCommentAnsweredInTime(t *testing.T) {
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard, func(o *options) {
		o.githubRetryBase = 10 * time.Millisecond
		o.commentTimeout = 300 * time.Millisecond
	})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)
	head := sb.commit("faults slow comment", "feature/slow", "success", true)
	sb.github.AddPullRequest(sandboxRepo, 12, head, "feature/slow", sandboxWriter)
	sb.github.Inject(faults.Rule{Match: githubemu.Route("GET", "/repos/*/*/collaborators/*/permission"), Delay: 2 * time.Second, Respond: githubemu.ServerError(http.StatusGatewayTimeout)})

	began := time.Now()
	id, _ := sb.github.UserComment(sandboxRepo, 12, sandboxWriter, "deploy to dev") // the 503 is an error to it
	took := time.Since(began)
	var answered *githubemu.Delivery
	for _, dl := range sb.github.Deliveries() {
		if dl.Event == "issue_comment" {
			answered = &dl
		}
	}
	if answered == nil || answered.StatusCode != http.StatusServiceUnavailable || took >= 2*time.Second {
		t.Fatalf("comment webhook answered %+v after %s; want 503 before GitHub's slow answer", answered, took)
	}
	if ds, _ := sb.bot.store.Deployments(context.Background(), 10); len(ds) != 0 {
		t.Errorf("%d deployments stored; want none", len(ds))
	}
	first, err := sb.bot.store.RecordDelivery(context.Background(), fmt.Sprintf("issue_comment:%s:%d", sandboxRepo, id), "issue_comment")
	if err != nil || !first {
		t.Errorf("the comment is still marked handled (%v); a redelivery would be ignored", err)
	}
}
