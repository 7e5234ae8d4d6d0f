package bot

import (
	"slices"
	"testing"
)

func TestClaimQuotaPick(t *testing.T) {
	flood := func(from int64, n int, requester, env string) []ClaimCandidate {
		var cs []ClaimCandidate
		for i := range int64(n) {
			cs = append(cs, ClaimCandidate{ID: from + i, Requester: requester, App: "web", Env: env, Behind: i > 0})
		}
		return cs
	}
	ids := func(cs []ClaimCandidate) []int64 {
		var out []int64
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	q := ClaimQuota{
		Slots: 6, OtherSlots: 4, PerRequester: 3, PerEnv: 2,
		ByRequester: map[string]int{"slack:UBUSY": 2}, ByEnv: map[string]int{EnvKey("web", "stg"): 1},
	}
	cs := slices.Concat(
		flood(1, 10, "slack:UFLOOD", "dev"),
		flood(20, 3, "slack:UBUSY", "qa"),
		[]ClaimCandidate{{ID: 30, Requester: "slack:UOTHER", App: "web", Env: "stg"}},
		[]ClaimCandidate{{ID: 31, Requester: "slack:UOTHER", App: "web", Env: "prod"}},
		[]ClaimCandidate{{ID: 32, Requester: "slack:UOTHER", App: "web", Env: "prod", Rollback: true, Behind: true}},
		[]ClaimCandidate{{ID: 33, Requester: "slack:UOTHER", App: "web", Env: "prod", Rollback: true, Behind: true}},
	)
	// The rollbacks first (prod's share is 2), then those at the head of
	// their environment (dev's 1, busy's 20, stg's 30), then the oldest
	// behind (2) in the last slot left to others; 31 waits for prod's
	// share, busy's 21 for busy's.
	want := []int64{32, 33, 1, 20, 30, 2}
	if got := ids(q.Pick(cs)); !slices.Equal(got, want) {
		t.Errorf("Pick = %v, want %v", got, want)
	}
	q.OtherSlots = 0
	if got := ids(q.Pick(cs)); !slices.Equal(got, []int64{32, 33}) {
		t.Errorf("Pick with only the rollback reserve free = %v, want [32 33]", got)
	}
}
