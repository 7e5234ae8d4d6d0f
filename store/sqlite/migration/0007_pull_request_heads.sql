-- The latest head of each pull request as its pull_request webhooks told
-- it, so that a comment written before a push is not run on the new head.
-- One row per pull request of a served repository, replaced in place.
CREATE TABLE pull_request_heads (
	repo        TEXT NOT NULL,
	number      INTEGER NOT NULL,
	sha         TEXT NOT NULL,
	changed_at  TIMESTAMP NOT NULL,
	recorded_at TIMESTAMP NOT NULL,
	PRIMARY KEY (repo, number)
);
