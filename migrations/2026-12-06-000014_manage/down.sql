DELETE FROM container_events WHERE kind = 'action';
ALTER TABLE container_events
    DROP CONSTRAINT container_events_kind_check,
    ADD CONSTRAINT container_events_kind_check CHECK (kind IN ('phase', 'log', 'outcome'));
ALTER TABLE containers
    DROP COLUMN seen_at,
    DROP COLUMN live,
    DROP COLUMN power,
    DROP COLUMN pve_node,
    DROP COLUMN adopted_name,
    DROP COLUMN adopted;
