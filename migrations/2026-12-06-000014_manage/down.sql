ALTER TABLE containers
    DROP COLUMN seen_at,
    DROP COLUMN live,
    DROP COLUMN power,
    DROP COLUMN pve_node,
    DROP COLUMN adopted_name,
    DROP COLUMN adopted;
