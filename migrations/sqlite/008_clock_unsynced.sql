-- An event stored while the box's clock was not known to be right (a board without a
-- real-time clock before its first time sync): its ts_ms may be far off.
ALTER TABLE events ADD COLUMN clock_unsynced INTEGER NOT NULL DEFAULT 0;
