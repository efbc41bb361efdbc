-- 0001_init: records and tags.

-- One row per resource. body is the caller's JSON; name is '' when unused.
CREATE TABLE records (
    account TEXT NOT NULL,
    region  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    name    TEXT NOT NULL DEFAULT '',
    body    BLOB NOT NULL,
    PRIMARY KEY (account, region, kind, id)
);

-- Names are unique per (account, region, kind) when set. Queries by name
-- repeat the "name <> ''" term so the planner can use this partial index.
CREATE UNIQUE INDEX records_name ON records (account, region, kind, name) WHERE name <> '';

-- Cross-account lists (Query.AllAccounts) in (id, account) order.
CREATE INDEX records_kind_id ON records (region, kind, id, account);

CREATE TABLE tags (
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    key           TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (account, region, resource_id, key)
) WITHOUT ROWID;

-- Tag filters by key (tag:Name=..., tag-key=...).
CREATE INDEX tags_key ON tags (account, region, key, resource_id);
