-- Lifecycle (issue 9): the job a task waits for, as it was sent, so the
-- reconciler can send it again when it is lost. Jobs of the newer
-- operations carry more than the instance row says (a snapshot's image,
-- a rebuild's new image, a resize's flavor).
ALTER TABLE instances ADD COLUMN task_job jsonb;
