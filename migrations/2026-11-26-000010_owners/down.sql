DROP INDEX package_buckets_owner_idx;
DROP INDEX templates_owner_idx;
ALTER TABLE package_buckets DROP COLUMN owner_id;
ALTER TABLE templates DROP COLUMN owner_id;
