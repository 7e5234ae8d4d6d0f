package bot

import (
	"reflect"
	"testing"
	"time"
)

// history is a seeded web/prod history (plus noise of other envs and
// apps) whose figures are worked out by hand in TestComputeFigures.
func history(until time.Time) []*Deployment {
	h := time.Hour
	at := func(ago time.Duration) time.Time { return until.Add(-ago) }
	d := func(id int64, env string, st State, ended time.Duration, committed time.Duration, rollout string) *Deployment {
		x := &Deployment{ID: id, App: "web", Env: env, State: st, UpdatedAt: at(ended), RolloutRef: rollout}
		if committed != 0 {
			x.CommittedAt = at(committed)
		}
		return x
	}
	ds := []*Deployment{
		// Days 30–10 ago: two successes and an outage restored in 4h.
		d(1, "prod", StateSucceeded, 25*24*h, 25*24*h+3*h, "td:1"),
		d(2, "prod", StateFailed, 20*24*h, 0, "td:2"),                  // outage begins
		d(3, "prod", StateFailed, 20*24*h-h, 0, "td:3"),                // same outage
		d(4, "prod", StateSucceeded, 20*24*h-4*h, 20*24*h+3*h, "td:4"), // restored after 4h; lead 7h
		// Inside the last 7 days.
		d(5, "prod", StateSucceeded, 6*24*h, 6*24*h+1*h, "td:5"), // lead 1h
		d(6, "prod", StateRolledBack, 5*24*h, 0, "td:6"),         // outage begins
		{ID: 7, App: "web", Env: "prod", State: StateSucceeded, RollbackOf: 6, UpdatedAt: at(5*24*h - 30*time.Minute), RolloutRef: "td:7"},
		d(8, "prod", StateFailed, 3*24*h, 0, ""),                 // failed before AWS: no change failure
		d(9, "prod", StateSucceeded, 2*24*h, 2*24*h+5*h, "td:9"), // lead 5h
		d(10, "prod", StateSucceeded, h, 0, "td:10"),             // commit time unknown
		d(11, "prod", StateFailed, 30*time.Minute, 0, "td:11"),   // unrestored
		d(12, "prod", StateCancelled, 10*time.Minute, 0, ""),
		// Noise.
		d(13, "dev", StateSucceeded, 2*h, 3*h, "td:13"),
		{ID: 14, App: "api", Env: "prod", State: StateSucceeded, UpdatedAt: at(2 * h), RolloutRef: "td:14"},
		d(15, "prod", StateSucceeded, 40*24*h, 0, "td:15"), // outside both windows
		d(16, "prod", StateSucceeded, -h, 0, "td:16"),      // after until
	}
	return ds
}

func TestComputeFigures(t *testing.T) {
	until := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	week, month := 7*24*time.Hour, 30*24*time.Hour
	tests := []struct {
		name   string
		env    string
		window time.Duration
		want   Figures
	}{{
		name: "prod over 7 days", env: "prod", window: week,
		want: Figures{
			Successes: 3, Daily: []int{1, 0, 0, 0, 1, 0, 1},
			LeadTime: 3 * time.Hour, LeadTimes: 2,
			Reached: 5, Failed: 2,
			TimeToRestore: 30 * time.Minute, Restores: 1, Unrestored: true,
		},
	}, {
		name: "prod over 30 days", env: "prod", window: month,
		want: Figures{
			Successes: 5, Daily: month30(map[int]int{25: 1, 19: 1, 6: 1, 2: 1, 0: 1}),
			LeadTime: 4 * time.Hour, LeadTimes: 4, // of 1h, 3h, 5h, 7h
			Reached: 9, Failed: 4,
			TimeToRestore: (4*time.Hour + 30*time.Minute) / 2, Restores: 2, Unrestored: true,
		},
	}, {
		name: "dev over 7 days", env: "dev", window: week,
		want: Figures{Successes: 1, Daily: []int{0, 0, 0, 0, 0, 0, 1}, LeadTime: time.Hour, LeadTimes: 1, Reached: 1},
	}, {
		name: "an env without history", env: "staging", window: week,
		want: Figures{Daily: make([]int, 7)},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ComputeFigures(history(until), "web", tt.env, until, tt.window)
			tt.want.App, tt.want.Env, tt.want.Window, tt.want.Until = "web", tt.env, tt.window, until
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ComputeFigures =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// month30 is a 30-day Daily with counts at days ago.
func month30(counts map[int]int) []int {
	out := make([]int, 30)
	for ago, n := range counts {
		out[29-ago] = n
	}
	return out
}

func TestFiguresSummary(t *testing.T) {
	until := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	f := ComputeFigures(history(until), "web", "prod", until, 7*24*time.Hour)
	want := "7d: 3 deploys (0.4/day), lead time 3.0h (median of 2), change failure 2/5 (40%), time to restore 30m (median of 1), last change failed and is not restored yet"
	if got := f.Summary().Plain(); got != want {
		t.Errorf("Summary =\n%s\nwant\n%s", got, want)
	}
	empty := ComputeFigures(nil, "web", "prod", until, 7*24*time.Hour)
	want = "7d: 0 deploys (0.0/day), lead time unknown, change failure — (nothing reached AWS), time to restore — (no restore)"
	if got := empty.Summary().Plain(); got != want {
		t.Errorf("Summary of nothing =\n%s\nwant\n%s", got, want)
	}
	if _, ok := empty.FailureRate(); ok {
		t.Error("FailureRate of nothing reached is ok; want not")
	}
}

// BenchmarkComputeFigures is one env's figures over a full read of
// FiguresLimit deployments, what the dashboard and /metrics do per env.
func BenchmarkComputeFigures(b *testing.B) {
	until := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ds := make([]*Deployment, FiguresLimit)
	for i := range ds {
		st := StateSucceeded
		if i%7 == 0 {
			st = StateFailed
		}
		at := until.Add(-time.Duration(i) * 5 * time.Minute)
		ds[i] = &Deployment{ID: int64(FiguresLimit - i), App: "web", Env: "prod", State: st, RolloutRef: "td",
			UpdatedAt: at, CommittedAt: at.Add(-time.Hour)}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, w := range FigureWindows {
			ComputeFigures(ds, "web", "prod", until, w)
		}
	}
}
