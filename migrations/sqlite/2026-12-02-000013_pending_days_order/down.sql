DROP INDEX pending_days_by_mark;
