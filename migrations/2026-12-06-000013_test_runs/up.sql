-- A template test run (`ContainerService::test_run`): a throwaway container whose creation
-- ends with a pass/fail report, then is deleted unless the user asked to keep it.
ALTER TABLE containers
    ADD COLUMN test_run boolean NOT NULL DEFAULT false,
    ADD COLUMN keep_after_test boolean NOT NULL DEFAULT false;
