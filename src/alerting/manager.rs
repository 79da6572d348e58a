//! The alert lifecycle: each evaluation samples the metrics, evaluates every rule, and moves
//! each alert instance (a rule and the labels it fired for) from pending to firing once its
//! condition held for the rule's `for`, then to resolved when it stops. Notifications go to
//! the rule's channels on firing and resolving, again after the cooldown while firing and
//! unacknowledged, and to the escalation channels when nobody acknowledged it in time. A
//! flapping alert that fires again within the cooldown is recorded but not re-announced.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::channels::{Channel, Notification};
use super::eval::{History, Labels, Snapshot, Value};
use super::rules::Rule;
use crate::observability::metrics::Metrics;
use crate::store::{AlertRecord, AlertStore, Store};

pub struct AlertManager {
    rules: Vec<Rule>,
    history: History,
    channels: HashMap<String, Channel>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    active: HashMap<String, Active>,
    /// When each alert instance was last announced, kept after it resolves for the cooldown.
    last_announced: HashMap<String, f64>,
    last_id: i64,
}

struct Active {
    rule: usize,
    labels: Labels,
    value: f64,
    /// When the condition started to hold (Unix seconds).
    since: f64,
    firing: Option<Firing>,
}

struct Firing {
    id: i64,
    fired: f64,
    last_notified: f64,
    escalated: bool,
    acknowledged: bool,
}

impl AlertManager {
    pub fn new(
        rules: Vec<Rule>,
        channels: HashMap<String, Channel>,
        store: Arc<Store>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let keep = rules
            .iter()
            .map(|r| r.expr.longest_range())
            .max()
            .unwrap_or_default()
            + Duration::from_secs(60);
        Self {
            rules,
            history: History::new(keep),
            channels,
            store,
            metrics,
            active: HashMap::new(),
            last_announced: HashMap::new(),
            last_id: 0,
        }
    }

