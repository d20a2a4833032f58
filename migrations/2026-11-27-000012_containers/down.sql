DROP TABLE container_credentials;
DROP TABLE container_services;
DROP TABLE container_events;
DROP INDEX containers_owner_idx;
DROP INDEX containers_node_vmid_key;
DELETE FROM containers WHERE vmid IS NULL;
ALTER TABLE containers
    ALTER COLUMN vmid SET NOT NULL,
    DROP COLUMN updated_at,
    DROP COLUMN error,
    DROP COLUMN address,
    DROP COLUMN root_password,
    DROP COLUMN request,
    DROP COLUMN job_id,
    DROP COLUMN status,
    DROP COLUMN template_hash,
    DROP COLUMN template_slug,
    DROP COLUMN kind,
    DROP COLUMN owner_id;
