-- Who approved which deployment, and when: one row per approver, so the
-- same person approving twice counts once.
CREATE TABLE approvals (
	deployment_id INTEGER NOT NULL,
	approver      TEXT NOT NULL,
	at            TIMESTAMP NOT NULL,
	UNIQUE (deployment_id, approver)
);
