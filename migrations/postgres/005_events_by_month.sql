-- pbxgw_events for a fleet: partitioned by month on ts, so that retention drops whole
-- partitions instead of deleting rows, and every index starts with gateway_id.
--
-- A replay of an event carries the same (gateway_id, seq, ts) as the first delivery, so the
-- key below keeps inserts idempotent although PostgreSQL makes it include the partition key.
-- Events outside any month partition (a box whose clock was far off) land in the default
-- partition; pbxgw_events_ensure_partition moves them out when their month's partition is
-- created.
--
-- Migrating a database created by migrations 001-004 copies the old table's rows into the
-- partitions in this one transaction (a gateway runs it on connect, under the migration
-- lock): on a central database with hundreds of millions of rows, run this file by hand in
-- a maintenance window first (psql -1 -f 005_events_by_month.sql, then record version 5 in
-- pbxgw_schema_migrations).

ALTER TABLE pbxgw_events RENAME TO pbxgw_events_unpartitioned;
ALTER INDEX IF EXISTS pbxgw_events_pkey RENAME TO pbxgw_events_unpartitioned_pkey;
DROP INDEX IF EXISTS pbxgw_events_call;
DROP INDEX IF EXISTS pbxgw_events_ts;

CREATE TABLE pbxgw_events (
    gateway_id  text        NOT NULL,
    seq         bigint      NOT NULL,
    ts          timestamptz NOT NULL,
    source      text        NOT NULL,
    pbx         text        NOT NULL,
    kind        text        NOT NULL,
    call_id     text,
    payload     jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway_id, seq, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE pbxgw_events_default PARTITION OF pbxgw_events DEFAULT;
CREATE INDEX pbxgw_events_call ON pbxgw_events (gateway_id, call_id) WHERE call_id IS NOT NULL;
CREATE INDEX pbxgw_events_ts ON pbxgw_events (gateway_id, ts);

-- The partition of the month holding `at` (UTC months), created if missing; rows of that
-- month waiting in the default partition move into it. SECURITY DEFINER: a gateway's role
-- needs no CREATE privilege, only EXECUTE (granted to PUBLIC by default).
CREATE OR REPLACE FUNCTION pbxgw_events_ensure_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    lo timestamptz := date_trunc('month', at, 'UTC');
    hi timestamptz := lo + interval '1 month';
    name text := 'pbxgw_events_' || to_char(lo AT TIME ZONE 'UTC', '"y"YYYY"m"MM');
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Gateways creating the same month at once: one creates it, the others find it.
    PERFORM pg_advisory_xact_lock(hashtext(name));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE pbxgw_events INCLUDING DEFAULTS)', name);
    EXECUTE format(
        'WITH moved AS (DELETE FROM pbxgw_events_default WHERE ts >= $1 AND ts < $2 RETURNING *)
         INSERT INTO %I SELECT * FROM moved', name) USING lo, hi;
    EXECUTE format('ALTER TABLE pbxgw_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   name, lo, hi);
    RETURN name;
END $$;

-- Retention: drops every month partition that ends on or before `cutoff` and deletes older
-- rows from the default partition; returns the partitions dropped. Central runs it from
-- cron (`SELECT pbxgw_events_drop_before(now() - interval '13 months')`) or through
-- `pbxgw central prune --older-than 400d`. Not SECURITY DEFINER: it needs the owner.
CREATE OR REPLACE FUNCTION pbxgw_events_drop_before(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname::text AS name,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'pbxgw_events'::regclass AND c.relname <> 'pbxgw_events_default'
        ORDER BY 1
    LOOP
        IF part.upper <= cutoff THEN
            EXECUTE format('DROP TABLE %I', part.name);
            RETURN NEXT part.name;
        END IF;
    END LOOP;
    DELETE FROM pbxgw_events_default WHERE ts < cutoff;
END $$;

-- The rows of the old table, month by month into their partitions.
SELECT pbxgw_events_ensure_partition(m)
FROM (SELECT DISTINCT date_trunc('month', ts, 'UTC') AS m FROM pbxgw_events_unpartitioned) months;
INSERT INTO pbxgw_events SELECT * FROM pbxgw_events_unpartitioned;
DROP TABLE pbxgw_events_unpartitioned;

-- The journal queries central runs: a number's calls, newest first, across the fleet or on
-- one gateway; and one gateway's calls by time.
CREATE INDEX IF NOT EXISTS pbxgw_calls_caller ON pbxgw_calls (caller, started_at);
CREATE INDEX IF NOT EXISTS pbxgw_calls_callee ON pbxgw_calls (callee, started_at);
DROP INDEX IF EXISTS pbxgw_calls_started;
CREATE INDEX IF NOT EXISTS pbxgw_calls_gateway_started ON pbxgw_calls (gateway_id, started_at);
