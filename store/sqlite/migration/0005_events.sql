-- The timeline of each deployment: stages entered, what the deployer and
-- the CI gate saw, the outcome.
CREATE TABLE deployment_events (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	deployment_id INTEGER NOT NULL,
	at            TIMESTAMP NOT NULL,
	stage         TEXT NOT NULL,
	message       TEXT NOT NULL
);
CREATE INDEX deployment_events_deployment ON deployment_events (deployment_id, id);
