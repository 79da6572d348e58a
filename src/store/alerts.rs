//! Alert history: what fired, when it resolved, who acknowledged it.

use async_trait::async_trait;
use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    /// Unix milliseconds of firing, made unique: also the alert's id.
    pub id: i64,
    pub rule: String,
    /// The labels the rule fired for, as a JSON object.
    pub labels: String,
    pub severity: String,
    pub summary: String,
    /// The expression's value when it fired.
    pub value: f64,
    pub fired_ms: i64,
    pub resolved_ms: Option<i64>,
    pub acknowledged_ms: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub notifications: i64,
}

#[async_trait]
pub trait AlertStore: Send + Sync {
    async fn insert_alert(&self, alert: &AlertRecord) -> Result<(), StoreError>;
    async fn resolve_alert(&self, id: i64, resolved_ms: i64) -> Result<bool, StoreError>;
    /// Marks an open alert acknowledged; `false` when there is no such open alert.
    async fn acknowledge_alert(&self, id: i64, by: &str, now_ms: i64) -> Result<bool, StoreError>;
    async fn count_notification(&self, id: i64) -> Result<(), StoreError>;
    /// Alerts not resolved, oldest first.
    async fn open_alerts(&self) -> Result<Vec<AlertRecord>, StoreError>;
    /// The newest alerts, open or not.
    async fn recent_alerts(&self, limit: i64) -> Result<Vec<AlertRecord>, StoreError>;
    async fn alerts_fired_since(&self, since_ms: i64) -> Result<i64, StoreError>;
}

const COLUMNS: &str = "id, rule, labels, severity, summary, value, fired_ms, resolved_ms, \
                       acknowledged_ms, acknowledged_by, notifications";

fn alert_from_row(row: &sqlx::any::AnyRow) -> Result<AlertRecord, sqlx::Error> {
    Ok(AlertRecord {
        id: row.try_get("id")?,
        rule: row.try_get("rule")?,
        labels: row.try_get("labels")?,
        severity: row.try_get("severity")?,
        summary: row.try_get("summary")?,
        value: row.try_get("value")?,
        fired_ms: row.try_get("fired_ms")?,
        resolved_ms: row.try_get("resolved_ms")?,
        acknowledged_ms: row.try_get("acknowledged_ms")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        notifications: row.try_get("notifications")?,
    })
}

#[async_trait]
impl AlertStore for Store {
    async fn insert_alert(&self, alert: &AlertRecord) -> Result<(), StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO alerts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )))
        .bind(alert.id)
        .bind(alert.rule.clone())
        .bind(alert.labels.clone())
        .bind(alert.severity.clone())
        .bind(alert.summary.clone())
        .bind(alert.value)
        .bind(alert.fired_ms)
        .bind(alert.resolved_ms)
        .bind(alert.acknowledged_ms)
        .bind(alert.acknowledged_by.clone())
        .bind(alert.notifications)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn resolve_alert(&self, id: i64, resolved_ms: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE alerts SET resolved_ms = $1 WHERE id = $2 AND resolved_ms IS NULL")
                .bind(resolved_ms)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn acknowledge_alert(&self, id: i64, by: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE alerts SET acknowledged_ms = $1, acknowledged_by = $2 \
             WHERE id = $3 AND resolved_ms IS NULL AND acknowledged_ms IS NULL",
        )
        .bind(now_ms)
        .bind(by.to_owned())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_notification(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE alerts SET notifications = notifications + 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn open_alerts(&self) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM alerts WHERE resolved_ms IS NULL ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(alert_from_row).collect::<Result<_, _>>()?)
    }

    async fn recent_alerts(&self, limit: i64) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM alerts ORDER BY id DESC LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(alert_from_row).collect::<Result<_, _>>()?)
    }

    async fn alerts_fired_since(&self, since_ms: i64) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM alerts WHERE fired_ms >= $1")
            .bind(since_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::stores;

    #[tokio::test]
    async fn alerts_fire_get_acknowledged_and_resolve_on_every_backend() {
        for (store, _dir) in stores().await {
            let alert = AlertRecord {
                id: 1_000,
                rule: "RampartUpstreamDown".into(),
                labels: "{\"upstream\":\"app\"}".into(),
                severity: "critical".into(),
                summary: "down".into(),
                value: 0.0,
                fired_ms: 1_000,
                resolved_ms: None,
                acknowledged_ms: None,
                acknowledged_by: None,
                notifications: 0,
            };
            store.insert_alert(&alert).await.unwrap();
            store.count_notification(1_000).await.unwrap();
            assert!(store.acknowledge_alert(1_000, "ana", 2_000).await.unwrap());
            assert!(!store.acknowledge_alert(1_000, "bo", 2_500).await.unwrap());
            let open = store.open_alerts().await.unwrap();
            assert_eq!(open.len(), 1);
            assert_eq!(open[0].acknowledged_by.as_deref(), Some("ana"));
            assert_eq!(open[0].notifications, 1);
            assert_eq!(store.alerts_fired_since(500).await.unwrap(), 1);
            assert!(store.resolve_alert(1_000, 3_000).await.unwrap());
            assert!(store.open_alerts().await.unwrap().is_empty());
            assert_eq!(
                store.recent_alerts(10).await.unwrap()[0].resolved_ms,
                Some(3_000)
            );
        }
    }
}
