-- Continuous delivery: an auto deployment remembers when its push
-- happened (GitHub's repository.pushed_at, unix milliseconds), which
-- orders pushes however their webhooks arrive; the newest wins.
ALTER TABLE deployments ADD COLUMN pushed_at_ms BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deployments_auto_pushes ON deployments (app, env, pushed_at_ms, id) WHERE source = 'auto';

-- superseded is a new terminal state: the partial indexes of unfinished
-- deployments must say so, in the words of the queries (sqldb's
-- terminalStates), for the planner to use them.
DROP INDEX deployments_unfinished;
DROP INDEX deployments_unfinished_app_env;
DROP INDEX deployments_waiting_on;
CREATE INDEX deployments_unfinished ON deployments (id)
	WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'rolled_back', 'superseded');
CREATE INDEX deployments_unfinished_app_env ON deployments (app, env, id)
	WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'rolled_back', 'superseded');
CREATE INDEX deployments_waiting_on ON deployments (waiting_on)
	WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'rolled_back', 'superseded');
