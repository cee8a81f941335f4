-- The operator directory (gateway/src/contacts/operators.rs): who works at an extension or
-- under an agent id, and in which team, for the journal, the agents panel and the reports.
-- `source` says who set the row: import (CSV), api or mqtt.
CREATE TABLE operators (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    team       TEXT,
    source     TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
