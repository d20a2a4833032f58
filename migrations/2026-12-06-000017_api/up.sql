-- The REST API: users' bearer tokens (only their SHA-256 is kept), and container creation's
-- idempotency keys (a retried POST finds the container its first attempt created).
CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    CONSTRAINT api_tokens_name_per_owner UNIQUE (owner_id, name)
);

ALTER TABLE containers
    ADD COLUMN idempotency_key TEXT,
    ADD COLUMN idempotency_digest TEXT;
CREATE UNIQUE INDEX containers_idempotency ON containers (owner_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
