-- Who each call rang (the call record's `rang`: a JSON array of
-- {"extension","rang_at","ring_ms","answered"}), so a call nobody answered still counts as
-- missed for everyone it rang. Written with the `call.ended` record; NULL while live.
ALTER TABLE calls ADD COLUMN rang TEXT;

-- Calls that ended before: the one who answered (or the only extension named) is all that was
-- kept, so that is their only offer; per-agent counts of past days stay what they were.
UPDATE calls
   SET rang = json_array(json_object(
           'extension', COALESCE(extension, agent),
           'rang_at', COALESCE(answered_ms, started_ms),
           'ring_ms', 0,
           'answered', json(CASE WHEN answered_ms IS NOT NULL THEN 'true' ELSE 'false' END)))
 WHERE state = 'ended' AND COALESCE(extension, agent) IS NOT NULL;
