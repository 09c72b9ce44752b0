-- Webhooks: a URL that hears of every change to a node or anything below it. A node's webhooks go
-- with the node. `events` lists the change kinds it wants (null: every change).
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY CHECK (id <> ''),
    node       TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    url        TEXT NOT NULL CHECK (url <> ''),
    secret     TEXT NOT NULL CHECK (secret <> ''),
    events     JSONB,
    active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_by_node ON webhooks(node);

-- The delivery log: one row per attempt (times in milliseconds since the Unix epoch). `status` is
-- the receiver's HTTP status; `error` says why an attempt failed (no answer, breaker open, a
-- non-2xx status).
CREATE TABLE webhook_deliveries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook     TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    job         BIGINT NOT NULL,
    attempt     INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms BIGINT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries(webhook, id);
CREATE INDEX webhook_deliveries_by_at ON webhook_deliveries(at);
