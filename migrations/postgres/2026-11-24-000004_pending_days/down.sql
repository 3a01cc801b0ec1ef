DROP TABLE pending_days;