    /// Evaluates every `interval`, forever.
    pub async fn run(mut self, interval: Duration) {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let now = unix_seconds();
            let scrape = self.metrics.encode();
            self.tick(now, &scrape).await;
        }
    }

    /// One evaluation at `now` (Unix seconds) on the metrics text `scrape`.
    pub async fn tick(&mut self, now: f64, scrape: &str) {
        self.history.record(Snapshot::parse(now, scrape));
        self.pick_up_acknowledgements().await;
        for index in 0..self.rules.len() {
            let holding = match self.history.eval(&self.rules[index].expr) {
                Ok(Value::Vector(vector)) => vector,
                Ok(Value::Scalar(_)) => Vec::new(),
                Err(err) => {
                    tracing::debug!(rule = %self.rules[index].name, error = %err, "alert rule not evaluated");
                    Vec::new()
                }
            };
            self.update_rule(index, holding, now).await;
        }
        self.export_firing();
    }

    /// Acknowledgements and manual resolutions made through the API or the CLI.
    async fn pick_up_acknowledgements(&mut self) {
        let Ok(open) = self.store.open_alerts().await else {
            return;
        };
        let open: HashMap<i64, &AlertRecord> = open.iter().map(|a| (a.id, a)).collect();
        self.active.retain(|_, active| match &mut active.firing {
            None => true,
            Some(firing) => match open.get(&firing.id) {
                Some(record) => {
                    firing.acknowledged = record.acknowledged_ms.is_some();
                    true
                }
                // Resolved by hand: if the condition still holds it fires anew after `for`.
                None => false,
            },
        });
    }

    async fn update_rule(&mut self, index: usize, holding: Vec<(Labels, f64)>, now: f64) {
        let rule = self.rules[index].clone();
        let mut seen = Vec::with_capacity(holding.len());
        for (labels, value) in holding {
            let key = instance_key(&rule.name, &labels);
            seen.push(key.clone());
            let active = self.active.entry(key.clone()).or_insert(Active {
                rule: index,
                labels,
                value,
                since: now,
                firing: None,
            });
            active.value = value;
            match &active.firing {
                None if now - active.since >= rule.for_.as_secs_f64() => {
                    self.fire(&key, &rule, now).await;
                }
                None => {}
                Some(_) => self.follow_up(&key, &rule, now).await,
            }
        }
        let ended: Vec<String> = self
            .active
            .iter()
            .filter(|(key, active)| active.rule == index && !seen.contains(key))
            .map(|(key, _)| key.clone())
            .collect();
        for key in ended {
            if let Some(active) = self.active.remove(&key)
                && let Some(firing) = &active.firing
            {
                let _ = self.store.resolve_alert(firing.id, millis(now)).await;
                let notification = notification(&rule, &active, firing, "resolved");
                self.notify(&rule.channels, &notification).await;
            }
        }
    }

    async fn fire(&mut self, key: &str, rule: &Rule, now: f64) {
        // Ids are the firing time in milliseconds, unique on this instance.
        let id = millis(now).max(self.last_id + 1);
        self.last_id = id;
        let Some(active) = self.active.get_mut(key) else {
            return;
        };
        let record = AlertRecord {
            id,
            rule: rule.name.clone(),
            labels: serde_json::to_string(&active.labels).unwrap_or_default(),
            severity: rule.severity.as_str().to_owned(),
            summary: rule.summary.clone(),
            value: finite(active.value),
            fired_ms: id,
            resolved_ms: None,
            acknowledged_ms: None,
            acknowledged_by: None,
            notifications: 0,
        };
        if let Err(err) = self.store.insert_alert(&record).await {
            tracing::error!(error = %err, rule = %rule.name, "recording an alert failed");
        }
        let firing = Firing {
            id,
            fired: now,
            last_notified: now,
            escalated: false,
            acknowledged: false,
        };
        let flapping = self
            .last_announced
            .get(key)
            .is_some_and(|at| now - at < rule.cooldown.as_secs_f64());
        let notification = notification(rule, active, &firing, "firing");
        active.firing = Some(firing);
        if flapping {
            tracing::info!(rule = %rule.name, alert = id, "alert fired again within its cooldown; not announced");
            return;
        }
        self.last_announced.insert(key.to_owned(), now);
        self.notify(&rule.channels, &notification).await;
    }

    /// Escalation and repeats for an alert that is still firing.
    async fn follow_up(&mut self, key: &str, rule: &Rule, now: f64) {
        let sends = {
            let Some(Active {
                firing: Some(firing),
                ..
            }) = self.active.get_mut(key)
            else {
                return;
            };
            if firing.acknowledged {
                return;
            }
            let mut sends = Vec::new();
            if !firing.escalated
                && !rule.escalate_to.is_empty()
                && now - firing.fired >= rule.escalate_after.as_secs_f64()
            {
                firing.escalated = true;
                sends.push((rule.escalate_to.clone(), "escalated"));
            }
            if now - firing.last_notified >= rule.cooldown.as_secs_f64() {
                firing.last_notified = now;
                sends.push((rule.channels.clone(), "repeat"));
            }
            sends
        };
        let Some(
            active @ Active {
                firing: Some(firing),
                ..
            },
        ) = self.active.get(key)
        else {
            return;
        };
        let notifications: Vec<(Vec<String>, Notification)> = sends
            .into_iter()
            .map(|(channels, state)| (channels, notification(rule, active, firing, state)))
            .collect();
        if !notifications.is_empty() {
            self.last_announced.insert(key.to_owned(), now);
        }
        for (channels, notification) in notifications {
            self.notify(&channels, &notification).await;
        }
    }

    async fn notify(&self, channels: &[String], notification: &Notification) {
        for name in channels {
            let result = match self.channels.get(name) {
                Some(channel) => channel.deliver(notification).await,
                None => Err("no such channel".to_owned()),
            };
            self.metrics.alert_notification(name, result.is_ok());
            match result {
                Ok(()) => {
                    let _ = self.store.count_notification(notification.id).await;
                }
                Err(reason) => {
                    tracing::error!(channel = %name, alert = notification.id, rule = %notification.rule, %reason, "alert notification failed");
                }
            }
        }
    }

    fn export_firing(&self) {
        let mut by_severity: BTreeMap<&'static str, i64> = BTreeMap::new();
        for active in self.active.values().filter(|a| a.firing.is_some()) {
            *by_severity
                .entry(self.rules[active.rule].severity.as_str())
                .or_default() += 1;
        }
        self.metrics.set_alerts_firing(&by_severity);
    }
}

fn notification(
    rule: &Rule,
    active: &Active,
    firing: &Firing,
    state: &'static str,
) -> Notification {
    Notification {
        id: firing.id,
        rule: rule.name.clone(),
        severity: rule.severity.as_str(),
        state,
        summary: rule.summary.clone(),
        labels: active.labels.clone(),
        value: finite(active.value),
        fired_ms: millis(firing.fired),
    }
}

