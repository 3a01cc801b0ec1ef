-- Employee-days that need (re)processing: marked in the same transaction that stores new punches
-- (the punch's local date and the day before, which an overnight shift may reach into).
-- Keep in step with ../../postgres.
CREATE TABLE pending_days (
    employee_code TEXT NOT NULL,
    work_date     DATE NOT NULL,
    marked_at     TIMESTAMP NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,                          -- why the last processing attempt failed
    PRIMARY KEY (employee_code, work_date)
);
