-- The containers Kiln creates and manages (one kind of guest; VMs will be another `kind`).
-- A row is written before anything is sent to Proxmox, so nothing exists on a node that Kiln
-- does not list. `request` holds the validated create request without secrets.
ALTER TABLE containers
    ADD COLUMN owner_id BIGINT REFERENCES users (id) ON DELETE RESTRICT,
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'lxc' CHECK (kind IN ('lxc')),
    ADD COLUMN template_slug TEXT,
    ADD COLUMN template_hash TEXT,
    ADD COLUMN status TEXT NOT NULL DEFAULT 'creating'
        CHECK (status IN ('creating', 'ready', 'failed', 'deleting')),
    ADD COLUMN job_id BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    ADD COLUMN request JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN root_password BYTEA,
    ADD COLUMN address TEXT,
    ADD COLUMN error TEXT,
    ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ALTER COLUMN vmid DROP NOT NULL;

-- One reservation per id and node: two creations can never take the same VMID.
CREATE UNIQUE INDEX containers_node_vmid_key ON containers (node_id, vmid) WHERE vmid IS NOT NULL;
CREATE INDEX containers_owner_idx ON containers (owner_id);

-- What happened during creation, numbered per container (1, 2, 3...) for replay.
CREATE TABLE container_events (
    container_id BIGINT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    phase TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('phase', 'log', 'outcome')),
    text TEXT NOT NULL,
    PRIMARY KEY (container_id, seq)
);

-- Services found in a container (systemd units the template installed).
CREATE TABLE container_services (
    id BIGSERIAL PRIMARY KEY,
    container_id BIGINT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    state TEXT NOT NULL,
    ports INTEGER[] NOT NULL DEFAULT '{}',
    web_url TEXT,
    UNIQUE (container_id, unit)
);

-- Generated logins (`save_credential`), sealed with the row's id as associated data.
CREATE TABLE container_credentials (
    id BIGSERIAL PRIMARY KEY,
    container_id BIGINT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
    service TEXT NOT NULL,
    key TEXT NOT NULL,
    value BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (container_id, service, key)
);
