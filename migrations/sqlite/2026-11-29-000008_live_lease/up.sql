-- Live mode keeps one real-time connection per device open; like polling, one instance holds it at a
-- time, under a lease of its own (a poll and the live connection run side by side).
ALTER TABLE devices ADD COLUMN live_lease_owner TEXT;
ALTER TABLE devices ADD COLUMN live_lease_until TIMESTAMP;
