CREATE TABLE env_locks (
	app        TEXT NOT NULL,
	env        TEXT NOT NULL,
	owner      TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	expires_at TIMESTAMP,
	created_at TIMESTAMP NOT NULL,
	PRIMARY KEY (app, env)
);
