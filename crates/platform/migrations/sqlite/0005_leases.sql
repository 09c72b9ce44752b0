-- Named leases, the same shape as on PostgreSQL. The embedded store runs one process, whose
-- in-process lease needs no row; the table keeps both schemas alike.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires_at TEXT NOT NULL
);
