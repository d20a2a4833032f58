ALTER TABLE users DROP COLUMN default_node_id;
DROP TABLE nodes;
DROP TABLE app_meta;
