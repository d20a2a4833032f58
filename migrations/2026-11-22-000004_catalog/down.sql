DROP TABLE containers;
DROP TABLE package_buckets;
