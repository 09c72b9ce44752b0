-- The job queue. Times are milliseconds since the Unix epoch, from the database's clock, so every
-- instance agrees on what is due and whose lease ran out.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL CHECK (kind <> ''),
    args             TEXT NOT NULL,
    queue            TEXT NOT NULL DEFAULT 'default',
    priority         INTEGER NOT NULL DEFAULT 0 CHECK (priority >= 0),
    state            TEXT NOT NULL CHECK (state IN ('available', 'scheduled', 'running',
                         'retryable', 'completed', 'discarded', 'cancelled')),
    run_at           INTEGER NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    unique_key       TEXT,
    partition_key    TEXT,
    locked_by        TEXT,
    locked_until     INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    errors           TEXT NOT NULL DEFAULT '[]',
    created_at       INTEGER NOT NULL,
    attempted_at     INTEGER,
    finished_at      INTEGER
);
-- One pending or running job per unique key; a finished job frees its key.
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
    WHERE unique_key IS NOT NULL
      AND state IN ('available', 'scheduled', 'running', 'retryable');
-- Fetching: due jobs of a queue, highest priority then oldest first.
CREATE INDEX jobs_fetch ON jobs (queue, priority DESC, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');
-- Rescue of expired leases.
CREATE INDEX jobs_leases ON jobs (locked_until) WHERE state = 'running';
-- Pruning of finished jobs.
CREATE INDEX jobs_finished ON jobs (finished_at)
    WHERE state IN ('completed', 'discarded', 'cancelled');
