CREATE TABLE env_locks (
	app        TEXT NOT NULL,
	env        TEXT NOT NULL,
	owner      TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	expires_at TIMESTAMPTZ,
	created_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (app, env)
);
