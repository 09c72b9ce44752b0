-- Each node keeps the ids from its root down to itself. Nodes never move, so the list is written
-- once, at insert; reading a node's layers is then one indexed query instead of a recursive walk.
ALTER TABLE nodes ADD COLUMN lineage text[] NOT NULL DEFAULT '{}';
WITH RECURSIVE down(id, lineage) AS (
    SELECT id, ARRAY[id] FROM nodes WHERE parent IS NULL
    UNION ALL SELECT n.id, down.lineage || n.id FROM nodes n JOIN down ON n.parent = down.id
)
UPDATE nodes SET lineage = down.lineage FROM down WHERE nodes.id = down.id;

-- Kept by the database, so every writer (an instance of an older version during a rolling
-- deploy too) inserts nodes with their lineage.
CREATE FUNCTION nodes_set_lineage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.lineage := coalesce((SELECT lineage FROM nodes WHERE id = NEW.parent), '{}') || NEW.id;
    RETURN NEW;
END
$$;
CREATE TRIGGER nodes_lineage BEFORE INSERT ON nodes
    FOR EACH ROW EXECUTE FUNCTION nodes_set_lineage();
