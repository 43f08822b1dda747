-- Portal (issue 11): the language a user chose with the portal's switcher
-- ('' = none chosen: the browser's Accept-Language decides).
ALTER TABLE users ADD COLUMN language text NOT NULL DEFAULT '' CHECK (length(language) <= 35);

---- create above / drop below ----

ALTER TABLE users DROP COLUMN language;
