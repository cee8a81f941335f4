-- The SMS queue and the do-not-text list (gateway/src/sms/ describes the states).
CREATE TABLE sms_out (
    id              INTEGER PRIMARY KEY,
    dedupe_key      TEXT    NOT NULL UNIQUE,  -- rule:<name>:<call id> | mqtt:<request id> | cli:<id>
    origin          TEXT    NOT NULL,         -- the rule's name, mqtt, cli
    call_id         TEXT,
    destination     TEXT    NOT NULL,         -- E.164
    text            TEXT    NOT NULL,
    state           TEXT    NOT NULL,         -- queued | sending | sent | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    error_code      INTEGER,                  -- +CMS/+CME ERROR n, or TP-ST of a failed report
    error_text      TEXT,
    parts           INTEGER,
    part_refs       TEXT,                     -- the TP-MR of each part, comma-separated
    parts_delivered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sms_out_due ON sms_out (state, next_attempt_ms);
CREATE INDEX sms_out_destination ON sms_out (destination, created_ms);

CREATE TABLE sms_optout (
    number TEXT    PRIMARY KEY,
    at_ms  INTEGER NOT NULL
) WITHOUT ROWID;
