-- Lifecycle (issue 9): shelve. shelved_image_id is the snapshot a shelved
-- instance boots from when it is unshelved after being offloaded (Nova
-- keeps it in system_metadata); it is deleted once unshelved, or with the
-- instance. shelved_at starts NIMBUS_SHELVED_OFFLOAD_TIME.
ALTER TABLE instances ADD COLUMN shelved_image_id uuid, ADD COLUMN shelved_at timestamptz;
