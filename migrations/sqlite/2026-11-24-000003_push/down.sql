DROP TABLE device_commands;
ALTER TABLE devices DROP COLUMN last_seen_at;
ALTER TABLE devices DROP COLUMN operlog_stamp;
ALTER TABLE devices DROP COLUMN attlog_stamp;
ALTER TABLE devices DROP COLUMN approved;
ALTER TABLE devices DROP COLUMN transport;
