CREATE INDEX crm_outbox_by_day_revision ON crm_outbox (attendance_id, revision);
