-- Push (ADMS / iclock) terminals: how a device talks, whether an admin approved it, what it has sent,
-- and the commands waiting for it. Keep in step with ../../postgres.

ALTER TABLE devices ADD COLUMN transport TEXT NOT NULL DEFAULT 'pull';     -- pull or push
ALTER TABLE devices ADD COLUMN approved BOOLEAN NOT NULL DEFAULT 1;        -- unknown push serials start unapproved
ALTER TABLE devices ADD COLUMN attlog_stamp TEXT;                          -- last ATTLOG stamp stored
ALTER TABLE devices ADD COLUMN operlog_stamp TEXT;                         -- last OPERLOG stamp stored
ALTER TABLE devices ADD COLUMN last_seen_at TIMESTAMP;                     -- last request from a push device

CREATE TABLE device_commands (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    command     TEXT NOT NULL,                   -- the command line as the device receives it
    status      TEXT NOT NULL DEFAULT 'pending', -- pending, sent, done, failed
    return_code INTEGER,
    result      TEXT,
    created_at  TIMESTAMP NOT NULL,
    sent_at     TIMESTAMP,
    done_at     TIMESTAMP
);
CREATE INDEX device_commands_by_device ON device_commands (device_id, status);
