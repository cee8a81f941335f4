-- What a call cost, as the PBX last advised it (Slican CTIP AOC: gross, in `currency`), and a
-- link to its recording central can open (`recording_url_base` of an Asterisk PBX).
-- Calls stored before have NULLs. (As in 003: adding columns needs the table's owner.)
ALTER TABLE pbxgw_calls ADD COLUMN IF NOT EXISTS charge numeric(16, 4);
ALTER TABLE pbxgw_calls ADD COLUMN IF NOT EXISTS currency text;
ALTER TABLE pbxgw_calls ADD COLUMN IF NOT EXISTS recording_url text;
