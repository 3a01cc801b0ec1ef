DROP INDEX processed_attendance_outliers;
ALTER TABLE processed_attendance DROP COLUMN is_outlier;
