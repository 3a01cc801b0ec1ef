DROP TABLE job_runs;
DROP TABLE job_schedules;
DROP TABLE api_tokens;
DROP TABLE users;
DROP TABLE processed_attendance;
DROP TABLE raw_punches;
DROP TABLE devices;
