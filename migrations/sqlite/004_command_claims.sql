-- Remote commands claimed by request id before they run (gateway/src/commands/claims.rs):
-- a request id runs at most once, also when two copies arrive together or after a restart.
-- `answer` is the JSON answer once the command has finished (NULL while it runs).
CREATE TABLE command_claims (
    request_id TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    origin     TEXT    NOT NULL,
    claimed_ms INTEGER NOT NULL,
    answer     TEXT
) WITHOUT ROWID;
CREATE INDEX command_claims_age ON command_claims (claimed_ms);
