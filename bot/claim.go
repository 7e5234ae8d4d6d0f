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
//
// The requester's share lends what nobody else takes: once every
// candidate within its share is picked, slots still free go to
// candidates over their requester's share that are behind others in
// their environment, the oldest candidate of that environment only. Such
// a deployment cannot start a rollout in this turn (the gate lets
// through only the oldest of an environment): it
// opens its GitHub deployment, says what it waits behind and parks,
// giving its slot back within moments. So a lone requester's flood is
// parked at the speed of the machine (5,000 took 305 s held to 2 slots
// by the share; lent, 75 s), while its rollouts stay within
// the share and someone who comes later waits at most for those short
// turns, never for a rollout. The environment's share is not lent: it is
// what keeps a flood to one environment from taking the replica.
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
	taken := map[int64]bool{}
	// oldest is, per environment, its oldest candidate: a lent turn is
	// only ever that, in an environment nothing runs in here, so that it
	// never runs beside or ahead of an older one of its environment, which
	// would leave it telling "queued behind" a deployment that had not
	// begun, and correct that at its next gate check (measured: 1–6
	// GitHub statuses in BenchmarkWaitingDeployments' idle minute).
	oldest := map[string]int64{}
	for _, c := range cs {
		env := EnvKey(c.App, c.Env)
		if old, ok := oldest[env]; !ok || c.ID < old {
			oldest[env] = c.ID
		}
	}
	for _, lend := range []bool{false, true} {
		for _, c := range cs {
			if slots <= 0 {
				return picked
			}
			if taken[c.ID] || !c.Rollback && others <= 0 {
				continue
			}
			env := EnvKey(c.App, c.Env)
			if q.ByEnv[env]+byEnv[env] >= q.PerEnv {
				continue
			}
			if q.ByRequester[c.Requester]+byRequester[c.Requester] >= q.PerRequester &&
				!(lend && c.Behind && oldest[env] == c.ID && q.ByEnv[env] == 0) {
				continue
			}
			byRequester[c.Requester]++
			byEnv[env]++
			slots--
			if !c.Rollback {
				others--
			}
			taken[c.ID] = true
			picked = append(picked, c)
		}
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
