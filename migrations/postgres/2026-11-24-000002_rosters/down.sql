ALTER TABLE devices DROP COLUMN live_mode;
ALTER TABLE devices DROP COLUMN clock_offset_s;
ALTER TABLE devices DROP COLUMN watermark_at;
ALTER TABLE devices DROP COLUMN poll_lease_until;
ALTER TABLE devices DROP COLUMN poll_lease_owner;
DROP TABLE holidays;
DROP TABLE roster_entries;
DROP TABLE shift_templates;
DROP TABLE employees;
