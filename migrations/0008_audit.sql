-- The tamper-evident audit log. Each record's `hash` is SHA-256 over the previous record's hash
-- and this record's canonical bytes, so changing, removing, adding or reordering a record
-- breaks the chain from there on. Checkpoints sign a (seq, hash) pair with Ed25519 so a
-- verifier needs only the public key; a checkpoint at the record before the oldest one kept
-- anchors the chain after old records are pruned.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ip TEXT NOT NULL,
    request_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    details TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time_ms);

CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- The newest record: a one-row table whose update serialises writers on both SQLite and
-- PostgreSQL (several instances may share one log) and shows when records were cut off the end.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
