//! Where alerts go: a log line (always there, named `log`), a generic JSON webhook, a
//! Slack-compatible incoming webhook, e-mail over SMTP (lettre). Delivery is attempted once per notification with a
//! timeout; failures are logged and counted, and the alert stays open for the next repeat.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::eval::Labels;
use crate::outbound::OutboundClient;

/// Time allowed for one delivery.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// One `[[alerts.channel]]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub name: String,
    pub kind: ChannelKind,
    /// The webhook URL (`http://` or `https://`), or for e-mail the SMTP server:
    /// `smtps://USER:PASSWORD@HOST:465` or `smtp://HOST:587?tls=required`.
    pub url: Option<String>,
    /// A file holding the URL, for URLs that carry a secret (Slack's and SMTP passwords do).
    pub url_file: Option<PathBuf>,
    /// E-mail: the sender, `Rampart <alerts@example.com>`.
    pub from: Option<String>,
    /// E-mail: the recipients.
    #[serde(default)]
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A JSON object per notification, POSTed.
    Webhook,
    /// `{"text": "..."}`, POSTed: Slack, Mattermost, Rocket.Chat and Teams workflows accept it.
    Slack,
    /// A plain-text message over SMTP.
    Email,
}

/// What happened to an alert, as told to a channel.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub rule: String,
    pub severity: &'static str,
    /// `firing`, `repeat` (still firing after the cooldown), `escalated`, `resolved`.
    pub state: &'static str,
    pub summary: String,
    pub labels: Labels,
    pub value: f64,
    /// Unix milliseconds.
    pub fired_ms: i64,
}

impl Notification {
    /// One line for people: `[CRITICAL] RampartUpstreamDown upstream=app: summary (value 0)`.
    pub fn text(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let state = match self.state {
            "firing" => String::new(),
            other => format!(" ({other})"),
        };
        format!(
            "[{}] {}{}{}: {} (value {}, alert {})",
            self.severity.to_uppercase(),
            self.rule,
            if labels.is_empty() {
                String::new()
            } else {
                format!(" {}", labels.join(" "))
            },
            state,
            self.summary,
            self.value,
            self.id
        )
    }
}

/// A channel ready to deliver.
pub enum Channel {
    Log,
    Http(Box<HttpChannel>),
    Email(Box<EmailChannel>),
}

/// An SMTP relay and who hears from it.
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

/// A webhook: where to, in which shape, and the client that keeps its connections.
pub struct HttpChannel {
    /// Slack's `{"text": ...}` rather than the notification as JSON.
    slack: bool,
    url: Uri,
    client: OutboundClient,
}

impl Channel {
    /// Builds the channel of `config`; the error names what to fix.
    pub fn new(config: &ChannelConfig) -> Result<Self, String> {
        let url = match (&config.url, &config.url_file) {
            (Some(url), None) => url.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read {}: {err}", path.display()))?
                .trim()
                .to_owned(),
            _ => return Err("set exactly one of url and url_file".to_owned()),
        };
        if config.kind == ChannelKind::Email {
            return email(config, &url).map(|email| Self::Email(Box::new(email)));
        }
        let (url, client) = crate::outbound::client_for(&url)?;
        Ok(Self::Http(Box::new(HttpChannel {
            slack: config.kind == ChannelKind::Slack,
            url,
            client,
        })))
    }

    /// Delivers `notification`; the error says why it did not arrive.
    pub async fn deliver(&self, notification: &Notification) -> Result<(), String> {
        match self {
            Channel::Log => {
                tracing::warn!(
                    target: "alert",
                    event = "alert",
                    alert = notification.id,
                    rule = %notification.rule,
                    severity = notification.severity,
                    state = notification.state,
                    value = notification.value,
                    labels = ?notification.labels,
                    "{}",
                    notification.summary
                );
                Ok(())
            }
            Channel::Email(email) => {
                let subject = format!(
                    "[{}] {} {}",
                    notification.severity.to_uppercase(),
                    notification.rule,
                    notification.state
                );
                let details = serde_json::to_string_pretty(notification).unwrap_or_default();
                let mut message = Message::builder()
                    .from(email.from.clone())
                    .subject(subject)
                    .header(ContentType::TEXT_PLAIN);
                for to in &email.to {
                    message = message.to(to.clone());
                }
                let message = message
                    .body(format!("{}\n\n{details}\n", notification.text()))
                    .map_err(|err| err.to_string())?;
                email
                    .transport
                    .send(message)
                    .await
                    .map(drop)
                    .map_err(|err| err.to_string())
            }
            Channel::Http(http) => {
                let HttpChannel { slack, url, client } = http.as_ref();
                let body = if *slack {
                    json!({ "text": notification.text() })
                } else {
                    json!(notification)
                };
                let body = Bytes::from(body.to_string());
                crate::outbound::post_json(client, url, body, DELIVERY_TIMEOUT).await
            }
        }
    }
}

