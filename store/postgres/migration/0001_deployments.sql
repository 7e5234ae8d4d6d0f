CREATE TABLE deployments (
	id                   BIGSERIAL PRIMARY KEY,
	app                  TEXT NOT NULL,
	env                  TEXT NOT NULL,
	repo                 TEXT NOT NULL,
	ref                  TEXT NOT NULL DEFAULT '',
	sha                  TEXT NOT NULL DEFAULT '',
	image                TEXT NOT NULL DEFAULT '',
	requester            TEXT NOT NULL,
	source               TEXT NOT NULL,
	state                TEXT NOT NULL,
	reason               TEXT NOT NULL DEFAULT '',
	github_deployment_id BIGINT UNIQUE,
	installation_id      BIGINT NOT NULL DEFAULT 0,
	slack_channel        TEXT NOT NULL DEFAULT '',
	slack_ts             TEXT NOT NULL DEFAULT '',
	slack_response_url   TEXT NOT NULL DEFAULT '',
	environment_url      TEXT NOT NULL DEFAULT '',
	created_at           TIMESTAMPTZ NOT NULL,
	updated_at           TIMESTAMPTZ NOT NULL
);

CREATE INDEX deployments_app_env ON deployments (app, env, id);
CREATE INDEX deployments_state ON deployments (state);

CREATE TABLE webhook_deliveries (
	delivery_id TEXT PRIMARY KEY,
	event       TEXT NOT NULL,
	received_at TIMESTAMPTZ NOT NULL
);
