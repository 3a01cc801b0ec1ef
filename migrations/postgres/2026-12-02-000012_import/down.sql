ALTER TABLE devices DROP COLUMN answered_address;
ALTER TABLE devices DROP COLUMN secondary_address;
