-- Optimistic concurrency: each node and token carries the change number of its last write (the
-- `revision` history records for that write); a client sends it back as `expectedRevision`.
ALTER TABLE nodes ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
UPDATE nodes SET revision = coalesce(
    (SELECT max(h.revision) FROM history h WHERE h.node = nodes.id AND h.path IS NULL), 0);
UPDATE tokens SET revision = coalesce(
    (SELECT max(h.revision) FROM history h WHERE h.node = tokens.node AND h.path = tokens.path), 0);

-- Idempotency keys: one row per (actor, key). A run claims the key ('running', with a lease so a
-- claim left by a dead instance can be taken over), marks it 'committed' inside the mutation's own
-- transaction, and stores its result ('done') for replays until `expires_at`. Times are
-- milliseconds since the Unix epoch, from the database's clock.
CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    command     TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'committed', 'done')),
    token       TEXT NOT NULL,
    result      TEXT,
    created_at  INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys(expires_at);
