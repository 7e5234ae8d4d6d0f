package bot

import (
	"context"
	"fmt"
	"time"
)

// gateRecheck is how long a deployment next in line waits at the gate
// before it looks again unwoken; gateRecheckBehind is the same for one
// with others ahead of it in the queue.
const (
	gateRecheck       = time.Minute
	gateRecheckBehind = 10 * time.Minute
)

// wait leaves d waiting on on until until, or until woken sooner; note is
// what it has told people about the wait. A run that parks records the
// wait in the store, gives its lease back and ends with errParked: the
// deployment costs a row while it waits, and is claimed again by whichever
// replica sees it woken. Any other run (deploybot deploy holds its lease
// throughout) waits here.
func (r *run) wait(ctx context.Context, on string, woken <-chan struct{}, checked, until time.Time, note string) error {
	d := r.d
	now := r.s.now()
	d.Wait.Checked = checked
	if d.Wait.On != on || d.Wait.Since.IsZero() {
		d.Wait.On, d.Wait.Since = on, now
	}
	d.Wait.Note, d.Wait.Until = note, until
	if r.parks {
		select {
		case <-woken:
			// Woken while this run was reading: parked now, the wake
			// would be lost until the timer.
			d.Wait.Until = now
		default:
		}
		err := r.s.Store.Park(ctx, d.ID, r.s.Owner, d.Wait)
		switch {
		case err == nil:
			r.log.Debug("parked", "on", on, "until", d.Wait.Until)
			select {
			case <-woken:
				// Woken while parking, by a wake this replica may not
				// have written yet: the store's record of it is coming,
				// and then the wake reaches the parked row.
				r.s.wakeUp(on)
			default:
			}
			return errParked
		case ErrorCode(err) == ECONFLICT:
			return fmt.Errorf("%w: %v", errEnded, err)
		case ctx.Err() != nil:
			return context.Cause(ctx)
		}
		// The store did not take the park: wait here instead, holding the
		// lease, rather than fail a deployment for a wait.
		r.log.Warn("park deployment; waiting in place", "err", err)
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-woken:
	case <-time.After(until.Sub(now)):
	}
	return nil
}

// waitStarted is when d began to wait on on, in stage: now, or for a
// resumed deployment the time its wait or its timeline says, so that a
// timeout counts from the first wait and not from each resumption.
func (r *run) waitStarted(ctx context.Context, on string, stage State) time.Time {
	if w := r.d.Wait; w.On == on && !w.Since.IsZero() {
		return w.Since
	}
	if r.d.Attempts > 1 {
		events, err := r.s.Store.Events(ctx, r.d.ID)
		if err != nil {
			r.log.Warn("read timeline for a wait's deadline", "stage", stage, "err", err)
		}
		for _, e := range events {
			if e.Stage == stage {
				return e.At
			}
		}
	}
	return r.s.now()
}
