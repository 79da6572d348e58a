-- Signing keys for access tokens (JWT), and refresh tokens with rotation families.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    -- PKCS#8 DER, base64. To be wrapped by the keyring once envelope encryption exists.
    private_key TEXT NOT NULL,
    -- Raw public key, base64url (the JWK `x`).
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token, hex.
    token_hash TEXT PRIMARY KEY,
    -- Every token rotated from the same login shares a family; reuse revokes the family.
    family_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);
