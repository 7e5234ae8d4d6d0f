-- A deployment that waits (for CI, for its turn at the gate) is parked:
-- no replica holds its lease, and it is claimed again only once wake_ms
-- (unix milliseconds) has come, which its timer sets and the event it
-- waits for (waiting_on: "ci:<sha>", "gate:<app>/<env>") brings forward.
-- parked tells a claim that the lease was given back on purpose, so the
-- claim counts no new attempt; wait_note is what the deployment last told
-- people about its wait, wait_since_ms when it began waiting on
-- waiting_on.
ALTER TABLE deployments ADD COLUMN wake_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN waiting_on TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN wait_note TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN wait_since_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN parked INTEGER NOT NULL DEFAULT 0;

CREATE INDEX deployments_waiting_on ON deployments (waiting_on)
	WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'rolled_back');
