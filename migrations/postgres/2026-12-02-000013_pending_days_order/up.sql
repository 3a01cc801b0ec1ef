-- Processing takes the oldest-marked pending days a round at a time (`pending::list`): without this
-- index every round sorted the whole table, which a backfill of a million punches made the largest
-- cost of processing.
CREATE INDEX pending_days_by_mark ON pending_days (marked_at, employee_code, work_date);
