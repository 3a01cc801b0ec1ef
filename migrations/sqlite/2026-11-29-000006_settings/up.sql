-- Settings an operator changes at run time (the active rules plugin and the one it replaced), which
-- outlive a restart and are shared by every instance on the database.
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
