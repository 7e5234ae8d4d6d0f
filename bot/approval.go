package bot

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Approval is one person's yes to a deployment waiting for approval.
type Approval struct {
	DeploymentID int64
	Approver     string // requester form: slack:U1, github:login
	At           time.Time
}

// Approvals keeps who approved which deployment, and when.
type Approvals interface {
	// AddApproval records a and sets a.At; ECONFLICT when a.Approver has
	// approved that deployment already.
	AddApproval(ctx context.Context, a *Approval) error
	// Approvals returns the approvals of deployment id, oldest first.
	Approvals(ctx context.Context, deploymentID int64) ([]Approval, error)
}

// Slack buttons of a deployment waiting for approval; Value is its id.
const (
	ActionApprove = "approve"
	ActionReject  = "reject"
)

// approvals is the store's part that keeps approvals; a Service wired
// without it refuses approvals rather than deploying unapproved.
func (s *Service) approvals() (Approvals, error) {
	if s.Store.Approvals == nil {
		return nil, Errorf(EINTERNAL, "this deploybot's store keeps no approvals")
	}
	return s.Store.Approvals, nil
}

func validateApprovals(env *Environment, k string, bad func(k, format string, args ...any)) {
	if env.Approvals < 0 {
		bad(k+".approvals", "must be 0 or more, got %d", env.Approvals)
	}
	if env.ApprovalTimeout < 0 {
		bad(k+".approval_timeout", "must be positive, got %s", time.Duration(env.ApprovalTimeout))
	}
	if env.ApprovalTimeout == 0 {
		env.ApprovalTimeout = Duration(DefaultApprovalTimeout)
	}
}

// needsApproval: d, its CI passed, waits for approvals. An automatic
// rollback does not: it restores the version the environment ran before a
// failed rollout, with nobody there to approve it while the environment
// is broken. A rollback someone asks for is approved like any deploy.
func needsApproval(env *Environment, d *Deployment) bool {
	return env.Approvals > 0 && d.Source != SourceAutoRollback
}

// How long a deployment waiting for approval goes unwoken before it
// reads its approvals again.
const (
	approvalRecheckParked  = 5 * time.Minute
	approvalRecheckInPlace = 10 * time.Second
)

// waitForApproval holds d, its CI passed, until env.Approvals people
// have approved it; past env.ApprovalTimeout it fails. Approve wakes it;
// RejectDeployment ends it from outside.
func (r *run) waitForApproval(ctx context.Context, env *Environment) ([]Approval, error) {
	store, err := r.s.approvals()
	if err != nil {
		return nil, err
	}
	on := WaitForApproval(r.d.ID)
	deadline := r.waitStarted(ctx, on, StateWaitingForApproval).Add(time.Duration(env.ApprovalTimeout))
	for {
		woken := r.s.waiter(on)
		checked := r.s.now()
		// A rejection (or a cancel) ends the row from outside, perhaps in
		// another process than this one waiting in place, whose wakes
		// never reach it: the row says so.
		if stored, err := r.s.Store.Deployment(ctx, r.d.ID); err == nil && stored.State.Terminal() {
			return nil, fmt.Errorf("%w: %s", errEnded, stored.State)
		}
		given, err := store.Approvals(ctx, r.d.ID)
		if err != nil {
			return nil, fmt.Errorf("read approvals of deployment %d: %w", r.d.ID, err)
		}
		if len(given) >= env.Approvals {
			return given, nil
		}
		if !r.s.now().Before(deadline) {
			by := Textf("")
			if len(given) > 0 {
				by = Textf(" (approved by %v)", approvers(given, ""))
			}
			return nil, Errorf(EINVALID, "not approved within %s: %d of %d approvals given%v", time.Duration(env.ApprovalTimeout), len(given), env.Approvals, by)
		}
		note := fmt.Sprintf("Waiting for approval (%d of %d)", len(given), env.Approvals)
		if r.d.Wait.On == on && r.d.Wait.Note != note {
			// An approval came, not yet enough: GitHub and Slack said
			// how many were given before it.
			if err := r.save(ctx); err != nil {
				return nil, err
			}
			r.s.report(ctx, Update{Deployment: r.d, Status: plain(note), GitHub: "queued"})
		}
		// Approve wakes it; the recheck is for a wake lost with the
		// replica that was to write it, and for a run waiting in place
		// (deploybot deploy), which hears no other process's wakes.
		recheck := approvalRecheckInPlace
		if r.parks {
			recheck = approvalRecheckParked
		}
		until := r.s.now().Add(recheck)
		if deadline.Before(until) {
			until = deadline
		}
		if err := r.wait(ctx, on, woken, checked, until, note); err != nil {
			return nil, err
		}
	}
}

