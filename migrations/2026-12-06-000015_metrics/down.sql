DROP TABLE node_watch;
DROP TABLE metric_rollups;
DROP TABLE metric_1d;
DROP TABLE metric_1h;
DROP TABLE metric_1m;
DROP TABLE metric_raw;
DROP TABLE metric_series;
