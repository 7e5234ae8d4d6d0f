package bottest

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// Store is an in-memory bot.Store that keeps the contract of the SQL
// stores, down to their precision (leases and waits in milliseconds,
// timestamps in microseconds); store/storetest runs it through the same
// conformance suite. It counts the calls of each method, and Fault makes a
// method fail, for the cases where the store is down.
type Store struct {
	now func() time.Time

	mu         sync.Mutex
	rows       map[int64]*row
	nextID     int64
	deliveries map[string]time.Time // delivery id → when recorded
	heads      map[headKey]head
	locks      map[envKey]bot.EnvLock
	events     []bot.Event
	approved   []bot.Approval
	wakes      map[string]int64 // Wait.On → latest wake, unix ms
	calls
	afterMethod map[string]func()
}

// row is a deployment with what the SQL stores keep beside it.
type row struct {
	d              bot.Deployment
	leaseExpiresMS int64
	parked         bool
	wakeMS         int64 // claimable from then (Wait.Until)
}

type headKey struct {
	repo   string
	number int
}

type head struct {
	c          bot.HeadChange
	recordedAt time.Time
}

type envKey struct{ app, env string }

// NewStore returns an empty store whose timestamps come from now
// (time.Now when nil).
func NewStore(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{
		now:         now,
		rows:        map[int64]*row{},
		deliveries:  map[string]time.Time{},
		heads:       map[headKey]head{},
		locks:       map[envKey]bot.EnvLock{},
		wakes:       map[string]int64{},
		afterMethod: map[string]func(){},
	}
}

// After calls f after each call of method has done its work (and after a
// Fault has failed it), outside the store's lock: a test's signal that the
// pipeline got that far, or its chance to change the world there.
func (s *Store) After(method string, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.afterMethod[method] = f
}

// enter counts a call of method and returns its fault, if any, with the
// store locked; the returned func unlocks it and runs the After hook.
func (s *Store) enter(method string) (error, func()) {
	fault := s.called(method)
	s.mu.Lock()
	after := s.afterMethod[method]
	return fault, func() {
		s.mu.Unlock()
		if after != nil {
			after()
		}
	}
}

// timestamp is the store's clock to the microsecond, as PostgreSQL keeps it.
func (s *Store) timestamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// out is the deployment of r as the SQL stores read it back.
func (r *row) out() *bot.Deployment {
	d := r.d
	if r.d.PromotedFrom != nil {
		promo := *r.d.PromotedFrom
		d.PromotedFrom = &promo
	}
	d.Wait.Until = fromMillis(r.wakeMS)
	d.Wait.Checked = time.Time{}
	return &d
}

func notFound(id int64) error { return bot.Errorf(bot.ENOTFOUND, "deployment #%d not found", id) }

func orNobody(owner string) string {
	if owner == "" {
		return "nobody"
	}
	return owner
}

func (s *Store) githubIDTaken(githubID, except int64) bool {
	if githubID == 0 {
		return false
	}
	for id, r := range s.rows {
		if id != except && r.d.GitHubDeploymentID == githubID {
			return true
		}
	}
	return false
}

func (s *Store) CreateDeployment(ctx context.Context, d *bot.Deployment) error {
	fault, done := s.enter("CreateDeployment")
	defer done()
	if fault != nil {
		return fault
	}
	if s.githubIDTaken(d.GitHubDeploymentID, 0) {
		return bot.Errorf(bot.ECONFLICT, "GitHub deployment %d already belongs to another deployment", d.GitHubDeploymentID)
	}
	s.nextID++
	now := s.timestamp()
	d.ID, d.CreatedAt, d.UpdatedAt = s.nextID, now, now
	stored := *d
	// Only the lease methods write these; the wait only Park.
	stored.Attempts, stored.LeaseOwner, stored.Wait = 0, "", bot.Wait{}
	stored.PushedAt = fromMillis(toMillis(d.PushedAt))
	stored.CommittedAt = fromMillis(toMillis(d.CommittedAt))
	if d.PromotedFrom != nil {
		promo := *d.PromotedFrom
		stored.PromotedFrom = &promo
	}
	s.rows[d.ID] = &row{d: stored}
	return nil
}

