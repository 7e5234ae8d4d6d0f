-- A fair claim tells rollbacks apart: a deployment of a sha that has
-- succeeded on its environment before redeploys what ran there.
CREATE INDEX deployments_succeeded_sha ON deployments (app, env, sha)
	WHERE state = 'succeeded';
