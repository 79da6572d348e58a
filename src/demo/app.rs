//! The built-in demo app: a tiny chat-like JSON API on loopback, standing in for the user's own
//! app behind the gateway. It trusts nothing about security; that is the gateway's job.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rampart demo app</title></head>
<body>
<h1>Rampart demo app</h1>
<p>This page was served by the demo app, through the Rampart gateway.</p>
<ul>
<li><code>POST /chat</code> with <code>{"message": "hello"}</code> echoes the message.</li>
<li><code>POST /leads</code> with <code>{"email": "...", "name": "..."}</code> records a lead.</li>
</ul>
</body></html>
"#;

/// Largest body the demo app reads; the gateway's own limits are smaller.
const MAX_BODY: usize = 1024 * 1024;

/// The running demo app.
pub struct DemoApp {
    address: SocketAddr,
}

#[derive(Deserialize)]
struct ChatMessage {
    message: String,
}

#[derive(Deserialize)]
struct Lead {
    email: String,
    #[serde(default)]
    name: String,
}

impl DemoApp {
    /// Starts the app on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let leads = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let leads = leads.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let leads = leads.clone();
                        async move { Ok::<_, Infallible>(handle(request, &leads).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { address })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

async fn handle(request: Request<Incoming>, leads: &AtomicU64) -> Response<Full<Bytes>> {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    match (request.method().clone(), request.uri().path()) {
        (Method::GET | Method::HEAD, "/") => {
            let mut response = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        (Method::POST, "/chat") => match read_json::<ChatMessage>(request).await {
            Ok(chat) => json_reply(
                StatusCode::OK,
                json!({
                    "reply": format!("You said: {}", chat.message),
                    "request_id": request_id,
                }),
            ),
            Err(reason) => json_reply(StatusCode::BAD_REQUEST, json!({"error": reason})),
        },
        (Method::POST, "/leads") => match read_json::<Lead>(request).await {
            Ok(lead) if lead.email.contains('@') => {
                let id = leads.fetch_add(1, Ordering::Relaxed) + 1;
                let greeting = if lead.name.is_empty() {
                    "thanks".to_owned()
                } else {
                    format!("thanks, {}", lead.name)
                };
                json_reply(
                    StatusCode::CREATED,
                    json!({"status": "received", "lead_id": id, "message": greeting}),
                )
            }
            Ok(_) => json_reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "email is not valid"}),
            ),
            Err(reason) => json_reply(StatusCode::BAD_REQUEST, json!({"error": reason})),
        },
        _ => json_reply(StatusCode::NOT_FOUND, json!({"error": "not found"})),
    }
}

async fn read_json<T: for<'de> Deserialize<'de>>(request: Request<Incoming>) -> Result<T, String> {
    let body = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|err| format!("could not read the body: {err}"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|err| format!("invalid JSON: {err}"))
}

fn json_reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
