-- Blobs: files the service produces (export artifacts, published snapshots), kept in the store so
-- every instance serves them. Times are milliseconds since the Unix epoch, by the database's clock.
CREATE TABLE blobs (
    key          TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    size         INTEGER NOT NULL,
    etag         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER
);
-- Deleting expired blobs.
CREATE INDEX blobs_expiry ON blobs (expires_at) WHERE expires_at IS NOT NULL;
