-- Nodes form a tree: a root is a design system, its children products, theirs themes.
CREATE TABLE nodes (
    id          text PRIMARY KEY,
    parent      text REFERENCES nodes(id),
    name        text NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nodes_by_parent ON nodes(parent, id);

-- What each node defines ('define') or overrides from an ancestor ('override').
CREATE TABLE tokens (
    node        text NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    path        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('define', 'override')),
    type        text,
    value       jsonb NOT NULL,
    description text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node, path)
);

-- Change numbers: each write transaction takes one; history and events carry it.
CREATE SEQUENCE changes;

-- Who changed what, when, under which trace. Kept when nodes are deleted.
CREATE TABLE history (
    seq      bigserial PRIMARY KEY,
    node     text NOT NULL,
    path     text,
    action   text NOT NULL,
    before   jsonb,
    after    jsonb,
    actor    text NOT NULL,
    trace_id text NOT NULL,
    revision bigint NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_by_node ON history(node, path, seq);

-- Change events, written in the same transaction as the change (outbox). Rows are inserted under
-- a transaction-level advisory lock at commit, so seq order is commit order and a reader that
-- follows seq never skips an event committed late.
CREATE TABLE events (
    seq      bigserial PRIMARY KEY,
    revision bigint NOT NULL,
    node     text NOT NULL,
    kind     text NOT NULL,
    paths    jsonb NOT NULL,
    actor    text NOT NULL,
    trace_id text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
