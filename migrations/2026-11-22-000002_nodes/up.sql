-- Small key/value facts about this installation (e.g. the encryption key check value).
CREATE TABLE app_meta (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Proxmox VE nodes (or cluster entry points), each owned by one user.
CREATE TABLE nodes (
    id BIGSERIAL PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    host TEXT NOT NULL,
    port INTEGER NOT NULL DEFAULT 8006 CHECK (port BETWEEN 1 AND 65535),
    is_cluster BOOLEAN NOT NULL DEFAULT FALSE,
    -- The pinned SHA-256 of the node's TLS certificate (AB:CD:...), confirmed by the user.
    fingerprint TEXT NOT NULL,
    -- user@realm!tokenid
    token_id TEXT NOT NULL,
    -- AES-256-GCM(nonce || ciphertext || tag), bound to this row.
    token_secret BYTEA NOT NULL,
    ssh_user TEXT NOT NULL DEFAULT 'root',
    ssh_port INTEGER NOT NULL DEFAULT 22 CHECK (ssh_port BETWEEN 1 AND 65535),
    -- The pinned SSH host key (an OpenSSH public key line), once confirmed.
    ssh_host_key TEXT,
    -- A lab node started by kiln.sh (demo data, labelled as such).
    is_lab BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (owner_id, name)
);

CREATE INDEX nodes_owner_idx ON nodes (owner_id);

ALTER TABLE users ADD COLUMN default_node_id BIGINT REFERENCES nodes (id) ON DELETE SET NULL;