// approvers names who gave the approvals, with layout each followed by
// the time of their approval.
func approvers(given []Approval, layout string) Text {
	parts := make([]Text, len(given))
	for i, a := range given {
		parts[i] = Textf("%v", person(a.Approver))
		if layout != "" {
			parts[i] = Textf("%v at %s", person(a.Approver), a.At.UTC().Format(layout))
		}
	}
	return joinText(parts, ", ")
}

// approvable loads deployment id and its environment for a decision by
// who, refusing what may not be decided: a deployment of an env without
// approvals, or one not waiting for approval.
func (s *Service) approvable(ctx context.Context, id int64, who, verb string) (*Deployment, *Environment, error) {
	d, err := s.deploymentByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	app, env, err := s.Config.Lookup(d.App, d.Env)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case env.Approvals == 0:
		return nil, nil, Errorf(EINVALID, "deployment #%d goes to %s %s, which needs no approval", id, d.App, d.Env)
	case d.State == StateReceived || d.State == StateQueued || d.State == StateWaitingForCI:
		return nil, nil, Errorf(ECONFLICT, "deployment #%d is %s; it can be %s once its CI has passed and it waits for approval", id, d.State, verb)
	case d.State != StateWaitingForApproval:
		return nil, nil, Errorf(ECONFLICT, "deployment #%d is %s; only a deployment waiting for approval can be %s", id, d.State, verb)
	}
	if err := s.authorize(ctx, app, env, who); err != nil {
		s.logger().Warn("approval refused: not allowed", "deployment", id, "by", who)
		return nil, nil, Errorf(EFORBIDDEN, "%v may not decide on deployments to %s %s: only people allowed to deploy there may", person(who), d.App, d.Env)
	}
	return d, env, nil
}

// Approve records who's approval of deployment id, which waits for
// approval, and wakes it, on whichever replica it is parked. The
// requester cannot approve their own deployment, nor can anyone not
// allowed on its environment, nor anyone twice.
func (s *Service) Approve(ctx context.Context, id int64, who string) (Message, error) {
	store, err := s.approvals()
	if err != nil {
		return Message{}, err
	}
	d, env, err := s.approvable(ctx, id, who, "approved")
	if err != nil {
		return Message{}, err
	}
	if strings.EqualFold(who, d.Requester) {
		return Message{}, Errorf(EFORBIDDEN, "you asked for deployment #%d, so you cannot approve it: it needs %d approval(s) from other people allowed on %s %s", id, env.Approvals, d.App, d.Env)
	}
	a := &Approval{DeploymentID: id, Approver: who}
	if err := store.AddApproval(ctx, a); ErrorCode(err) == ECONFLICT {
		return Message{}, Errorf(ECONFLICT, "you approved deployment #%d already; it needs %d approval(s) from different people", id, env.Approvals)
	} else if err != nil {
		return Message{}, fmt.Errorf("record approval of deployment %d: %w", id, err)
	}
	given, err := store.Approvals(ctx, id)
	if err != nil {
		return Message{}, fmt.Errorf("read approvals of deployment %d: %w", id, err)
	}
	s.deploymentLogger(d).Info("deployment approved", "by", who, "approvals", len(given), "needed", env.Approvals)
	line := Textf("Approved by %v (%d of %d)", person(who), len(given), env.Approvals)
	s.report(ctx, Update{Deployment: d, Status: line, Line: line})
	s.wakeUp(WaitForApproval(id))
	return Message{Text: Textf(":white_check_mark: You approved deployment #%d (%s %s to %s): %d of %d approvals.", id, d.App, d.ShortSHA(), d.Env, len(given), env.Approvals).Slack()}, nil
}

