-- A fair claim reads the explicit rollbacks (automatic ones, and those
-- that name what they undo) whatever their age, without a scan of the
-- table. The predicate is the claim's own words, for the planner to use
-- the index.
CREATE INDEX deployments_unfinished_rollbacks ON deployments (id)
	WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'rolled_back', 'superseded')
	AND (source = 'auto_rollback' OR rollback_of <> 0);
