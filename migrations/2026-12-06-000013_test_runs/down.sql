ALTER TABLE containers
    DROP COLUMN keep_after_test,
    DROP COLUMN test_run;
