-- Delivery records and pull request heads are kept while GitHub may
-- redeliver what they guard against, then pruned by age: these indexes
-- keep the pruning a range delete.
CREATE INDEX webhook_deliveries_received_at ON webhook_deliveries (received_at);
CREATE INDEX pull_request_heads_recorded_at ON pull_request_heads (recorded_at);
