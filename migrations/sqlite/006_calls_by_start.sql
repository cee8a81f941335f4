-- An ended call's outside party (the caller of an inbound call, the callee of an outbound
-- one) in E.164, so the misses an answered call closes (callback.closed) are found by index.
-- Calls that ended before this migration have none: they are never closed by an event (the
-- missed-callers view still closes them). Live calls have no entry in the index.
ALTER TABLE calls ADD COLUMN party TEXT;
CREATE INDEX calls_by_party ON calls (party, started_ms) WHERE party IS NOT NULL;
