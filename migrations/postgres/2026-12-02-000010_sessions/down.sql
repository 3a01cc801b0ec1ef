DROP INDEX api_tokens_user;
DROP TABLE login_failures;
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN role;
