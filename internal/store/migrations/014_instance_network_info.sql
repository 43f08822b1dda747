-- Networking (issue 10): an instance's NICs, as Nova's network info cache
-- keeps them: the ports in the order the request gave, whether Nova made
-- each one (it deletes those with the instance and only unbinds the
-- others), and their fixed and floating addresses for the server's
-- "addresses". The networking service rewrites it whenever one of the
-- ports or their floating IPs changes, which also changes the instance's
-- updated_at (the rendered-server cache key).
ALTER TABLE instances ADD COLUMN network_info jsonb NOT NULL DEFAULT '[]';

---- create above / drop below ----

ALTER TABLE instances DROP COLUMN network_info;
