-- Each node gets its own SSH key pair, generated when its SSH access is first set up and
-- stored here sealed with the installation key (AES-256-GCM, bound to the row as
-- `nodes.ssh_key:<id>`). A key a user authorized on a machine then works only for that
-- user's node: another user's node with the same host has a key of its own.
ALTER TABLE nodes ADD COLUMN ssh_key BYTEA;

-- The single installation-wide key that every node used before is retired (nodes show
-- their own key to authorize; the old line can be removed from authorized_keys).
DELETE FROM app_meta WHERE key = 'ssh_key';
