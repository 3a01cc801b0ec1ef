-- Switching from the Django bridge (issue 22): a device may have a failover address, tried when the
-- first one does not answer, and the address that answered last is kept for the operator to see.
-- Keep in step with ../../postgres.
ALTER TABLE devices ADD COLUMN secondary_address TEXT;
ALTER TABLE devices ADD COLUMN answered_address TEXT;