// RejectDeployment ends deployment id, which waits for approval, as
// failed: who, allowed on its environment, said no. reason may be empty.
func (s *Service) RejectDeployment(ctx context.Context, id int64, who, reason string) (Message, error) {
	if _, _, err := s.approvable(ctx, id, who, "rejected"); err != nil {
		return Message{}, err
	}
	said := Textf("")
	if reason != "" {
		said = Textf(": %s", oneLine(reason))
	}
	why := Textf("rejected by %v%v", person(who), said)
	title := Textf("Rejected by %v%v", person(who), said)
	d, err := s.Store.TransitionDeployment(ctx, id, []State{StateWaitingForApproval}, StateFailed, why.Plain())
	if ErrorCode(err) == ECONFLICT {
		return Message{}, Errorf(ECONFLICT, "deployment #%d is %s; only a deployment waiting for approval can be rejected", id, d.State)
	}
	if err != nil {
		return Message{}, err
	}
	s.deploymentLogger(d).Info("deployment rejected", "by", who)
	failed := Textf("Failed: %v", title)
	s.endedHere(ctx, d, Update{Deployment: d, Status: failed, Line: failed, GitHub: "failure", GitHubDescription: title, Failure: why})
	// A run waiting in place for the approval reads the row when woken,
	// and stops: the rejection was its end.
	s.wakeUp(WaitForApproval(id))
	return Message{Text: Textf(":x: Deployment #%d (%s %s to %s) %v.", id, d.App, d.ShortSHA(), d.Env, why).Slack()}, nil
}

// endedHere tells of d, which was just ended in the store from outside
// its pipeline (cancelled, rejected), with u: the pipeline, if it runs
// here, stops, and the deployments behind d in its gate are woken.
func (s *Service) endedHere(ctx context.Context, d *Deployment, u Update) {
	ranHere := s.stopRun(d.ID, errEnded)
	// A parked deployment has no run to end it and wake those behind it.
	s.envEnded(d.App, d.Env)
	s.observeEnd(d)
	s.report(ctx, u)
	if !ranHere && s.Finished != nil {
		// No pipeline here will stop and say so: this was its end.
		s.Finished(d)
	}
}

// approvalView adds to msg, the Slack message of d, what its approval
// needs: while it waits, the Approve and Reject buttons and who may
// approve; once anyone approved, who did and when.
func (s *Service) approvalView(ctx context.Context, d *Deployment, msg *Message) {
	_, env, err := s.Config.Lookup(d.App, d.Env)
	if err != nil || env.Approvals == 0 {
		return
	}
	store, err := s.approvals()
	if err != nil {
		return
	}
	given, err := store.Approvals(ctx, d.ID)
	if err != nil {
		s.deploymentLogger(d).Warn("read approvals for the Slack message", "err", err)
	}
	if d.State == StateWaitingForApproval {
		id := strconv.FormatInt(d.ID, 10)
		msg.Actions = append(msg.Actions,
			Action{ID: ActionApprove, Label: "Approve", Value: id, Style: "primary"},
			Action{ID: ActionReject, Label: "Reject", Value: id, Style: "danger"})
		msg.Fields = append(msg.Fields,
			Field{Label: "Approvals", Value: fmt.Sprintf("%d of %d", len(given), env.Approvals)},
			Field{Label: "May approve", Value: mayApprove(env, d.Requester).Slack()})
	}
	if len(given) > 0 {
		msg.Fields = append(msg.Fields, Field{Label: "Approved by", Value: approvers(given, "2006-01-02 15:04 UTC").Slack()})
	}
}

// mayApprove names who may approve a deployment requester asked for.
func mayApprove(env *Environment, requester string) Text {
	var parts []Text
	for _, who := range env.Allow {
		if strings.EqualFold(who, requester) {
			continue
		}
		if team, ok := strings.CutPrefix(who, "github-team:"); ok {
			parts = append(parts, Textf("members of GitHub team %v", Name(team)))
			continue
		}
		parts = append(parts, Textf("%v", person(who)))
	}
	switch {
	case len(env.Allow) == 0:
		return Textf("anyone but the requester")
	case len(parts) == 0:
		return Textf("nobody but the requester is allowed on %s: add people to its allow list", env.Name)
	}
	return joinText(parts, ", ")
}

// parseApproval reads `approve <id>` and `reject <id> [reason]`.
func parseApproval(kind CommandKind, args []string) Command {
	if len(args) == 0 {
		return slackHelpFor(kind, "`/deploy %s` needs a deployment id, e.g. `/deploy %s 42`.", kind, kind)
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(args[0], "#"), 10, 64)
	if err != nil || id <= 0 {
		return slackHelpFor(kind, "%s is not a deployment id: write a number such as `42` or `#42`.", slackCode(args[0]))
	}
	c := Command{Kind: kind, ID: id}
	switch {
	case kind == CommandReject:
		c.Reason = strings.Join(args[1:], " ")
	case len(args) > 1:
		return slackHelpFor(kind, "`/deploy approve` takes one deployment id; I did not expect %s.", slackCode(strings.Join(args[1:], " ")))
	}
	return c
}
