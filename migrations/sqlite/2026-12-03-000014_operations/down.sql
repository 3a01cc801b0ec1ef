DELETE FROM job_schedules WHERE name IN ('check_alerts', 'send_reports');
DROP TABLE report_sends;
DROP TABLE report_subscriptions;
DROP TABLE alert_states;
