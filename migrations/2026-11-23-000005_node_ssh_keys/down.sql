-- The per-node keys are dropped; an older Kiln generates its installation-wide key again on
-- first use (the retired one is not restored).
ALTER TABLE nodes DROP COLUMN ssh_key;
