-- A deployment is run by the replica holding its lease; attempts counts the
-- processes that took it on. The lease expiry is unix milliseconds so that
-- both databases compare it the same way.
ALTER TABLE deployments ADD COLUMN rollout_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN rollback_of BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN lease_expires_ms BIGINT NOT NULL DEFAULT 0;

-- Unfinished deployments are few and ended ones pile up forever: these stay
-- small. The predicate must read as the queries' (sqldb.terminalStates) for
-- the planner to use them.
CREATE INDEX deployments_unfinished ON deployments (id)
	WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'rolled_back');
CREATE INDEX deployments_unfinished_app_env ON deployments (app, env, id)
	WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'rolled_back');
