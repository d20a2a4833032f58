-- Custom templates and shared package buckets get an owner: everyone may use and clone them,
-- only the owner or an administrator changes or deletes them. Folder and built-in templates
-- have no owner (nobody edits them in Kiln). A row whose owner is unknown (made before this
-- migration, or whose user row is gone) can be changed by administrators only.
ALTER TABLE templates ADD COLUMN owner_id BIGINT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE package_buckets ADD COLUMN owner_id BIGINT REFERENCES users (id) ON DELETE SET NULL;

-- Existing rows: the user who last created, copied or saved them, from the audit log.
UPDATE templates t SET owner_id = a.actor_id
FROM (
    SELECT DISTINCT ON (target) target, actor_id
    FROM audit_log
    WHERE action IN ('template.create', 'template.copy', 'template.save')
      AND outcome = 'ok' AND actor_id IS NOT NULL AND target IS NOT NULL
    ORDER BY target, id DESC
) a
WHERE t.source = 'custom' AND t.slug = a.target;

UPDATE package_buckets b SET owner_id = a.actor_id
FROM (
    SELECT DISTINCT ON (target) target, actor_id
    FROM audit_log
    WHERE action = 'bucket.create' AND outcome = 'ok' AND actor_id IS NOT NULL
      AND target IS NOT NULL
    ORDER BY target, id ASC
) a
WHERE b.name = a.target;

CREATE INDEX templates_owner_idx ON templates (owner_id);
CREATE INDEX package_buckets_owner_idx ON package_buckets (owner_id);
