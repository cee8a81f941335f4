-- The contact directory (gateway/src/contacts/): who a number is, for call records and the
-- status page. Numbers are E.164; `source` says who owns the row: import (CSV/vCard), api,
-- mqtt, or central (synced from PostgreSQL pbxgw_contacts, which never overwrites the others).
CREATE TABLE contacts (
    number     TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    company    TEXT,
    note       TEXT,
    source     TEXT    NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX contacts_name ON contacts (name COLLATE NOCASE);

-- Who the other party of a call was, as its record said when it ended.
ALTER TABLE calls ADD COLUMN caller_name TEXT;
ALTER TABLE calls ADD COLUMN company TEXT;
