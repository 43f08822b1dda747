-- Lifecycle (issue 9): lock and unlock. A locked instance refuses every
-- action of a non-admin but unlock by the user who locked it.
--   locked_by: 'owner' (a member of the instance's project locked it) or
--     'admin' (an admin from another project), as Nova shows it;
--   locked_by_user: who locked it, so only they (or an admin) unlock it;
--   locked_reason: what they said (Nova's locked_reason, 2.73).
ALTER TABLE instances ADD COLUMN locked_by text CHECK (locked_by IN ('owner', 'admin')),
    ADD COLUMN locked_by_user text,
    ADD COLUMN locked_reason text;
