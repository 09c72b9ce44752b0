-- Cron schedules. last_fire_at (milliseconds since the Unix epoch) only moves forward, in the
-- same transaction as the job a firing enqueues: a firing happens at most once.
CREATE TABLE schedules (
    name         TEXT PRIMARY KEY CHECK (name <> ''),
    cron         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind <> ''),
    args         JSONB NOT NULL,
    missed       TEXT NOT NULL CHECK (missed IN ('catch_up', 'skip')),
    source       TEXT NOT NULL CHECK (source IN ('config', 'api')),
    last_fire_at BIGINT,
    created_at   BIGINT NOT NULL
);