fn instance_key(rule: &str, labels: &Labels) -> String {
    format!(
        "{rule}{}",
        serde_json::to_string(labels).unwrap_or_default()
    )
}

/// JSON has no NaN or infinity; a ratio over no traffic is reported as 0.
fn finite(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0) as i64
}

fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::expr::parse;
    use crate::alerting::rules::Severity;
    use crate::store::test_support::stores;

    fn rule(name: &str, expr: &str, for_: u64) -> Rule {
        Rule {
            name: name.into(),
            text: expr.into(),
            expr: parse(expr).unwrap(),
            for_: Duration::from_secs(for_),
            severity: Severity::Error,
            summary: "errors".into(),
            channels: vec!["log".into()],
            escalate_to: vec!["pager".into()],
            escalate_after: Duration::from_secs(120),
            cooldown: Duration::from_secs(600),
        }
    }

    fn manager(store: Store, rules: Vec<Rule>) -> AlertManager {
        let channels = HashMap::from([
            ("log".to_owned(), Channel::Log),
            ("pager".to_owned(), Channel::Log),
        ]);
        AlertManager::new(rules, channels, Arc::new(store), Arc::new(Metrics::new()))
    }

    fn notified(manager: &AlertManager, channel: &str) -> String {
        manager
            .metrics
            .encode()
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "rampart_alert_notifications_total{{channel=\"{channel}\",result=\"sent\"}}"
                ))
            })
            .map_or("0".to_owned(), |l| l.rsplit(' ').next().unwrap().to_owned())
    }

    #[tokio::test]
    async fn alerts_go_pending_fire_escalate_and_resolve() {
        for (store, _dir) in stores().await {
            let mut m = manager(
                store,
                vec![rule("Errors", "increase(errors_total[1m]) > 0", 30)],
            );
            m.tick(0.0, "errors_total 0\n").await;
            m.tick(15.0, "errors_total 5\n").await;
            assert!(
                m.store.open_alerts().await.unwrap().is_empty(),
                "pending, not firing"
            );
            m.tick(45.0, "errors_total 9\n").await;
            let open = m.store.open_alerts().await.unwrap();
            assert_eq!(open.len(), 1, "fired after `for`");
            assert_eq!(open[0].rule, "Errors");
            assert_eq!(notified(&m, "log"), "1");
            assert!(
                m.metrics
                    .encode()
                    .contains("rampart_alerts_firing{severity=\"error\"} 1")
            );
            // Unacknowledged after `escalate_after`: the pager hears of it, once.
            m.tick(170.0, "errors_total 20\n").await;
            m.tick(180.0, "errors_total 25\n").await;
            assert_eq!(notified(&m, "pager"), "1");
            // The condition stops holding: resolved, and announced.
            m.tick(300.0, "errors_total 25\n").await;
            assert!(m.store.open_alerts().await.unwrap().is_empty());
            assert_eq!(notified(&m, "log"), "2");
            let history = m.store.recent_alerts(10).await.unwrap();
            assert!(history[0].resolved_ms.is_some());
            assert_eq!(history[0].notifications, 3);
            // Firing again within the cooldown: recorded, not announced.
            m.tick(310.0, "errors_total 30\n").await;
            m.tick(345.0, "errors_total 35\n").await;
            assert_eq!(m.store.open_alerts().await.unwrap().len(), 1);
            assert_eq!(notified(&m, "log"), "2");
        }
    }

    #[tokio::test]
    async fn acknowledged_alerts_are_not_repeated_or_escalated() {
        for (store, _dir) in stores().await {
            let mut m = manager(store, vec![rule("Down", "up == 0", 0)]);
            m.tick(0.0, "up 0\n").await;
            let id = m.store.open_alerts().await.unwrap()[0].id;
            assert!(m.store.acknowledge_alert(id, "ana", 1).await.unwrap());
            m.tick(1000.0, "up 0\n").await;
            assert_eq!(notified(&m, "log"), "1", "no repeat after the cooldown");
            assert_eq!(notified(&m, "pager"), "0", "no escalation");
            // Resolved by hand while the condition holds: it fires anew.
            assert!(m.store.resolve_alert(id, 2).await.unwrap());
            m.tick(1010.0, "up 0\n").await;
            let open = m.store.open_alerts().await.unwrap();
            assert_eq!(open.len(), 1);
            assert_ne!(open[0].id, id);
        }
    }
}
