-- The last wake of each thing deployments wait on (waiting_on), unix
-- milliseconds. A run that looked at what it waits for, found it not
-- ready and parks checks here: a wake that came after it looked — even
-- one written just before its park, on any replica — parks it claimable
-- at once instead of losing the wake until the timer.
CREATE TABLE wakes (
	waiting_on TEXT PRIMARY KEY,
	at_ms      BIGINT NOT NULL
);
CREATE INDEX wakes_at ON wakes (at_ms);