func (s *Store) UpdateDeployment(ctx context.Context, d *bot.Deployment) error {
	fault, done := s.enter("UpdateDeployment")
	defer done()
	if fault != nil {
		return fault
	}
	r, ok := s.rows[d.ID]
	if !ok {
		return notFound(d.ID)
	}
	stored := &r.d
	switch {
	case d.LeaseOwner != "" && stored.LeaseOwner != "" && stored.LeaseOwner != d.LeaseOwner:
		return bot.Errorf(bot.ECONFLICT, "deployment #%d is now run by another replica", d.ID)
	case d.LeaseOwner != "" && stored.LeaseOwner != d.LeaseOwner:
		return bot.Errorf(bot.ECONFLICT, "deployment #%d is no longer run by this replica", d.ID)
	case stored.State.Terminal() && stored.State != d.State:
		return bot.Errorf(bot.ECONFLICT, "deployment #%d has already ended %s", d.ID, stored.State)
	case s.githubIDTaken(d.GitHubDeploymentID, d.ID):
		return bot.Errorf(bot.ECONFLICT, "GitHub deployment %d already belongs to another deployment", d.GitHubDeploymentID)
	}
	stored.Ref, stored.SHA, stored.Image, stored.State, stored.Reason = d.Ref, d.SHA, d.Image, d.State, d.Reason
	stored.GitHubDeploymentID, stored.InstallationID = d.GitHubDeploymentID, d.InstallationID
	stored.SlackChannel, stored.SlackTS, stored.SlackResponseURL = d.SlackChannel, d.SlackTS, d.SlackResponseURL
	stored.PRNumber, stored.PRCommentID = d.PRNumber, d.PRCommentID
	stored.EnvironmentURL, stored.RolloutRef, stored.RollbackOf = d.EnvironmentURL, d.RolloutRef, d.RollbackOf
	stored.CommittedAt = fromMillis(toMillis(d.CommittedAt))
	stored.UpdatedAt = s.timestamp()
	d.UpdatedAt = stored.UpdatedAt
	return nil
}

func (s *Store) Deployment(ctx context.Context, id int64) (*bot.Deployment, error) {
	fault, done := s.enter("Deployment")
	defer done()
	if fault != nil {
		return nil, fault
	}
	r, ok := s.rows[id]
	if !ok {
		return nil, notFound(id)
	}
	return r.out(), nil
}

func (s *Store) DeploymentByGitHubID(ctx context.Context, githubID int64) (*bot.Deployment, error) {
	fault, done := s.enter("DeploymentByGitHubID")
	defer done()
	if fault != nil {
		return nil, fault
	}
	for _, r := range s.rows {
		if githubID != 0 && r.d.GitHubDeploymentID == githubID {
			return r.out(), nil
		}
	}
	return nil, bot.Errorf(bot.ENOTFOUND, "no deployment has GitHub deployment id %d", githubID)
}

func (s *Store) TransitionDeployment(ctx context.Context, id int64, from []bot.State, to bot.State, reason string) (*bot.Deployment, error) {
	fault, done := s.enter("TransitionDeployment")
	defer done()
	if fault != nil {
		return nil, fault
	}
	r, ok := s.rows[id]
	if !ok {
		return nil, notFound(id)
	}
	if !slices.Contains(from, r.d.State) {
		return r.out(), bot.Errorf(bot.ECONFLICT, "deployment #%d is %s", id, r.d.State)
	}
	r.d.State, r.d.Reason, r.d.UpdatedAt = to, reason, s.timestamp()
	return r.out(), nil
}

// sorted returns the rows that keep, by id.
func (s *Store) sorted(keep func(*row) bool) []*row {
	var rs []*row
	for _, r := range s.rows {
		if keep(r) {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b *row) int { return cmp.Compare(a.d.ID, b.d.ID) })
	return rs
}

