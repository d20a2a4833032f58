-- Alerts: each user's rules, notification channels, the alerts fired (open until resolved:
-- the open row *is* the persisted state, so a restart does not fire again), and the
-- deliveries of each alert to each channel, retried with backoff.

-- Whether a user's default rules were made (once: deleting them all does not bring them back).
CREATE TABLE alert_settings (
    owner_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    defaults_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE alert_rules (
    id BIGSERIAL PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('container_down', 'node_unreachable', 'cpu', 'memory', 'disk', 'job_failed')),
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    -- Percent, for cpu/memory/disk.
    threshold INTEGER CHECK (threshold BETWEEN 1 AND 100),
    -- "For N minutes" (thresholds; node unreachable, where none means at once).
    minutes INTEGER CHECK (minutes BETWEEN 1 AND 1440),
    -- Optional scope: one node, or one container.
    node_id BIGINT REFERENCES nodes (id) ON DELETE CASCADE,
    container_id BIGINT REFERENCES containers (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX alert_rules_owner_idx ON alert_rules (owner_id);

CREATE TABLE alert_channels (
    id BIGSERIAL PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('webhook', 'ntfy', 'discord', 'slack')),
    name TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    -- The URL holds tokens (Discord, Slack, a private ntfy topic): sealed, bound to the row
    -- (`alert_channels.url:<id>`); `url_hint` is what the page shows (scheme and host).
    url_sealed BYTEA NOT NULL,
    url_hint TEXT NOT NULL,
    -- The webhook's HMAC-SHA256 key, sealed (`alert_channels.secret:<id>`); shown once.
    secret_sealed BYTEA,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (owner_id, name)
);

CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Kept when the rule is deleted (its open alerts are resolved first).
    rule_id BIGINT REFERENCES alert_rules (id) ON DELETE SET NULL,
    kind TEXT NOT NULL,
    -- What it is about: `node:<id>`, `guest:<node id>:<vmid>`, `container:<id>`.
    subject TEXT NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    -- A node's alerts go with it (nothing would ever resolve them).
    node_id BIGINT REFERENCES nodes (id) ON DELETE CASCADE,
    container_id BIGINT REFERENCES containers (id) ON DELETE SET NULL,
    vmid INTEGER,
    fired_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at TIMESTAMPTZ,
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by TEXT
);
-- One open alert per rule and subject: firing twice (a resumed job, two replicas) is a no-op.
CREATE UNIQUE INDEX alerts_open_idx ON alerts (rule_id, subject) WHERE resolved_at IS NULL;
CREATE INDEX alerts_owner_idx ON alerts (owner_id, fired_at DESC);

-- A rule that goes (deleted, or with the node or container it was scoped to) closes its
-- open alerts first: nothing would resolve them afterwards.
CREATE FUNCTION alert_rules_close_alerts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE alerts SET resolved_at = now() WHERE rule_id = OLD.id AND resolved_at IS NULL;
    RETURN OLD;
END
$$;
CREATE TRIGGER alert_rules_close_alerts BEFORE DELETE ON alert_rules
    FOR EACH ROW EXECUTE FUNCTION alert_rules_close_alerts();

CREATE TABLE alert_deliveries (
    id BIGSERIAL PRIMARY KEY,
    -- A test message has no alert.
    alert_id BIGINT REFERENCES alerts (id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES alert_channels (id) ON DELETE CASCADE,
    event TEXT NOT NULL CHECK (event IN ('fired', 'resolved', 'test')),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A claim: the sender holds it until then (another replica waits).
    locked_until TIMESTAMPTZ,
    -- One line, no URL and no secret.
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at TIMESTAMPTZ
);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX alert_deliveries_channel_idx ON alert_deliveries (channel_id, created_at DESC);
