-- Second factors: TOTP secrets and one-time recovery codes; sessions remember whether the
-- second factor was shown.
CREATE TABLE mfa_totp (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- Base32 secret. To be wrapped by the keyring once envelope encryption exists.
    secret TEXT NOT NULL,
    confirmed BIGINT NOT NULL DEFAULT 0,
    -- The last accepted time step: a code is accepted once.
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

ALTER TABLE sessions ADD COLUMN mfa BIGINT NOT NULL DEFAULT 0;

-- Refresh tokens carry the second factor of the login that started their family.
ALTER TABLE refresh_tokens ADD COLUMN mfa BIGINT NOT NULL DEFAULT 0;
