//! The inactivity nudge: when a session has been idle for `[identity] nudge_after` (and is not
//! yet timed out), Rampart tells the app with a POST of JSON to `nudge_webhook`, so it can warn
//! the user ("you will be signed out in 15 minutes") or save a draft. Each idle period is
//! announced once: the session is claimed in the store before sending, so of several
//! instances only one sends, and activity re-arms it. Delivery is at most once; a failure is
//! logged.
//!
//! ```json
//! {"event": "session_idle", "user_id": "...", "username": "ana", "session": "<first 16 hex of its hash>",
//!  "idle_seconds": 900, "expires_in_seconds": 900}
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use super::service::IdentityService;
use crate::store::{SessionStore, UserStore, unix_now};

/// Time allowed for the app to accept a nudge.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Nudger {
    pub identity: Arc<IdentityService>,
    pub webhook: Uri,
    pub nudge_after: Duration,
    pub idle_timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Nudger {
    pub fn new(
        identity: Arc<IdentityService>,
        webhook: Uri,
        nudge_after: Duration,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            identity,
            webhook,
            nudge_after,
            idle_timeout,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Looks for idle sessions twice per `nudge_after` (at least every 15 s), forever.
    pub async fn run(self) {
        let period = (self.nudge_after / 2).clamp(Duration::from_secs(1), Duration::from_secs(15));
        let mut every = tokio::time::interval(period);
        loop {
            every.tick().await;
            self.tick(unix_now()).await;
        }
    }

    /// Sends the nudges due at `now`; returns how many were delivered.
    pub async fn tick(&self, now: i64) -> usize {
        let store = self.identity.store();
        let idle_since = now - self.nudge_after.as_secs() as i64;
        let alive_since = now - self.idle_timeout.as_secs() as i64;
        let due = match store.sessions_to_nudge(now, idle_since, alive_since).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "looking for idle sessions failed");
                return 0;
            }
        };
        let mut delivered = 0;
        for session in due {
            if !matches!(store.claim_nudge(&session.token_hash, now).await, Ok(true)) {
                continue;
            }
            let username = match store.user_by_id(&session.user_id).await {
                Ok(Some(user)) => user.username,
                _ => continue,
            };
            let idle = now - session.last_seen_at;
            let body = json!({
                "event": "session_idle",
                "user_id": session.user_id,
                "username": username,
                "session": &session.token_hash[..16],
                "idle_seconds": idle,
                "expires_in_seconds": (self.idle_timeout.as_secs() as i64 - idle).max(0),
            });
            if self.deliver(body.to_string()).await {
                delivered += 1;
            }
        }
        delivered
    }

    async fn deliver(&self, body: String) -> bool {
        let request = Request::post(self.webhook.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("rampart/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .expect("a valid URI and static headers make a valid request");
        match tokio::time::timeout(DELIVERY_TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) if response.status().is_success() => true,
            Ok(Ok(response)) => {
                tracing::warn!(
                    status = response.status().as_u16(),
                    "the app refused an inactivity nudge"
                );
                false
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "delivering an inactivity nudge failed");
                false
            }
            Err(_) => {
                tracing::warn!("delivering an inactivity nudge timed out");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::regulator::LockoutPolicy;
    use crate::identity::service::Lifetimes;
    use crate::identity::tokens::TokenService;
    use crate::identity::users::{UserPolicy, add_user};
    use crate::store::test_support::stores;
    use http_body_util::BodyExt;

    /// A real HTTP receiver on loopback that records what it is sent.
    async fn receiver() -> (Uri, tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let tx = tx.clone();
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(
                    hyper_util::rt::TokioIo::new(stream),
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            let _ = tx.send(serde_json::from_slice(&body).unwrap());
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                Bytes::new(),
                            )))
                        }
                    }),
                ));
            }
        });
        (format!("http://{address}/nudge").parse().unwrap(), rx)
    }

    #[tokio::test]
    async fn idle_sessions_are_announced_once_on_every_backend() {
        for (store, _dir) in stores().await {
            let store = Arc::new(store);
            let tokens = TokenService::load(
                store.as_ref(),
                "rampart",
                "rampart",
                Duration::from_secs(900),
                0,
            )
            .await
            .unwrap();
            add_user(
                store.as_ref(),
                &UserPolicy {
                    roles: None,
                    password_min_length: 12,
                },
                "ana",
                "tulip-harbor-seventeen",
                &[],
            )
            .await
            .unwrap();
            let lifetimes = Lifetimes {
                session_idle: Duration::from_secs(1800),
                session_absolute: Duration::from_secs(86_400),
                refresh: Duration::from_secs(86_400),
                max_sessions: 0,
                limit_action: crate::config::SessionLimitAction::EvictOldest,
            };
            let lockout = LockoutPolicy {
                max_failures: 5,
                window: Duration::from_secs(600),
                duration: Duration::from_secs(60),
                max_duration: Duration::from_secs(600),
                ip_max_failures: 50,
            };
            let identity = Arc::new(IdentityService::new(
                store.clone(),
                tokens,
                lifetimes,
                lockout,
            ));
            let t0 = 1_000_000;
            identity
                .login(
                    "ana",
                    "tulip-harbor-seventeen",
                    None,
                    "127.0.0.1".parse().unwrap(),
                    t0,
                )
                .await
                .unwrap();
            let (url, mut received) = receiver().await;
            let nudger = Nudger::new(
                identity.clone(),
                url,
                Duration::from_secs(900),
                Duration::from_secs(1800),
            );

            assert_eq!(nudger.tick(t0 + 600).await, 0, "not idle long enough");
            assert_eq!(nudger.tick(t0 + 1000).await, 1);
            let nudge = received.recv().await.unwrap();
            assert_eq!(nudge["event"], "session_idle");
            assert_eq!(nudge["username"], "ana");
            assert_eq!(
                (
                    nudge["idle_seconds"].as_i64(),
                    nudge["expires_in_seconds"].as_i64()
                ),
                (Some(1000), Some(800))
            );
            assert_eq!(
                nudger.tick(t0 + 1100).await,
                0,
                "each idle period is announced once"
            );
            assert_eq!(
                nudger.tick(t0 + 2000).await,
                0,
                "timed-out sessions are not announced"
            );
        }
    }
}
