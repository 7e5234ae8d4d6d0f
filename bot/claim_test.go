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

// A lone requester over its share still gets the slots nobody else takes,
// but only for deployments behind others in their environment (they park
// at the gate); its heads, which could start a rollout, wait for its share.
func TestClaimQuotaPickLendsShortTurns(t *testing.T) {
	q := ClaimQuota{
		Slots: 5, OtherSlots: 5, PerRequester: 2, PerEnv: 2,
		ByRequester: map[string]int{"slack:ULONE": 2}, ByEnv: map[string]int{EnvKey("web", "e"): 1},
	}
	cs := []ClaimCandidate{
		{ID: 1, Requester: "slack:ULONE", App: "web", Env: "a"},
		{ID: 2, Requester: "slack:ULONE", App: "web", Env: "a", Behind: true},
		{ID: 3, Requester: "slack:ULONE", App: "web", Env: "b", Behind: true},
		{ID: 4, Requester: "slack:ULONE", App: "web", Env: "a", Behind: true},
		{ID: 5, Requester: "slack:ULONE", App: "web", Env: "a", Behind: true},
		{ID: 6, Requester: "slack:UOTHER", App: "web", Env: "c", Behind: true},
		{ID: 7, Requester: "slack:ULONE", App: "web", Env: "d", Behind: true},
		{ID: 8, Requester: "slack:ULONE", App: "web", Env: "d", Behind: true},
		{ID: 9, Requester: "slack:ULONE", App: "web", Env: "d", Behind: true},
		{ID: 10, Requester: "slack:ULONE", App: "web", Env: "e", Behind: true},
	}
	var got []int64
	for _, c := range q.Pick(cs) {
		got = append(got, c.ID)
	}
	// UOTHER's 6 within its share first; then the lent slots to the lone
	// requester's behind ones: none of a's, whose head (1) waits for the
	// share (they would run ahead of it), of d's only the oldest, 7, and
	// none of e's, where something runs here already.
	if want := []int64{6, 3, 7}; !slices.Equal(got, want) {
		t.Errorf("Pick = %v, want %v", got, want)
	}
}
