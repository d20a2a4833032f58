-- Shared package buckets: named package lists (one per manager) that templates copy.
-- A template owns its copy; editing or deleting a bucket never changes a template.
CREATE TABLE package_buckets (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    -- A JSON array of the shared `PackageBucket` (name, manager, packages), non-empty lists only.
    lists JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A minimal stub of the containers Kiln manages, so that deleting a node or a template can
-- already be refused while containers reference it. The containers feature extends this
-- table (status, owner, job, ...) in its own migration.
CREATE TABLE containers (
    id BIGSERIAL PRIMARY KEY,
    node_id BIGINT NOT NULL REFERENCES nodes (id) ON DELETE RESTRICT,
    template_id BIGINT REFERENCES templates (id) ON DELETE RESTRICT,
    vmid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX containers_node_idx ON containers (node_id);
CREATE INDEX containers_template_idx ON containers (template_id);
