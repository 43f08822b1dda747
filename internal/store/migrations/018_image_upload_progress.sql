-- Portal (issue 11): how much of an image's data has arrived while it is
-- saving (a browser's upload, an agent's snapshot), so every page that
-- shows the image shows the upload's bytes and percent.
ALTER TABLE images ADD COLUMN upload_received bigint NOT NULL DEFAULT 0,
    ADD COLUMN upload_total bigint NOT NULL DEFAULT 0;

---- create above / drop below ----

ALTER TABLE images DROP COLUMN upload_received, DROP COLUMN upload_total;
