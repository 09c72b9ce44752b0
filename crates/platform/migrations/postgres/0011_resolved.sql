-- The resolved projection: each node's resolved tokens as the answer tokens.resolve gives, written
-- by the transaction that changed them, so a read is one row. The tokens stay the source of truth.
CREATE TABLE resolved (
    node TEXT PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,
    body TEXT NOT NULL
);
