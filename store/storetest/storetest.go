// Package storetest is the conformance suite every bot.Store passes.
package storetest

import (
	"context"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Run runs the suite; open returns a new, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) bot.Store) {
	t.Run("CreateAndRead", func(t *testing.T) { testCreateAndRead(t, open(t)) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, open(t)) })
	t.Run("GitHubIDUnique", func(t *testing.T) { testGitHubIDUnique(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, open(t)) })
	t.Run("RecordDelivery", func(t *testing.T) { testRecordDelivery(t, open(t)) })
}

func newDeployment() *bot.Deployment {
	return &bot.Deployment{
		App: "takumi-server", Env: "dev", Repo: "takumi/takumi-server", Ref: "cf7edb2",
		Requester: "slack:U024BE7LH", Source: bot.SourceSlack, State: bot.StateReceived,
		SlackChannel: "C1", SlackResponseURL: "https://hooks.slack.com/commands/1/2",
	}
}

var ignoreTimes = cmpopts.IgnoreFields(bot.Deployment{}, "CreatedAt", "UpdatedAt")

func testCreateAndRead(t *testing.T, s bot.Store) {
	ctx := context.Background()
	d := newDeployment()
	if err := s.CreateDeployment(ctx, d); err != nil {
		t.Fatalf("CreateDeployment: %v", err)
	}
	if d.ID == 0 || d.CreatedAt.IsZero() {
		t.Fatalf("CreateDeployment left ID=%d CreatedAt=%v", d.ID, d.CreatedAt)
	}
	got, err := s.Deployment(ctx, d.ID)
	if err != nil {
		t.Fatalf("Deployment(%d): %v", d.ID, err)
	}
	if diff := cmp.Diff(got, d, ignoreTimes); diff != "" {
		t.Errorf("read back (-got +want):\n%s", diff)
	}
	if !got.CreatedAt.Equal(d.CreatedAt) {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, d.CreatedAt)
	}
	other := newDeployment()
	if err := s.CreateDeployment(ctx, other); err != nil {
		t.Fatalf("second CreateDeployment: %v", err)
	}
	if other.ID == d.ID {
		t.Errorf("two deployments share id %d", d.ID)
	}
}

func testUpdate(t *testing.T, s bot.Store) {
	ctx := context.Background()
	d := newDeployment()
	if err := s.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.SHA = "cf7edb2f0d6e1c5b44e7b1cbe3a6f7e8d9c0b1a2"
	d.Image = "123.dkr.ecr.us-east-1.amazonaws.com/takumi@sha256:abc"
	d.State = bot.StateFailed
	d.Reason = "CI failed"
	d.GitHubDeploymentID = 42
	d.InstallationID = 7
	d.SlackTS = "1700000000.000100"
	d.EnvironmentURL = "https://dev.example.com"
	if err := s.UpdateDeployment(ctx, d); err != nil {
		t.Fatalf("UpdateDeployment: %v", err)
	}
	got, err := s.DeploymentByGitHubID(ctx, 42)
	if err != nil {
		t.Fatalf("DeploymentByGitHubID: %v", err)
	}
	if diff := cmp.Diff(got, d, ignoreTimes); diff != "" {
		t.Errorf("after update (-got +want):\n%s", diff)
	}
	missing := newDeployment()
	missing.ID = d.ID + 1000
	if err := s.UpdateDeployment(ctx, missing); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("UpdateDeployment of a missing id: %v, want %s", err, bot.ENOTFOUND)
	}
}

func testGitHubIDUnique(t *testing.T, s bot.Store) {
	ctx := context.Background()
	a, b := newDeployment(), newDeployment()
	a.GitHubDeploymentID = 99
	if err := s.CreateDeployment(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDeployment(ctx, b); err != nil {
		t.Fatalf("a second deployment without GitHub id must be allowed: %v", err)
	}
	b.GitHubDeploymentID = 99
	if err := s.UpdateDeployment(ctx, b); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("reusing GitHub id 99 on update: %v, want %s", err, bot.ECONFLICT)
	}
	c := newDeployment()
	c.GitHubDeploymentID = 99
	if err := s.CreateDeployment(ctx, c); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("reusing GitHub id 99 on create: %v, want %s", err, bot.ECONFLICT)
	}
}

func testNotFound(t *testing.T, s bot.Store) {
	ctx := context.Background()
	if _, err := s.Deployment(ctx, 12345); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("Deployment(12345): %v, want %s", err, bot.ENOTFOUND)
	}
	if _, err := s.DeploymentByGitHubID(ctx, 12345); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("DeploymentByGitHubID(12345): %v, want %s", err, bot.ENOTFOUND)
	}
}

func testRecordDelivery(t *testing.T, s bot.Store) {
	ctx := context.Background()
	first, err := s.RecordDelivery(ctx, "72d3162e-cc78-11e3-81ab-4c9367dc0958", "deployment")
	if err != nil || !first {
		t.Fatalf("first RecordDelivery = %v, %v; want true, nil", first, err)
	}
	again, err := s.RecordDelivery(ctx, "72d3162e-cc78-11e3-81ab-4c9367dc0958", "deployment")
	if err != nil || again {
		t.Fatalf("repeated RecordDelivery = %v, %v; want false, nil", again, err)
	}
	other, err := s.RecordDelivery(ctx, "other", "ping")
	if err != nil || !other {
		t.Fatalf("another RecordDelivery = %v, %v; want true, nil", other, err)
	}
}
