-- Each node keeps the ids from its root down to itself (a JSON array). Nodes never move, so the
-- list is written once, at insert; reading a node's layers is then one indexed query instead of a
-- recursive walk.
ALTER TABLE nodes ADD COLUMN lineage TEXT NOT NULL DEFAULT '[]';
WITH RECURSIVE down(id, lineage) AS (
    SELECT id, json_array(id) FROM nodes WHERE parent IS NULL
    UNION ALL SELECT n.id, json_insert(down.lineage, '$[#]', n.id) FROM nodes n JOIN down ON n.parent = down.id
)
UPDATE nodes SET lineage = (SELECT down.lineage FROM down WHERE down.id = nodes.id);

-- Kept by the database, so every writer inserts nodes with their lineage.
CREATE TRIGGER nodes_lineage AFTER INSERT ON nodes
BEGIN
    UPDATE nodes
    SET lineage = json_insert(coalesce((SELECT lineage FROM nodes WHERE id = NEW.parent), '[]'),
                              '$[#]', NEW.id)
    WHERE id = NEW.id;
END;