func (s *Store) ListDeployments(ctx context.Context, f bot.DeploymentFilter) ([]*bot.Deployment, error) {
	fault, done := s.enter("ListDeployments")
	defer done()
	if fault != nil {
		return nil, fault
	}
	rs := s.sorted(func(r *row) bool {
		return (f.App == "" || r.d.App == f.App) && (f.Env == "" || r.d.Env == f.Env) &&
			(len(f.States) == 0 || slices.Contains(f.States, r.d.State))
	})
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var ds []*bot.Deployment
	for i := len(rs) - 1; i >= 0 && len(ds) < limit; i-- {
		ds = append(ds, rs[i].out())
	}
	return ds, nil
}

func (s *Store) RecordDelivery(ctx context.Context, deliveryID, event string) (bool, error) {
	fault, done := s.enter("RecordDelivery")
	defer done()
	if fault != nil {
		return false, fault
	}
	if _, seen := s.deliveries[deliveryID]; seen {
		return false, nil
	}
	s.deliveries[deliveryID] = s.timestamp()
	return true, nil
}

func (s *Store) ForgetDelivery(ctx context.Context, deliveryID string) error {
	fault, done := s.enter("ForgetDelivery")
	defer done()
	if fault != nil {
		return fault
	}
	delete(s.deliveries, deliveryID)
	return nil
}

func (s *Store) RecordHeadChange(ctx context.Context, c bot.HeadChange) error {
	fault, done := s.enter("RecordHeadChange")
	defer done()
	if fault != nil {
		return fault
	}
	k := headKey{strings.ToLower(c.Repo), c.Number}
	c.At = c.At.UTC().Truncate(time.Microsecond)
	if old, ok := s.heads[k]; ok && c.At.Before(old.c.At) {
		return nil
	}
	s.heads[k] = head{c: c, recordedAt: s.timestamp()}
	return nil
}

func (s *Store) LastHeadChange(ctx context.Context, repo string, number int) (bot.HeadChange, error) {
	fault, done := s.enter("LastHeadChange")
	defer done()
	c := bot.HeadChange{Repo: repo, Number: number}
	if fault != nil {
		return c, fault
	}
	h, ok := s.heads[headKey{strings.ToLower(repo), number}]
	if !ok {
		return c, bot.Errorf(bot.ENOTFOUND, "no head change of %s#%d recorded", repo, number)
	}
	c.SHA, c.At = h.c.SHA, h.c.At
	return c, nil
}

// PruneIntake deletes the deliveries, pull request heads and wakes
// recorded before before, as the SQL stores' intake pruning does.
func (s *Store) PruneIntake(ctx context.Context, before time.Time) (int64, error) {
	fault, done := s.enter("PruneIntake")
	defer done()
	if fault != nil {
		return 0, fault
	}
	var n int64
	for id, at := range s.deliveries {
		if at.Before(before) {
			delete(s.deliveries, id)
			n++
		}
	}
	for k, h := range s.heads {
		if h.recordedAt.Before(before) {
			delete(s.heads, k)
			n++
		}
	}
	for on, at := range s.wakes {
		if at < before.UnixMilli() {
			delete(s.wakes, on)
			n++
		}
	}
	return n, nil
}

