-- Named leases for leader election. A row outlives its holders: release only expires it, so the
-- epoch (the fencing token) keeps growing across takeovers. Times come from the database clock.
CREATE TABLE leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    epoch bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
