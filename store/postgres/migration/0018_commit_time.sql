-- Delivery figures: the deployed commit's time (unix milliseconds, 0 when
-- unknown) is where the lead time for changes starts.
ALTER TABLE deployments ADD COLUMN committed_at_ms BIGINT NOT NULL DEFAULT 0;
