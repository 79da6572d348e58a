-- Client addresses refused at the edge, automatically after repeated violations or by an admin.
-- `subject` is an IPv4 address or an IPv6 /64. A row outlives its ban (until_at in the past)
-- so that repeat offenders get longer bans; `changed_ms` lets every instance poll for changes.
CREATE TABLE bans (
    subject TEXT PRIMARY KEY,
    until_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    strikes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    changed_ms BIGINT NOT NULL
);
CREATE INDEX bans_changed ON bans (changed_ms);
