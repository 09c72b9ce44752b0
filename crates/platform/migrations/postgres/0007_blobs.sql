-- Blobs: files the service produces (export artifacts, published snapshots), kept in the store so
-- every instance serves them. Times are milliseconds since the Unix epoch, by the database's clock.
-- Keys sort bytewise ("C") so a prefix listing is one index range scan.
CREATE TABLE blobs (
    key          TEXT COLLATE "C" PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes        BYTEA NOT NULL,
    size         BIGINT NOT NULL,
    etag         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT
);
-- Deleting expired blobs.
CREATE INDEX blobs_expiry ON blobs (expires_at) WHERE expires_at IS NOT NULL;
