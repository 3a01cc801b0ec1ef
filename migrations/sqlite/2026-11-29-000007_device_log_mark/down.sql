ALTER TABLE devices DROP COLUMN log_tail;
ALTER TABLE devices DROP COLUMN log_count;
