-- Web sign-in (issue 17): a stored role per account, server-side sessions, and failed sign-ins
-- counted in the database so every instance sharing it enforces one limit.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'viewer';   -- 'admin' or 'viewer'
UPDATE users SET role = 'admin' WHERE is_superuser;

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    id_hash      TEXT NOT NULL UNIQUE,          -- hex SHA-256 of the cookie's session id; the id itself is never stored
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,            -- absolute end; idle expiry is last_seen_at + SESSION_IDLE_MINUTES
    client_addr  TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

CREATE TABLE login_failures (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    scope     TEXT NOT NULL,                    -- 'address' or 'account'
    subject   TEXT NOT NULL,                    -- the client address or the user name tried
    failed_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_subject ON login_failures (scope, subject, failed_at);
CREATE INDEX login_failures_time ON login_failures (failed_at);

CREATE INDEX api_tokens_user ON api_tokens (user_id);
