-- The trace id of the request that enqueued a job: its attempts log under the same trace.
ALTER TABLE jobs ADD COLUMN trace_id TEXT;
