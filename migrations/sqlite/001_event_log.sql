-- The durable event log and its delivery cursors. Rows are only ever deleted from the head
-- (lowest seq first), so the live rows always form one contiguous seq range.
CREATE TABLE events (
    seq     INTEGER PRIMARY KEY,   -- assigned by the single writer: gap-free, monotonic
    ts_ms   INTEGER NOT NULL,      -- Unix ms: PBX time where the PBX sends one, else arrival
    source  TEXT    NOT NULL,      -- ctip | ami | ari | gateway
    pbx     TEXT    NOT NULL,      -- configured [[pbx]] name
    kind    TEXT    NOT NULL,      -- call.started, call.ended, agent.state, ...
    call_id TEXT,
    raw     TEXT,                  -- the PBX line/frame the event came from
    body    BLOB    NOT NULL       -- postcard, versioned envelope (store::codec)
);
CREATE INDEX events_call_id ON events (call_id) WHERE call_id IS NOT NULL;

-- One row per uplink sink: everything up to acked_seq has been acknowledged by the far side.
CREATE TABLE sink_cursor (
    sink       TEXT    PRIMARY KEY,
    acked_seq  INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);

-- Counters and marks that must survive the deletion of every event row:
-- last_seq, evicted_unacked, evicted_total, quarantined, last_quarantine.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value
);

-- Calls as the correlators last described them; updated in the transaction of the event that
-- changed them.
CREATE TABLE calls (
    call_id     TEXT    PRIMARY KEY,
    pbx         TEXT    NOT NULL,
    state       TEXT    NOT NULL,  -- live | ended
    direction   TEXT,
    caller      TEXT,
    callee      TEXT,
    extension   TEXT,
    agent       TEXT,
    queue       TEXT,
    started_ms  INTEGER NOT NULL,
    answered_ms INTEGER,
    ended_ms    INTEGER,
    disposition TEXT,
    ended_seq   INTEGER,           -- the call.ended event, whose body is the full record
    last_seq    INTEGER NOT NULL
) WITHOUT ROWID;  -- one B-tree keyed by call_id: a call update touches a single tree
