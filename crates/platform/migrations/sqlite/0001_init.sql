-- Nodes form a tree: a root is a design system, its children products, theirs themes.
CREATE TABLE nodes (
    id          TEXT PRIMARY KEY,
    parent      TEXT REFERENCES nodes(id),
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX nodes_by_parent ON nodes(parent, id);

-- What each node defines ('define') or overrides from an ancestor ('override').
CREATE TABLE tokens (
    node        TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('define', 'override')),
    type        TEXT,
    value       TEXT NOT NULL,
    description TEXT,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (node, path)
);

-- The revision counter: every committed mutation advances it by one.
CREATE TABLE revision (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 0);

-- Who changed what, when, under which trace. Kept when nodes are deleted.
CREATE TABLE history (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    node     TEXT NOT NULL,
    path     TEXT,
    action   TEXT NOT NULL,
    before   TEXT,
    after    TEXT,
    actor    TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX history_by_node ON history(node, path, seq);

-- Change events, written in the same transaction as the change (outbox).
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    revision INTEGER NOT NULL,
    node     TEXT NOT NULL,
    kind     TEXT NOT NULL,
    paths    TEXT NOT NULL,
    actor    TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
