-- What the SLA report reads. Each minute every instance adds its requests per route (count,
-- 5xx answers, and the cumulative counts of the request-time histogram's buckets) and one
-- health sample (1: store reachable and every upstream has a live target).
CREATE TABLE sla_minutes (
    minute_ms BIGINT NOT NULL,
    route TEXT NOT NULL,
    requests BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    buckets TEXT NOT NULL,
    PRIMARY KEY (minute_ms, route)
);
CREATE TABLE health_samples (
    at_ms BIGINT NOT NULL,
    ok BIGINT NOT NULL
);
CREATE INDEX health_samples_at ON health_samples (at_ms);
