package bot

import (
	"cmp"
	"slices"
)

// ClaimQuota is what one replica may still take on, so that no requester
// and no environment fills it, and rollbacks always find room.
type ClaimQuota struct {
	// Slots is how many more deployments may run here; OtherSlots how many
	// of them may be other than rollbacks (the rest are kept for these).
	Slots, OtherSlots int
	// PerRequester and PerEnv cap how many deployments of one requester,
	// of one app's environment, run here at once, those running included.
	PerRequester, PerEnv int
	// ByRequester and ByEnv count what runs here already; ByEnv is keyed
	// by EnvKey.
	ByRequester, ByEnv map[string]int
}

// EnvKey names app's environment env in ClaimQuota.ByEnv.
func EnvKey(app, env string) string { return app + "/" + env }

// ClaimCandidate is a deployment that could be claimed now.
type ClaimCandidate struct {
	ID                  int64
	Requester, App, Env string
	// Rollback: it redeploys what ran on its environment before (an
	// automatic rollback, or a deploy of a sha that succeeded there).
	Rollback bool
	// Behind: an older unfinished deployment of its environment is ahead.
	Behind bool
}

// Pick returns the candidates to claim, in the order they start:
// rollbacks first, then deployments with nothing ahead of them in their
// environment, then the oldest; within the quota.
func (q ClaimQuota) Pick(cs []ClaimCandidate) []ClaimCandidate {
	cs = slices.Clone(cs)
	slices.SortStableFunc(cs, func(a, b ClaimCandidate) int {
		if a.Rollback != b.Rollback {
			return boolFirst(a.Rollback)
		}
		if a.Behind != b.Behind {
			return boolFirst(!a.Behind)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	byRequester, byEnv := map[string]int{}, map[string]int{}
	slots, others := q.Slots, q.OtherSlots
	var picked []ClaimCandidate
	for _, c := range cs {
		if slots <= 0 {
			break
		}
		if !c.Rollback && others <= 0 {
			continue
		}
		env := EnvKey(c.App, c.Env)
		if q.ByRequester[c.Requester]+byRequester[c.Requester] >= q.PerRequester || q.ByEnv[env]+byEnv[env] >= q.PerEnv {
			continue
		}
		byRequester[c.Requester]++
		byEnv[env]++
		slots--
		if !c.Rollback {
			others--
		}
		picked = append(picked, c)
	}
	return picked
}

func boolFirst(first bool) int {
	if first {
		return -1
	}
	return 1
}

// Claim is a deployment a replica has claimed, and whether it is a
// rollback (see ClaimCandidate).
type Claim struct {
	Deployment *Deployment
	Rollback   bool
}
