-- Push hardening (issue 14): an approved push terminal is bound to the network it pushes from, may
-- carry a secret of its own, and the address of its last request is kept so an admin can see (and
-- approve) where a self-registered terminal really is.
ALTER TABLE devices ADD COLUMN push_bound_network TEXT;
ALTER TABLE devices ADD COLUMN push_secret_hash TEXT;
ALTER TABLE devices ADD COLUMN last_push_peer TEXT;
