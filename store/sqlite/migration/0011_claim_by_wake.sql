-- A claim looks for the unfinished deployments whose wake_ms has come.
-- Through deployments_unfinished it read every unfinished row, parked or
-- not, on every claim: with 5,000 parked, 2.5-5 ms per claim on SQLite and
-- 4.7-5.9 ms on PostgreSQL (5,010 rows removed by the filter); through
-- this index, with the claim ordered by +id, 0.1-0.4 ms and 0.07 ms.
CREATE INDEX deployments_wake ON deployments (wake_ms)
	WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'rolled_back', 'superseded');