func (s *Store) Lock(ctx context.Context, l *bot.EnvLock, now time.Time) (*bot.EnvLock, error) {
	fault, done := s.enter("Lock")
	defer done()
	if fault != nil {
		return nil, fault
	}
	k := envKey{l.App, l.Env}
	if held, ok := s.locks[k]; ok && held.Owner != l.Owner && !held.Expired(now) {
		return &held, bot.Errorf(bot.ECONFLICT, "%s %s is locked by %s", l.App, l.Env, held.Owner)
	}
	l.CreatedAt = now.UTC().Truncate(time.Microsecond)
	if !l.ExpiresAt.IsZero() {
		l.ExpiresAt = l.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	s.locks[k] = *l
	return l, nil
}

func (s *Store) Unlock(ctx context.Context, app, env string, now time.Time) (*bot.EnvLock, error) {
	fault, done := s.enter("Unlock")
	defer done()
	if fault != nil {
		return nil, fault
	}
	k := envKey{app, env}
	held, ok := s.locks[k]
	if !ok || held.Expired(now) {
		return nil, bot.Errorf(bot.ENOTFOUND, "%s %s is not locked", app, env)
	}
	delete(s.locks, k)
	return &held, nil
}

func (s *Store) EnvLock(ctx context.Context, app, env string, now time.Time) (*bot.EnvLock, error) {
	fault, done := s.enter("EnvLock")
	defer done()
	if fault != nil {
		return nil, fault
	}
	held, ok := s.locks[envKey{app, env}]
	if !ok || held.Expired(now) {
		return nil, bot.Errorf(bot.ENOTFOUND, "%s %s is not locked", app, env)
	}
	return &held, nil
}

func (s *Store) AddEvent(ctx context.Context, e *bot.Event) error {
	fault, done := s.enter("AddEvent")
	defer done()
	if fault != nil {
		return fault
	}
	e.At = s.timestamp()
	s.events = append(s.events, *e)
	return nil
}

func (s *Store) Events(ctx context.Context, deploymentID int64) ([]bot.Event, error) {
	fault, done := s.enter("Events")
	defer done()
	if fault != nil {
		return nil, fault
	}
	var out []bot.Event
	for _, e := range s.events {
		if e.DeploymentID == deploymentID {
			out = append(out, e)
		}
	}
	return out, nil
}

// leaseFree: no one holds r's lease, or it ran out before nowMS.
func (r *row) leaseFree(nowMS int64) bool {
	return r.d.LeaseOwner == "" || r.leaseExpiresMS < nowMS
}

func (s *Store) ClaimDeployments(ctx context.Context, owner string, now, expires time.Time, limit int) ([]*bot.Deployment, error) {
	fault, done := s.enter("ClaimDeployments")
	defer done()
	if fault != nil {
		return nil, fault
	}
	if owner == "" {
		return nil, bot.Errorf(bot.EINVALID, "a lease needs an owner")
	}
	nowMS := now.UnixMilli()
	rs := s.sorted(func(r *row) bool {
		return !r.d.State.Terminal() && r.leaseFree(nowMS) && r.wakeMS <= nowMS
	})
	var ds []*bot.Deployment
	for _, r := range rs[:min(len(rs), max(limit, 0))] {
		// A parked deployment gave its lease back on purpose: taking it
		// up again resumes nothing that was interrupted.
		if !r.parked {
			r.d.Attempts++
		}
		r.parked, r.d.LeaseOwner, r.leaseExpiresMS = false, owner, expires.UnixMilli()
		ds = append(ds, r.out())
	}
	return ds, nil
}

func (s *Store) ClaimDeployment(ctx context.Context, id int64, owner string, now, expires time.Time) (*bot.Deployment, error) {
	fault, done := s.enter("ClaimDeployment")
	defer done()
	if fault != nil {
		return nil, fault
	}
	if owner == "" {
		return nil, bot.Errorf(bot.EINVALID, "a lease needs an owner")
	}
	r, ok := s.rows[id]
	if !ok {
		return nil, notFound(id)
	}
	nowMS := now.UnixMilli()
	if r.d.State.Terminal() || !(r.leaseFree(nowMS) || r.d.LeaseOwner == owner) {
		return nil, bot.Errorf(bot.ECONFLICT, "deployment #%d is %s and run by %s", id, r.d.State, orNobody(r.d.LeaseOwner))
	}
	if !r.parked && !(r.d.LeaseOwner == owner && r.leaseExpiresMS >= nowMS) {
		r.d.Attempts++
	}
	r.parked, r.d.LeaseOwner, r.leaseExpiresMS = false, owner, expires.UnixMilli()
	return r.out(), nil
}

func (s *Store) RenewLease(ctx context.Context, id int64, owner string, expires time.Time) error {
	fault, done := s.enter("RenewLease")
	defer done()
	if fault != nil {
		return fault
	}
	r, ok := s.rows[id]
	switch {
	case !ok:
		return notFound(id)
	case r.d.LeaseOwner != owner:
		return bot.Errorf(bot.ECONFLICT, "deployment #%d is no longer run by this replica", id)
	}
	r.leaseExpiresMS = expires.UnixMilli()
	return nil
}

func (s *Store) ReleaseLease(ctx context.Context, id int64, owner string) error {
	fault, done := s.enter("ReleaseLease")
	defer done()
	if fault != nil {
		return fault
	}
	if r, ok := s.rows[id]; ok && r.d.LeaseOwner == owner {
		r.d.LeaseOwner, r.leaseExpiresMS = "", 0
	}
	return nil
}

func (s *Store) Park(ctx context.Context, id int64, owner string, w bot.Wait) error {
	fault, done := s.enter("Park")
	defer done()
	if fault != nil {
		return fault
	}
	r, ok := s.rows[id]
	if !ok {
		return notFound(id)
	}
	if r.d.LeaseOwner != owner || r.d.State.Terminal() {
		return bot.Errorf(bot.ECONFLICT, "deployment #%d is %s and run by %s", id, r.d.State, orNobody(r.d.LeaseOwner))
	}
	until, checked := toMillis(w.Until), toMillis(w.Checked)
	if w.Checked.IsZero() {
		// Not known when the run looked: no wake counts as news.
		checked = math.MaxInt64
	}
	r.wakeMS = until
	if woken, ok := s.wakes[w.On]; ok && woken >= checked {
		r.wakeMS = min(checked, until)
	}
	r.d.Wait = bot.Wait{On: w.On, Note: w.Note, Since: fromMillis(toMillis(w.Since))}
	r.parked, r.d.LeaseOwner, r.leaseExpiresMS = true, "", 0
	return nil
}

func (s *Store) Wake(ctx context.Context, on string, now time.Time) (int, error) {
	fault, done := s.enter("Wake")
	defer done()
	if fault != nil {
		return 0, fault
	}
	nowMS := now.UnixMilli()
	if woken, ok := s.wakes[on]; !ok || nowMS > woken {
		s.wakes[on] = nowMS
	}
	n := 0
	for _, r := range s.rows {
		if r.d.Wait.On == on && !r.d.State.Terminal() && r.wakeMS > nowMS {
			r.wakeMS = nowMS
			n++
		}
	}
	return n, nil
}

// pushOrder orders auto deployments by push time (to the millisecond),
// then id.
func pushOrder(a, b *bot.Deployment) int {
	if c := cmp.Compare(toMillis(a.PushedAt), toMillis(b.PushedAt)); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

func (s *Store) NewestPush(ctx context.Context, app, env string) (*bot.Deployment, error) {
	fault, done := s.enter("NewestPush")
	defer done()
	if fault != nil {
		return nil, fault
	}
	var newest *bot.Deployment
	for _, r := range s.rows {
		if r.d.App == app && r.d.Env == env && r.d.Source == bot.SourceAuto && (newest == nil || pushOrder(&r.d, newest) > 0) {
			newest = &r.d
		}
	}
	if newest == nil {
		return nil, bot.Errorf(bot.ENOTFOUND, "%s %s has no auto deployment", app, env)
	}
	return s.rows[newest.ID].out(), nil
}

func (s *Store) PushedBefore(ctx context.Context, d *bot.Deployment, states []bot.State) ([]*bot.Deployment, error) {
	fault, done := s.enter("PushedBefore")
	defer done()
	if fault != nil {
		return nil, fault
	}
	var ds []*bot.Deployment
	for _, r := range s.rows {
		if r.d.App == d.App && r.d.Env == d.Env && r.d.Source == bot.SourceAuto &&
			pushOrder(&r.d, d) < 0 && slices.Contains(states, r.d.State) {
			ds = append(ds, r.out())
		}
	}
	slices.SortFunc(ds, pushOrder)
	return ds, nil
}

func (s *Store) EnterGate(ctx context.Context, id int64, from, to bot.State, now time.Time) (bot.GateResult, error) {
	fault, done := s.enter("EnterGate")
	defer done()
	if fault != nil {
		return bot.GateResult{}, fault
	}
	r, ok := s.rows[id]
	if !ok {
		return bot.GateResult{}, notFound(id)
	}
	if r.d.State != from {
		return bot.GateResult{}, bot.Errorf(bot.ECONFLICT, "deployment #%d is %s", id, r.d.State)
	}
	// Every deployment passes in id order, so the oldest unfinished one
	// ahead is past the gate whenever one is, and otherwise next.
	ahead := s.sorted(func(o *row) bool {
		return o.d.App == r.d.App && o.d.Env == r.d.Env && o.d.ID < id && !o.d.State.Terminal()
	})
	if len(ahead) > 0 {
		return bot.GateResult{Behind: ahead[0].out(), Next: len(ahead) == 1}, nil
	}
	if held, ok := s.locks[envKey{r.d.App, r.d.Env}]; ok && held.Owner != r.d.Requester && !held.Expired(now) {
		return bot.GateResult{Lock: &held}, nil
	}
	r.d.State, r.d.UpdatedAt = to, s.timestamp()
	return bot.GateResult{Entered: true}, nil
}

func (s *Store) AddApproval(ctx context.Context, a *bot.Approval) error {
	fault, done := s.enter("AddApproval")
	defer done()
	if fault != nil {
		return fault
	}
	for _, o := range s.approved {
		if o.DeploymentID == a.DeploymentID && o.Approver == a.Approver {
			return bot.Errorf(bot.ECONFLICT, "%s approved deployment %d already", a.Approver, a.DeploymentID)
		}
	}
	a.At = s.timestamp()
	s.approved = append(s.approved, *a)
	return nil
}

func (s *Store) Approvals(ctx context.Context, deploymentID int64) ([]bot.Approval, error) {
	fault, done := s.enter("Approvals")
	defer done()
	if fault != nil {
		return nil, fault
	}
	var out []bot.Approval
	for _, a := range s.approved {
		if a.DeploymentID == deploymentID {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b bot.Approval) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Approver, b.Approver)
	})
	return out, nil
}

