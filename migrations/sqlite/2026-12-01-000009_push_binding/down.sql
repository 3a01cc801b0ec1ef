ALTER TABLE devices DROP COLUMN last_push_peer;
ALTER TABLE devices DROP COLUMN push_secret_hash;
ALTER TABLE devices DROP COLUMN push_bound_network;
