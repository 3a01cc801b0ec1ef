-- The REST API's list filters, each backed by an index, and the audit trail of corrections and admin actions.
CREATE INDEX processed_attendance_by_date ON processed_attendance (work_date, id);
CREATE INDEX processed_attendance_by_status ON processed_attendance (status, work_date);
CREATE INDEX processed_attendance_by_update ON processed_attendance (updated_at);
CREATE INDEX raw_punches_by_time ON raw_punches (utc_time, id);
CREATE INDEX raw_punches_by_device_time ON raw_punches (device_id, utc_time);
CREATE INDEX crm_outbox_by_day_revision ON crm_outbox (attendance_id, revision);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TIMESTAMP NOT NULL,            -- UTC
    actor       TEXT NOT NULL,                 -- the account's user name
    action      TEXT NOT NULL,                 -- e.g. attendance.correct, device.create
    target_type TEXT NOT NULL,                 -- device, processed_attendance, job
    target_id   TEXT,
    old_value   TEXT,                          -- JSON
    new_value   TEXT,                          -- JSON
    reason      TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at, id);
CREATE INDEX audit_log_by_target ON audit_log (target_type, target_id);
