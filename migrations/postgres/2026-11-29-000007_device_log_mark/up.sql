-- Where each pulled device's log stood at the last complete poll: its record count and last record.
-- The ZK log only grows until someone clears it, so a poll that finds the same record at that
-- position stores only what follows, without asking the database about the rest.
ALTER TABLE devices ADD COLUMN log_count INTEGER;
ALTER TABLE devices ADD COLUMN log_tail TEXT;
