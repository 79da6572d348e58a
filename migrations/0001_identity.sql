-- Users, their roles and their sessions. Portable SQL: the same file runs on SQLite and
-- PostgreSQL. Times are Unix seconds (BIGINT), ids are UUIDv7 text.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    -- Role names, comma-separated and sorted; names are [a-z0-9_-] only.
    roles TEXT NOT NULL DEFAULT '',
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    -- SHA-256 of the opaque session token, hex; the token itself is never stored.
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX sessions_by_user ON sessions (user_id);
