-- Fair fetching by partition: within a queue, partitions (jobs with the same partition_key; the
-- keyless ones under '') take turns. The fetch lists a queue's partitions by a loose scan of this
-- index and reads each partition's due jobs in priority order from it. The coalesce makes the
-- keyless partition an equality like the others, so its scan is ordered by the index too.
CREATE INDEX jobs_fetch_partitions
    ON jobs (queue, (coalesce(partition_key, '')), priority DESC, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');
-- Fetching no longer reads the per-queue index; it only cost every enqueue and fetch a write.
DROP INDEX jobs_fetch;
