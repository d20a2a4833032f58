-- Managing containers: what Kiln last saw of each on its node (kept while the node does not
-- answer, so a row never disappears because its node is down), and containers Kiln did not
-- create but was asked to manage (adopted: recorded, never changed by the adoption).
ALTER TABLE containers
    ADD COLUMN adopted boolean NOT NULL DEFAULT false,
    -- The node's own hostname of an adopted container when it was adopted: a deletion destroys
    -- the guest under the VMID only while it still carries that name.
    ADD COLUMN adopted_name text,
    ADD COLUMN pve_node text,
    ADD COLUMN power text,
    ADD COLUMN live jsonb,
    ADD COLUMN seen_at timestamptz;

-- A lifecycle action asked (`start asked by ada`) is an event of its own kind; its outcome is
-- an `outcome` event.
ALTER TABLE container_events
    DROP CONSTRAINT container_events_kind_check,
    ADD CONSTRAINT container_events_kind_check CHECK (kind IN ('phase', 'log', 'outcome', 'action'));
