DROP TABLE template_sync_runs;
DROP TABLE templates;
