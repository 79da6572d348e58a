-- Alert history: one row per alert instance (a rule and the labels it fired for), from the
-- moment it fired until it resolved. Acknowledging stops repeats and escalation.
CREATE TABLE alerts (
    id BIGINT PRIMARY KEY,
    rule TEXT NOT NULL,
    labels TEXT NOT NULL,
    severity TEXT NOT NULL,
    summary TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    fired_ms BIGINT NOT NULL,
    resolved_ms BIGINT,
    acknowledged_ms BIGINT,
    acknowledged_by TEXT,
    notifications BIGINT NOT NULL
);
CREATE INDEX alerts_open ON alerts (resolved_ms);
CREATE INDEX alerts_fired ON alerts (fired_ms);
