-- Login attempts, for lockouts and per-address throttling. Kept for a day.
CREATE TABLE login_attempts (
    username TEXT NOT NULL,
    ip TEXT NOT NULL,
    at BIGINT NOT NULL,
    success BIGINT NOT NULL
);

CREATE INDEX login_attempts_by_user ON login_attempts (username, at);
CREATE INDEX login_attempts_by_ip ON login_attempts (ip, at);
CREATE INDEX login_attempts_by_time ON login_attempts (at);
