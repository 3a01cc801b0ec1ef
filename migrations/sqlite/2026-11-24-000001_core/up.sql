-- Core tables (SQLite). Keep in step with ../../postgres: the same columns, the same names.
-- Instants are stored as UTC TIMESTAMP; device wall times as TIMESTAMP without zone, exactly as written.

CREATE TABLE devices (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    address       TEXT,                          -- host or IP for pulled devices; NULL for push-only ones
    port          INTEGER NOT NULL DEFAULT 4370,
    comm_key      INTEGER NOT NULL DEFAULT 0,
    serial_number TEXT UNIQUE,
    enabled       BOOLEAN NOT NULL DEFAULT 1,
    time_zone     TEXT,                          -- IANA name overriding the site zone
    last_sync_at  TIMESTAMP,
    last_error    TEXT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE raw_punches (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id      BIGINT NOT NULL REFERENCES devices (id),
    device_user_id TEXT NOT NULL,
    local_time     TIMESTAMP NOT NULL,           -- the device's wall time, as stored on the device
    utc_time       TIMESTAMP NOT NULL,           -- the instant it resolves to
    status         INTEGER NOT NULL DEFAULT 0,
    punch_state    INTEGER NOT NULL DEFAULT 0,
    verify_type    INTEGER NOT NULL DEFAULT 0,
    device_seq     BIGINT,
    received_at    TIMESTAMP NOT NULL,
    UNIQUE (device_id, device_user_id, local_time)
);
CREATE INDEX raw_punches_by_user_time ON raw_punches (device_user_id, utc_time);

CREATE TABLE processed_attendance (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         TEXT NOT NULL,
    work_date       DATE NOT NULL,
    shift_code      TEXT NOT NULL DEFAULT '',    -- '' for an unscheduled day
    status          TEXT NOT NULL,
    clock_in_local  TIMESTAMP,
    clock_in_utc    TIMESTAMP,
    clock_out_local TIMESTAMP,
    clock_out_utc   TIMESTAMP,
    worked_min      INTEGER,
    break_min       INTEGER,
    payable_min     INTEGER,
    scheduled_min   INTEGER,
    overtime_min    INTEGER,
    late_min        INTEGER,
    early_min       INTEGER,
    duplicates      INTEGER NOT NULL DEFAULT 0,
    flags           TEXT NOT NULL DEFAULT '[]',  -- JSON array of flag names
    is_final        BOOLEAN NOT NULL DEFAULT 0,
    reason          TEXT,
    revision        INTEGER NOT NULL DEFAULT 1,
    rule_plugin     TEXT NOT NULL,
    rule_version    TEXT NOT NULL,
    manual_override BOOLEAN NOT NULL DEFAULT 0,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    UNIQUE (user_id, work_date, shift_code)
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,                 -- argon2id PHC string
    is_superuser  BOOLEAN NOT NULL DEFAULT 0,
    is_active     BOOLEAN NOT NULL DEFAULT 1,
    created_at    TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,           -- hex SHA-256 of the token; the token itself is never stored
    token_prefix TEXT NOT NULL,                  -- first characters, to recognise a token in lists
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    expires_at   TIMESTAMP,
    revoked_at   TIMESTAMP
);

CREATE TABLE job_schedules (
    name             TEXT PRIMARY KEY,
    interval_seconds INTEGER,                    -- every N seconds, or
    daily_at         TEXT,                       -- once a day at HH:MM site time
    paused           BOOLEAN NOT NULL DEFAULT 0,
    next_run_at      TIMESTAMP,
    lease_owner      TEXT,
    lease_until      TIMESTAMP,
    updated_at       TIMESTAMP NOT NULL
);

INSERT INTO job_schedules (name, interval_seconds, daily_at, updated_at) VALUES
    ('poll_devices',       900,   NULL,    CURRENT_TIMESTAMP),
    ('process_attendance', 3600,  NULL,    CURRENT_TIMESTAMP),
    ('sync_to_crm',        1800,  NULL,    CURRENT_TIMESTAMP),
    ('retry_failed_syncs', 21600, NULL,    CURRENT_TIMESTAMP),
    ('daily_cleanup',      NULL,  '02:00', CURRENT_TIMESTAMP);

CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_name    TEXT NOT NULL,
    instance    TEXT NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    outcome     TEXT NOT NULL,                   -- running, ok, failed
    counts      TEXT NOT NULL DEFAULT '{}',      -- JSON object of figures
    error       TEXT
);
CREATE INDEX job_runs_by_job ON job_runs (job_name, started_at);