/// The SMTP channel of `config`. Plain SMTP (no TLS) is accepted only to a relay on this
/// machine: alerts name systems and people, and SMTP passwords travel in the clear without it.
fn email(config: &ChannelConfig, url: &str) -> Result<EmailChannel, String> {
    let parsed: Uri = url
        .parse()
        .map_err(|_| "url is not a valid SMTP URL".to_owned())?;
    let host = parsed.host().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let tls = parsed.scheme_str() == Some("smtps")
        || parsed.query().is_some_and(|q| q.contains("tls=required"));
    match parsed.scheme_str() {
        Some("smtp" | "smtps") => {}
        _ => return Err("an e-mail url must start with smtp:// or smtps://".to_owned()),
    }
    if !tls && !loopback {
        return Err(
            "SMTP without TLS is only allowed to a relay on this machine; use smtps://HOST:465 or smtp://HOST:587?tls=required"
                .to_owned(),
        );
    }
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|err| format!("the SMTP url is not usable: {err}"))?
        .timeout(Some(DELIVERY_TIMEOUT))
        .build();
    let from: Mailbox = config
        .from
        .as_deref()
        .ok_or("e-mail channels need `from`")?
        .parse()
        .map_err(|err| format!("from: {err}"))?;
    if config.to.is_empty() {
        return Err("e-mail channels need at least one address in `to`".to_owned());
    }
    let to = config
        .to
        .iter()
        .map(|address| {
            address
                .parse::<Mailbox>()
                .map_err(|err| format!("to: {address}: {err}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(EmailChannel {
        transport,
        from,
        to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_severity_rule_labels_and_state() {
        let notification = Notification {
            id: 7,
            rule: "RampartUpstreamDown".into(),
            severity: "critical",
            state: "escalated",
            summary: "No target answers.".into(),
            labels: [("upstream".to_owned(), "app".to_owned())].into(),
            value: 0.0,
            fired_ms: 0,
        };
        assert_eq!(
            notification.text(),
            "[CRITICAL] RampartUpstreamDown upstream=app (escalated): No target answers. (value 0, alert 7)"
        );
    }

    #[test]
    fn channel_configs_are_checked() {
        let config = |url: &str| ChannelConfig {
            name: "hook".into(),
            kind: ChannelKind::Webhook,
            url: Some(url.into()),
            url_file: None,
            from: None,
            to: Vec::new(),
        };
        assert!(Channel::new(&config("ftp://example.com/")).is_err());
        assert!(Channel::new(&config("not a url")).is_err());
        assert!(Channel::new(&config("http://127.0.0.1:9/hook")).is_ok());
        let neither = ChannelConfig {
            url: None,
            ..config("x")
        };
        assert!(Channel::new(&neither).is_err());
        let mail = |url: &str, from: Option<&str>, to: &[&str]| ChannelConfig {
            kind: ChannelKind::Email,
            from: from.map(str::to_owned),
            to: to.iter().map(|t| (*t).to_owned()).collect(),
            ..config(url)
        };
        let ops = Some("Rampart <alerts@example.com>");
        assert!(Channel::new(&mail("smtp://127.0.0.1:2525", ops, &["ops@example.com"])).is_ok());
        assert!(
            Channel::new(&mail(
                "smtps://mail.example.com:465",
                ops,
                &["ops@example.com"]
            ))
            .is_ok()
        );
        assert!(
            Channel::new(&mail(
                "smtp://mail.example.com:587?tls=required",
                ops,
                &["ops@example.com"]
            ))
            .is_ok()
        );
        for (bad, why) in [
            (
                mail("smtp://mail.example.com:25", ops, &["ops@example.com"]),
                "without TLS",
            ),
            (
                mail("smtp://127.0.0.1:25", None, &["ops@example.com"]),
                "from",
            ),
            (mail("smtp://127.0.0.1:25", ops, &[]), "to"),
            (mail("smtp://127.0.0.1:25", ops, &["not an address"]), "to:"),
        ] {
            let err = Channel::new(&bad).err().unwrap();
            assert!(err.contains(why), "{err}");
        }
    }
}
