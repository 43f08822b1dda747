-- Server tags (Nova 2.26): a server's tags, at most 50 of 1 to 60
-- characters without '/' or ',' (the API checks Nova's rules; the table
-- keeps only what no request may break). A table rather than a text[]
-- column so that the list filters (tags, tags-any, not-tags,
-- not-tags-any) use the (tag) index, and so that a tag is added or
-- removed without rewriting the instance's row.
CREATE TABLE instance_tags (
    instance_id uuid NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    tag         text NOT NULL CHECK (length(tag) BETWEEN 1 AND 60),
    PRIMARY KEY (instance_id, tag)
);
CREATE INDEX instance_tags_tag ON instance_tags (tag);
