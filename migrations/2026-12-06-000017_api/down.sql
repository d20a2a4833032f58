DROP INDEX IF EXISTS containers_idempotency;
ALTER TABLE containers DROP COLUMN IF EXISTS idempotency_key, DROP COLUMN IF EXISTS idempotency_digest;
DROP TABLE IF EXISTS api_tokens;
