-- CRM outbox: one row per (processed day, revision) to deliver. Written in the same transaction as the
-- day itself, so a saved change is never lost and never sent under two keys.
CREATE TABLE crm_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    attendance_id    BIGINT NOT NULL REFERENCES processed_attendance (id),
    revision         INTEGER NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,       -- stable per record + revision; sent as Idempotency-Key
    body             TEXT,                       -- rendered by the mapping plugin before the first attempt, then frozen
    headers          TEXT,                       -- JSON [[name, value], ...] from the mapping plugin
    status           TEXT NOT NULL DEFAULT 'pending', -- pending | in_flight | delivered | failed | skipped | superseded
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMP NOT NULL,
    lease_owner      TEXT,
    lease_until      TIMESTAMP,
    last_status      INTEGER,                    -- last HTTP status, if any
    last_error       TEXT,
    crm_id           TEXT,                       -- the CRM's id from a 2xx JSON answer
    created_at       TIMESTAMP NOT NULL,
    delivered_at     TIMESTAMP,
    UNIQUE (attendance_id, revision)
);
CREATE INDEX crm_outbox_due ON crm_outbox (status, next_attempt_at);
CREATE INDEX crm_outbox_day ON crm_outbox (attendance_id, status);
