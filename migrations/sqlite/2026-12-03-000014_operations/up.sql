-- Operational alerts (one e-mail when a condition starts, one when it ends) and scheduled report
-- e-mails (one per subscription and period). Both are claimed with a conditional write before the
-- e-mail goes out, so several instances on one database never send twice.
CREATE TABLE alert_states (
    alert_key   TEXT PRIMARY KEY NOT NULL,     -- device_silent:12, deliveries_failed, plugin_failing:process_attendance, crm_unreachable
    active      BOOLEAN NOT NULL,
    started_at  TIMESTAMP,                     -- UTC, when the condition last started
    ended_at    TIMESTAMP,                     -- UTC, when it last ended
    detail      TEXT,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE report_subscriptions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    report      TEXT NOT NULL,                 -- daily-attendance, monthly-timesheet, late-early
    recipients  TEXT NOT NULL,                 -- comma-separated addresses
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE report_sends (
    subscription_id BIGINT NOT NULL REFERENCES report_subscriptions (id) ON DELETE CASCADE,
    period      TEXT NOT NULL,                 -- 2025-06-02, 2025-06, 2025-W23
    instance    TEXT NOT NULL,
    claimed_at  TIMESTAMP NOT NULL,
    sent_at     TIMESTAMP,
    error       TEXT,
    PRIMARY KEY (subscription_id, period)
);

INSERT INTO job_schedules (name, interval_seconds, daily_at, updated_at) VALUES
    ('check_alerts', 60,  NULL, CURRENT_TIMESTAMP),
    ('send_reports', 300, NULL, CURRENT_TIMESTAMP);
