-- When the app was told that a session is about to time out for inactivity.
ALTER TABLE sessions ADD COLUMN nudged_at BIGINT;
