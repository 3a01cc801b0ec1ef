DROP TABLE audit_log;
DROP INDEX crm_outbox_by_day_revision;
DROP INDEX raw_punches_by_device_time;
DROP INDEX raw_punches_by_time;
DROP INDEX processed_attendance_by_update;
DROP INDEX processed_attendance_by_status;
DROP INDEX processed_attendance_by_date;
