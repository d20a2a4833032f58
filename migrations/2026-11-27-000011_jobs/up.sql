-- The durable job queue (server/src/jobs): one row per job. A worker claims a row with one
-- short `UPDATE … FOR UPDATE SKIP LOCKED` statement and then holds it through a lease
-- (`lease_owner`, `lease_until`) that a heartbeat renews; no transaction stays open while a
-- job runs. Every write a worker makes for its job names the lease owner, so a worker whose
-- lease expired and was taken over writes nothing. Payloads never hold secrets.
CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    -- Which handler runs it (`JobHandler` registered under this name).
    kind TEXT NOT NULL CHECK (char_length(kind) BETWEEN 1 AND 64),
    -- The handler's input (ids and options; never a secret).
    payload JSONB NOT NULL DEFAULT '{}',
    -- The node the job works on, for the per-node limit of running jobs; kept (NULL) when
    -- the node is deleted so the job's history stays.
    node_id BIGINT REFERENCES nodes (id) ON DELETE SET NULL,
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    -- The phase the job is in, or failed in; a resumed or retried run starts from it.
    phase TEXT CHECK (char_length(phase) BETWEEN 1 AND 64),
    -- Runs claimed since it was queued (reset by a retry); a job interrupted this often is
    -- given up.
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- Why it failed (shown to its owner).
    error TEXT,
    -- The running claim: a random token per claim, and until when it holds without a
    -- heartbeat. A running job whose lease is over is claimed again (a resumption).
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    -- Which of its node's `per_node` places a running job takes; the unique index below
    -- makes the per-node limit hold when two workers claim at the same moment.
    node_slot INTEGER CHECK (node_slot >= 0),
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    -- Not claimed before this time.
    run_after TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    CONSTRAINT jobs_lease_while_running
        CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_until IS NOT NULL)),
    CONSTRAINT jobs_slot_while_running CHECK (node_slot IS NULL OR state = 'running'),
    CONSTRAINT jobs_finished_at_when_finished
        CHECK ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);

-- Claiming: the oldest claimable job (queued and due, or running with an expired lease).
CREATE INDEX jobs_claimable_idx ON jobs (id) WHERE state IN ('queued', 'running');
-- A node's running jobs (the per-node limit) and the foreign key's look-ups.
CREATE INDEX jobs_node_idx ON jobs (node_id, state);
-- At most one running job per node and place.
CREATE UNIQUE INDEX jobs_node_slot_idx ON jobs (node_id, node_slot) WHERE state = 'running';
