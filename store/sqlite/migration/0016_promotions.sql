-- A promotion deploys the image another environment's deployment ran:
-- where it came from is part of the record, shown in every view and
-- needed by a resumed pipeline (which must not resolve the tag again).
ALTER TABLE deployments ADD COLUMN promoted_from_env TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN promoted_from_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN promoted_from_digest TEXT NOT NULL DEFAULT '';
