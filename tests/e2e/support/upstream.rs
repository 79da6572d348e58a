//! A scriptable upstream app for the tests: echoes requests, streams on cue, stalls, fails with
//! a stack trace, and speaks WebSocket.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// A running test upstream.
pub struct Upstream {
    pub address: SocketAddr,
    /// Released by the test to let `/gated-stream` send its second chunk.
    pub gate: Arc<Notify>,
    /// Notified by `/gated-upload` once the first request-body chunk arrived.
    pub first_chunk_seen: Arc<Notify>,
    /// TCP connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

impl Upstream {
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Starts an upstream that labels its answers with `name`.
    pub async fn start(name: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let gate = Arc::new(Notify::new());
        let first_chunk_seen = Arc::new(Notify::new());
        let state = Arc::new(State {
            name,
            gate: gate.clone(),
            first_chunk_seen: first_chunk_seen.clone(),
        });
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = connections.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(state.handle(request).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            address,
            gate,
            first_chunk_seen,
            connections,
        }
    }
}

struct State {
    name: &'static str,
    gate: Arc<Notify>,
    first_chunk_seen: Arc<Notify>,
}

type TestBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(text: impl Into<Bytes>) -> TestBody {
    http_body_util::Full::new(text.into()).boxed()
}

fn query_param(request: &Request<Incoming>, key: &str) -> Option<u64> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.parse().ok()).flatten()
    })
}

impl State {
    async fn handle(&self, request: Request<Incoming>) -> Response<TestBody> {
        let path = request.uri().path().to_owned();
        match path.as_str() {
            "/ws" => return websocket(request),
            "/slow" => {
                tokio::time::sleep(Duration::from_millis(
                    query_param(&request, "ms").unwrap_or(1000),
                ))
                .await;
                return Response::new(full("slow answer"));
            }
            "/gated-stream" => {
                let (tx, rx) = mpsc::channel(4);
                let gate = self.gate.clone();
                tokio::spawn(async move {
                    tx.send(Bytes::from_static(b"first;")).await.unwrap();
                    gate.notified().await;
                    tx.send(Bytes::from_static(b"second")).await.unwrap();
                });
                return Response::new(ChannelBody(rx).boxed());
            }
            "/gated-upload" => {
                let mut body = request.into_body();
                let mut total = 0;
                let mut told = false;
                while let Some(frame) = body.frame().await {
                    if let Ok(data) = frame.unwrap().into_data() {
                        total += data.len();
                        if !told {
                            told = true;
                            self.first_chunk_seen.notify_one();
                        }
                    }
                }
                return Response::new(full(format!("received {total} bytes")));
            }
            "/set-cookie" => {
                let mut response = Response::new(full("cookies set"));
                let headers = response.headers_mut();
                headers.append("set-cookie", "sid=abc; Path=/".parse().unwrap());
                headers.append(
                    "set-cookie",
                    "theme=dark; Secure; SameSite=Strict".parse().unwrap(),
                );
                headers.insert("access-control-allow-origin", "*".parse().unwrap());
                return response;
            }
            "/trace" => {
                let mut response = Response::new(full(
                    "Traceback (most recent call last):\n  File \"/srv/app/views.py\", line 42, in chat\n    secret = os.environ['DB_PASSWORD']\nKeyError: 'DB_PASSWORD'\n",
                ));
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                return response;
            }
            _ => {}
        }
        if let Some(code) = path.strip_prefix("/status/") {
            let mut response = Response::new(full(format!("status {code} from {}", self.name)));
            *response.status_mut() = StatusCode::from_u16(code.parse().unwrap()).unwrap();
            return response;
        }
        // Everything else: echo the request as JSON.
        let method = request.method().to_string();
        let uri = request.uri().to_string();
        let version = format!("{:?}", request.version());
        let headers: BTreeMap<String, String> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("<binary>").to_owned()))
            .collect();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let echo = serde_json::json!({
            "upstream": self.name,
            "method": method,
            "uri": uri,
            "version": version,
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        });
        let mut response = Response::new(full(echo.to_string()));
        let headers = response.headers_mut();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("server", "gunicorn/20.1.0".parse().unwrap());
        headers.insert("x-powered-by", "Flask".parse().unwrap());
        response
    }
}

/// A body fed by a channel, so a test controls when each chunk goes out.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// Answers the WebSocket handshake and echoes every message back.
fn websocket(mut request: Request<Incoming>) -> Response<TestBody> {
    let key = request.headers()["sec-websocket-key"].clone();
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let upgraded = upgrade.await.unwrap();
        let mut socket = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        while let Some(Ok(message)) = socket.next().await {
            if message.is_close() {
                break;
            }
            socket.send(message).await.unwrap();
        }
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", accept)
        .body(full(""))
        .unwrap()
}