// ClaimFair leases to owner the claimable deployments (as ClaimDeployments
// takes them) that q picks, rollbacks first: a deployment is a rollback
// when it is an automatic one, or redeploys a sha that succeeded on its
// environment before; it is behind when an older unfinished one of its
// environment is ahead of it.
func (s *Store) ClaimFair(ctx context.Context, owner string, now, expires time.Time, q bot.ClaimQuota) ([]bot.Claim, error) {
	fault, done := s.enter("ClaimFair")
	defer done()
	if fault != nil {
		return nil, fault
	}
	if owner == "" {
		return nil, bot.Errorf(bot.EINVALID, "a lease needs an owner")
	}
	if q.Slots <= 0 {
		return nil, nil
	}
	nowMS := now.UnixMilli()
	var cs []bot.ClaimCandidate
	rollback := map[int64]bool{}
	for _, r := range s.sorted(func(r *row) bool { return !r.d.State.Terminal() && r.leaseFree(nowMS) && r.wakeMS <= nowMS }) {
		c := bot.ClaimCandidate{ID: r.d.ID, Requester: r.d.Requester, App: r.d.App, Env: r.d.Env,
			Rollback: r.d.Source == bot.SourceAutoRollback || r.d.RollbackOf != 0}
		for _, o := range s.rows {
			if o.d.App != r.d.App || o.d.Env != r.d.Env || o.d.ID >= r.d.ID {
				continue
			}
			c.Rollback = c.Rollback || o.d.SHA == r.d.SHA && o.d.State == bot.StateSucceeded
			c.Behind = c.Behind || !o.d.State.Terminal()
		}
		rollback[c.ID] = c.Rollback
		cs = append(cs, c)
	}
	var claims []bot.Claim
	for _, c := range q.Pick(cs) {
		r := s.rows[c.ID]
		if !r.parked {
			r.d.Attempts++
		}
		r.parked, r.d.LeaseOwner, r.leaseExpiresMS = false, owner, expires.UnixMilli()
		claims = append(claims, bot.Claim{Deployment: r.out(), Rollback: rollback[c.ID]})
	}
	return claims, nil
}

// Ports is s as the bot.Service takes it: every part of bot.Store.
func (s *Store) Ports() bot.Store {
	return bot.Store{Deployments: s, Deliveries: s, Locks: s, Timeline: s, Queue: s, Approvals: s}
}

// Deployments returns every stored deployment, oldest first.
func (s *Store) Deployments() []*bot.Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ds []*bot.Deployment
	for _, r := range s.sorted(func(*row) bool { return true }) {
		ds = append(ds, r.out())
	}
	return ds
}
