ALTER TABLE devices DROP COLUMN live_lease_until;
ALTER TABLE devices DROP COLUMN live_lease_owner;
