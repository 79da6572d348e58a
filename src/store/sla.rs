//! Per-minute request statistics and health samples, kept for the SLA report.

use async_trait::async_trait;
use sqlx::Row;

use super::{Store, StoreError};

/// One route's requests in one minute (from one or several instances, added up).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMinute {
    pub minute_ms: i64,
    pub route: String,
    pub requests: i64,
    pub errors: i64,
    /// Requests per histogram bucket (cumulative, as Prometheus counts them).
    pub buckets: Vec<i64>,
}

#[async_trait]
pub trait SlaStore: Send + Sync {
    /// Adds `minute` to what is stored for its minute and route.
    async fn add_route_minute(&self, minute: &RouteMinute) -> Result<(), StoreError>;
    async fn add_health_sample(&self, at_ms: i64, ok: bool) -> Result<(), StoreError>;
    async fn route_minutes(&self, since_ms: i64) -> Result<Vec<RouteMinute>, StoreError>;
    /// (healthy samples, all samples, the first sample's time) since `since_ms`.
    async fn health_since(&self, since_ms: i64) -> Result<(i64, i64, Option<i64>), StoreError>;
    /// Drops statistics older than `before_ms`.
    async fn prune_sla(&self, before_ms: i64) -> Result<(), StoreError>;
}

fn buckets_text(buckets: &[i64]) -> String {
    buckets
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_buckets(text: &str) -> Vec<i64> {
    text.split(',').filter_map(|n| n.parse().ok()).collect()
}

#[async_trait]
impl SlaStore for Store {
    async fn add_route_minute(&self, minute: &RouteMinute) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let existing = sqlx::query(
            "SELECT requests, errors, buckets FROM sla_minutes WHERE minute_ms = $1 AND route = $2",
        )
        .bind(minute.minute_ms)
        .bind(minute.route.clone())
        .fetch_optional(&mut *tx)
        .await?;
        match existing {
            None => {
                sqlx::query(
                    "INSERT INTO sla_minutes (minute_ms, route, requests, errors, buckets) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(minute.minute_ms)
                .bind(minute.route.clone())
                .bind(minute.requests)
                .bind(minute.errors)
                .bind(buckets_text(&minute.buckets))
                .execute(&mut *tx)
                .await?;
            }
            Some(row) => {
                let mut buckets = parse_buckets(&row.try_get::<String, _>("buckets")?);
                buckets.resize(minute.buckets.len().max(buckets.len()), 0);
                for (sum, add) in buckets.iter_mut().zip(&minute.buckets) {
                    *sum += add;
                }
                sqlx::query(
                    "UPDATE sla_minutes SET requests = requests + $1, errors = errors + $2, \
                     buckets = $3 WHERE minute_ms = $4 AND route = $5",
                )
                .bind(minute.requests)
                .bind(minute.errors)
                .bind(buckets_text(&buckets))
                .bind(minute.minute_ms)
                .bind(minute.route.clone())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn add_health_sample(&self, at_ms: i64, ok: bool) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO health_samples (at_ms, ok) VALUES ($1, $2)")
            .bind(at_ms)
            .bind(i64::from(ok))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn route_minutes(&self, since_ms: i64) -> Result<Vec<RouteMinute>, StoreError> {
        let rows = sqlx::query(
            "SELECT minute_ms, route, requests, errors, buckets FROM sla_minutes \
             WHERE minute_ms >= $1 ORDER BY minute_ms",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RouteMinute {
                    minute_ms: row.try_get("minute_ms")?,
                    route: row.try_get("route")?,
                    requests: row.try_get("requests")?,
                    errors: row.try_get("errors")?,
                    buckets: parse_buckets(&row.try_get::<String, _>("buckets")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn health_since(&self, since_ms: i64) -> Result<(i64, i64, Option<i64>), StoreError> {
        let row = sqlx::query(
            // PostgreSQL sums BIGINTs into NUMERIC, which the Any driver cannot read.
            "SELECT CAST(COALESCE(SUM(ok), 0) AS BIGINT) AS healthy, COUNT(*) AS samples, \
             MIN(at_ms) AS first FROM health_samples WHERE at_ms >= $1",
        )
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok((
            row.try_get("healthy")?,
            row.try_get("samples")?,
            row.try_get("first")?,
        ))
    }

    async fn prune_sla(&self, before_ms: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sla_minutes WHERE minute_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM health_samples WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::stores;

    #[tokio::test]
    async fn minutes_add_up_across_instances_and_health_counts() {
        for (store, _dir) in stores().await {
            let minute = RouteMinute {
                minute_ms: 60_000,
                route: "/api".into(),
                requests: 10,
                errors: 1,
                buckets: vec![5, 9, 10],
            };
            store.add_route_minute(&minute).await.unwrap();
            store.add_route_minute(&minute).await.unwrap();
            let stored = store.route_minutes(0).await.unwrap();
            assert_eq!(stored.len(), 1);
            assert_eq!((stored[0].requests, stored[0].errors), (20, 2));
            assert_eq!(stored[0].buckets, [10, 18, 20]);
            store.add_health_sample(1_000, true).await.unwrap();
            store.add_health_sample(2_000, false).await.unwrap();
            assert_eq!(store.health_since(0).await.unwrap(), (1, 2, Some(1_000)));
            assert_eq!(store.health_since(5_000).await.unwrap(), (0, 0, None));
            store.prune_sla(100_000).await.unwrap();
            assert!(store.route_minutes(0).await.unwrap().is_empty());
        }
    }
}
