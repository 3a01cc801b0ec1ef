-- Employees, shift templates, rosters and holidays; per-device poll lease and clock figures.
-- Keep in step with ../../postgres (same columns, same names).

CREATE TABLE employees (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    employee_code TEXT NOT NULL UNIQUE,          -- the user id typed on the time clocks
    name          TEXT,
    default_shift TEXT,                          -- template code used on unrostered days; NULL = unscheduled
    weekly_shift  TEXT,                          -- template code for the days in weekly_days
    weekly_days   TEXT NOT NULL DEFAULT '',      -- e.g. 'mon,tue,wed,thu,fri'
    active        BOOLEAN NOT NULL DEFAULT 1,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

-- Every parameter of shift-rules.md §6.1; NULL rounding = none.
CREATE TABLE shift_templates (
    code                     TEXT PRIMARY KEY,
    name                     TEXT NOT NULL DEFAULT '',
    start_time               TEXT NOT NULL,      -- HH:MM local; overnight when end <= start
    end_time                 TEXT NOT NULL,
    early_in_window_min      INTEGER NOT NULL DEFAULT 120,
    late_out_window_min      INTEGER NOT NULL DEFAULT 180,
    late_in_outlier_min      INTEGER NOT NULL DEFAULT 120,
    early_out_outlier_min    INTEGER NOT NULL DEFAULT 120,
    late_grace_min           INTEGER NOT NULL DEFAULT 0,
    early_grace_min          INTEGER NOT NULL DEFAULT 0,
    dedup_window_s           INTEGER NOT NULL DEFAULT 60,
    min_span_min             INTEGER NOT NULL DEFAULT 10,
    overtime_min_min         INTEGER NOT NULL DEFAULT 30,
    absent_below_min         INTEGER NOT NULL DEFAULT 0,
    half_day_below_min       INTEGER NOT NULL DEFAULT 0,
    rounding_interval_min    INTEGER,
    rounding_mode            TEXT,               -- nearest_half_up, up, down
    settle_min               INTEGER NOT NULL DEFAULT 30,
    unscheduled_day_boundary TEXT NOT NULL DEFAULT '04:00',
    updated_at               TIMESTAMP NOT NULL
);

-- A per-date roster entry overrides the weekly pattern: a template code, or NULL for a day off.
CREATE TABLE roster_entries (
    employee_code TEXT NOT NULL,
    work_date     DATE NOT NULL,
    shift_code    TEXT,
    PRIMARY KEY (employee_code, work_date)
);

CREATE TABLE holidays (
    holiday_date DATE PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT ''
);

ALTER TABLE devices ADD COLUMN poll_lease_owner TEXT;
ALTER TABLE devices ADD COLUMN poll_lease_until TIMESTAMP;
ALTER TABLE devices ADD COLUMN watermark_at TIMESTAMP;    -- latest instant the device has fully delivered
ALTER TABLE devices ADD COLUMN clock_offset_s INTEGER;    -- device clock minus bridge clock at the last poll
ALTER TABLE devices ADD COLUMN live_mode BOOLEAN NOT NULL DEFAULT 0;
