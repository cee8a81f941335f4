-- Who each call rang, in order: [{"extension", "rang_at" (Unix ms), "ring_ms", "answered"}].
-- A call nobody answered names the phones that missed it; central's per-agent reports read it,
-- e.g. `WHERE rang @> '[{"extension": "201"}]'`. Calls stored before have '[]'.
-- (Adding a column needs the table's owner: a gateway whose role did not create the tables
-- stops here with PostgreSQL's "must be owner of table pbxgw_calls"; the owner runs this file.)
ALTER TABLE pbxgw_calls ADD COLUMN IF NOT EXISTS rang jsonb NOT NULL DEFAULT '[]';
CREATE INDEX IF NOT EXISTS pbxgw_calls_rang ON pbxgw_calls USING gin (rang jsonb_path_ops);
