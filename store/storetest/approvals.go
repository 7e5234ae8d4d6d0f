package storetest

import (
	"context"
	"testing"

	"github.com/deploybot/deploybot/bot"
)

// Approvals are kept per deployment, oldest first, one per approver.
func testApprovals(t *testing.T, s Store) {
	ctx := context.Background()
	as, ok := s.(bot.Approvals)
	if !ok {
		t.Fatalf("%T keeps no approvals (bot.Approvals)", s)
	}
	ds := create(t, s, "web", "prod", bot.StateWaitingForApproval, bot.StateWaitingForApproval)
	if got, err := as.Approvals(ctx, ds[0].ID); err != nil || len(got) != 0 {
		t.Fatalf("Approvals before any = %+v, %v; want none", got, err)
	}
	first := &bot.Approval{DeploymentID: ds[0].ID, Approver: "slack:U2"}
	if err := as.AddApproval(ctx, first); err != nil || first.At.IsZero() {
		t.Fatalf("AddApproval = %v, at %v", err, first.At)
	}
	if err := as.AddApproval(ctx, &bot.Approval{DeploymentID: ds[0].ID, Approver: "slack:U2"}); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("second approval by the same person = %v; want %s", err, bot.ECONFLICT)
	}
	if err := as.AddApproval(ctx, &bot.Approval{DeploymentID: ds[1].ID, Approver: "slack:U2"}); err != nil {
		t.Errorf("the same person approving another deployment = %v", err)
	}
	second := &bot.Approval{DeploymentID: ds[0].ID, Approver: "github:octocat"}
	if err := as.AddApproval(ctx, second); err != nil {
		t.Fatal(err)
	}
	got, err := as.Approvals(ctx, ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != *first || got[1] != *second {
		t.Errorf("Approvals = %+v; want %+v then %+v", got, *first, *second)
	}
}
