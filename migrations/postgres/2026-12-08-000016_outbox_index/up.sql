-- `crm_outbox_by_day_revision` (attendance_id, revision) repeated the index that the table's own
-- UNIQUE (attendance_id, revision) constraint already keeps: every first delivery paid for both.
DROP INDEX crm_outbox_by_day_revision;
