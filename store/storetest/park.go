package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/google/go-cmp/cmp"
)

// A parked deployment gives its lease back and is not claimed again
// before its timer, nor is an attempt counted when it is; the wait is
// kept as parked.
func testParkUntil(t *testing.T, s Store) {
	ctx := context.Background()
	ds := create(t, s, "web", "dev", bot.StateWaitingForCI, bot.StateQueued)
	wantLeases(t, s, "first claim", claim(t, s, "A", t0, t0.Add(time.Minute), 10), ids(ds), "A", 1)

	wait := bot.Wait{On: bot.WaitForCI("cf7edb2"), Note: "CI: ci/test pending", Since: t0, Until: t0.Add(30 * time.Second)}
	if err := s.Park(ctx, ds[0].ID, "A", wait); err != nil {
		t.Fatalf("Park: %v", err)
	}
	got := stored(t, s, ds[0].ID)
	if got.LeaseOwner != "" {
		t.Errorf("parked deployment still leased to %q", got.LeaseOwner)
	}
	if diff := cmp.Diff(wait, got.Wait); diff != "" {
		t.Errorf("stored wait (-parked +stored):\n%s", diff)
	}
	if got := claim(t, s, "B", t0.Add(29*time.Second), t0.Add(time.Minute), 10); len(got) != 0 {
		t.Errorf("claimed %v before its timer", ids(got))
	}
	wantLeases(t, s, "claim at its timer", claim(t, s, "B", t0.Add(30*time.Second), t0.Add(2*time.Minute), 10), ids(ds[:1]), "B", 1)

	// Only the lease holder parks.
	if err := s.Park(ctx, ds[1].ID, "B", wait); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("Park by a replica without the lease: %v, want ECONFLICT", err)
	}
}

// Wake makes the deployments parked on one thing claimable now, and
// no others.
func testWake(t *testing.T, s Store) {
	ctx := context.Background()
	ds := create(t, s, "web", "dev", bot.StateWaitingForCI, bot.StateQueued, bot.StateQueued)
	claim(t, s, "A", t0, t0.Add(time.Minute), 10)
	later := t0.Add(time.Hour)
	for i, on := range []string{bot.WaitForCI("aaa"), bot.WaitForGate("web", "dev"), bot.WaitForGate("web", "prod")} {
		if err := s.Park(ctx, ds[i].ID, "A", bot.Wait{On: on, Since: t0, Until: later}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Wake(ctx, bot.WaitForGate("web", "dev"), t0.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("Wake = %d, %v; want the one parked on web/dev's gate", n, err)
	}
	wantLeases(t, s, "claim after waking web/dev's gate", claim(t, s, "B", t0.Add(time.Second), t0.Add(time.Minute), 10), ids(ds[1:2]), "B", 1)
	if n, err := s.Wake(ctx, bot.WaitForCI("aaa"), t0.Add(2*time.Second)); err != nil || n != 1 {
		t.Fatalf("Wake = %d, %v; want the one parked on aaa's CI", n, err)
	}
	if n, err := s.Wake(ctx, bot.WaitForCI("nothing waits on this"), t0.Add(2*time.Second)); err != nil || n != 0 {
		t.Fatalf("Wake of what nothing waits on = %d, %v; want 0", n, err)
	}
	wantLeases(t, s, "claim after CI news", claim(t, s, "B", t0.Add(2*time.Second), t0.Add(time.Minute), 10), ids(ds[:1]), "B", 1)
	if got := claim(t, s, "B", t0.Add(3*time.Second), t0.Add(time.Minute), 10); len(got) != 0 {
		t.Errorf("claimed %v, whose wait nothing ended", ids(got))
	}
}

// A deployment whose lease expired unparked (its replica died) is still
// counted as an attempt when it is taken over.
func testParkedVersusCrashed(t *testing.T, s Store) {
	ctx := context.Background()
	ds := create(t, s, "web", "dev", bot.StateWaitingForCI, bot.StateWaitingForCI)
	claim(t, s, "A", t0, t0.Add(time.Minute), 10)
	if err := s.Park(ctx, ds[0].ID, "A", bot.Wait{On: bot.WaitForCI("aaa"), Since: t0, Until: t0}); err != nil {
		t.Fatal(err)
	}
	got := claim(t, s, "B", t0.Add(2*time.Minute), t0.Add(3*time.Minute), 10)
	if diff := cmp.Diff(ids(ds), ids(got)); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
	if got[0].Attempts != 1 || got[1].Attempts != 2 {
		t.Errorf("attempts: parked %d (want 1), crashed %d (want 2)", got[0].Attempts, got[1].Attempts)
	}
}

// A wake written after the run looked at what it waits for, but before
// its park (another replica's, or this one's waker), is not lost: the
// park is claimable at once. One from before it looked is no news.
func testWakeBeforePark(t *testing.T, s Store) {
	ctx := context.Background()
	ds := create(t, s, "web", "dev", bot.StateWaitingForCI, bot.StateWaitingForCI)
	claim(t, s, "A", t0, t0.Add(time.Minute), 10)
	on := bot.WaitForCI("bbb")
	if _, err := s.Wake(ctx, on, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// ds[0] looked before the wake, ds[1] after it.
	for i, checked := range []time.Time{t0, t0.Add(2 * time.Second)} {
		w := bot.Wait{On: on, Since: t0, Until: t0.Add(time.Hour), Checked: checked}
		if err := s.Park(ctx, ds[i].ID, "A", w); err != nil {
			t.Fatal(err)
		}
	}
	wantLeases(t, s, "claim after the wake", claim(t, s, "B", t0.Add(3*time.Second), t0.Add(time.Minute), 10), ids(ds[:1]), "B", 1)
}
