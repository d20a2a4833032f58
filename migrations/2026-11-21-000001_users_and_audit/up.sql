-- Local accounts. Usernames are stored lower-case; the password is an argon2id PHC string.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE
        CHECK (username = lower(username) AND char_length(username) BETWEEN 2 AND 32),
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    password_changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_login_at TIMESTAMPTZ
);

-- Who did what, when, from where. One row per state-changing action (and per refused sign-in).
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- NULL for anonymous actions (a failed sign-in, the first-run setup before the user exists).
    actor_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- The name as given, kept even when the user is gone or never existed.
    actor_name TEXT,
    action TEXT NOT NULL,
    target TEXT,
    source_ip TEXT,
    outcome TEXT NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'denied', 'failed')),
    detail JSONB NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at DESC);
