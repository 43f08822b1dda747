-- Portal (issue 11): how far a build has come, for the progress bar and
-- Nova's progress (model.BuildStep).
ALTER TABLE instances ADD COLUMN build_step text NOT NULL DEFAULT '',
    ADD COLUMN progress smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100);

---- create above / drop below ----

ALTER TABLE instances DROP COLUMN build_step, DROP COLUMN progress;
