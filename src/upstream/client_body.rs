//! The client's request body on its way to the upstream: streamed, never buffered, with the
//! route's size limit and the client's pause limit enforced as it flows. A refused request's
//! body is read to its end when it is short, so that the refusal ends the exchange cleanly.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// Why the client's body stopped flowing.
#[derive(Debug, thiserror::Error)]
pub(super) enum ClientBodyError {
    #[error("request body exceeds the limit")]
    TooLarge,
    #[error("client paused too long while sending the request body")]
    Timeout,
    #[error("reading the request body failed: {0}")]
    Client(#[from] hyper::Error),
}

/// A request body on its way upstream: still streaming from the client, streaming after a
/// start that a check looked at, or already read whole because a check (the attack filter)
/// had to see it.
pub enum RequestBody {
    Streaming(Incoming),
    Started { head: Option<Bytes>, rest: Incoming },
    Buffered(Option<Bytes>),
}

impl RequestBody {
    /// Whether no body is left to send (GET and friends usually have none).
    pub fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Streaming(incoming) => incoming.is_end_stream(),
            RequestBody::Started { head, rest } => head.is_none() && rest.is_end_stream(),
            RequestBody::Buffered(body) => body.as_ref().is_none_or(Bytes::is_empty),
        }
    }

    /// Reads a streaming body up to its first byte that is not whitespace, which tells a JSON
    /// document from binary data, and returns it (`None` when the body ends first, or was read
    /// already). What was read stays in front of the rest; trailers, which only end a body,
    /// are not kept after one that held only whitespace.
    pub(super) async fn peek_first_byte(
        &mut self,
        limit: u64,
        pause_limit: Duration,
    ) -> Result<Option<u8>, ClientBodyError> {
        if !matches!(self, RequestBody::Streaming(_)) {
            return Ok(None);
        }
        let unread = std::mem::replace(self, RequestBody::Buffered(None));
        let mut body = LimitedBody::new(unread, limit, pause_limit);
        let mut head = Bytes::new();
        let first = loop {
            let Some(frame) = body.frame().await.transpose()? else {
                break None;
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let first = data
                .iter()
                .copied()
                .find(|byte| !byte.is_ascii_whitespace());
            // Almost always the first frame decides, and is kept as it came, without a copy.
            head = match head.is_empty() {
                true => data,
                false => Bytes::from([&head[..], &data[..]].concat()),
            };
            if first.is_some() {
                break first;
            }
        };
        *self = match body.inner {
            RequestBody::Streaming(rest) if first.is_some() => RequestBody::Started {
                head: Some(head),
                rest,
            },
            _ => RequestBody::Buffered(Some(head)),
        };
        Ok(first)
    }
}

impl From<Incoming> for RequestBody {
    fn from(incoming: Incoming) -> Self {
        RequestBody::Streaming(incoming)
    }
}

/// Most of a refused request's body read and dropped (Go's server reads 256 KiB for the same
/// reason); the exchange of a longer one ends at once.
const DISCARD_MAX_BYTES: u64 = 256 * 1024;
/// Longest wait for the rest of a refused request's body.
const DISCARD_MAX_WAIT: Duration = Duration::from_secs(2);

/// Reads and drops what the client is still sending of a refused request's body.
///
/// A refusal sent while an HTTP/2 client is still sending must end the stream with a reset
/// (`NO_ERROR`, RFC 9113 §8.1), and common clients drop the answer on it: curl 7.88 (the
/// libcurl of Debian 12) reports a framing error instead of the `429` and its `Retry-After`.
/// Over HTTP/1.1, an unread body costs the connection. So a short rest is read first, within
/// a bound of bytes and time; nothing is read from a client waiting for `100 Continue`, as
/// reading would tell it to send the body being refused.
pub async fn discard_refused(request: Request<impl Into<RequestBody>>) {
    let expects_continue = request.headers().contains_key(header::EXPECT);
    let (RequestBody::Streaming(mut incoming)
    | RequestBody::Started {
        rest: mut incoming, ..
    }) = request.into_body().into()
    else {
        return;
    };
    if expects_continue
        || incoming.is_end_stream()
        || incoming.size_hint().lower() > DISCARD_MAX_BYTES
    {
        return;
    }
    let drain = async {
        let mut read = 0;
        while let Some(Ok(frame)) = incoming.frame().await {
            read += frame.data_ref().map_or(0, |data| data.len() as u64);
            if read > DISCARD_MAX_BYTES {
                return;
            }
        }
    };
    // Past the wait, the answer goes out anyway and the stream is reset.
    let _ = tokio::time::timeout(DISCARD_MAX_WAIT, drain).await;
}

/// The client's body with the size limit and pause timeout applied.
pub(super) struct LimitedBody {
    inner: RequestBody,
    remaining: u64,
    pause_limit: Duration,
    /// Armed while waiting for the client; allocated on the first wait only.
    timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
}

impl LimitedBody {
    pub(super) fn new(inner: RequestBody, limit: u64, pause_limit: Duration) -> Self {
        Self {
            inner,
            remaining: limit,
            pause_limit,
            timer: None,
            waiting: false,
        }
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        let this = &mut *self;
        let incoming = match &mut this.inner {
            RequestBody::Buffered(body) => {
                return Poll::Ready(body.take().map(|b| Ok(Frame::data(b))));
            }
            RequestBody::Started { head, rest } => match head.take() {
                // Read within the limit already; what follows counts against the rest of it.
                Some(head) => {
                    this.remaining = this.remaining.saturating_sub(head.len() as u64);
                    return Poll::Ready(Some(Ok(Frame::data(head))));
                }
                None => rest,
            },
            RequestBody::Streaming(incoming) => incoming,
        };
        match Pin::new(incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.waiting = false;
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        return Poll::Ready(Some(Err(ClientBodyError::TooLarge)));
                    }
                    this.remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let deadline = Instant::now() + this.pause_limit;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !this.waiting {
                    this.waiting = true;
                    timer.as_mut().reset(deadline);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(ClientBodyError::Timeout))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            RequestBody::Streaming(incoming) => incoming.size_hint(),
            RequestBody::Started { head, rest } => {
                let head = head.as_ref().map_or(0, |head| head.len() as u64);
                let rest = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower() + head);
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper + head);
                }
                hint
            }
            RequestBody::Buffered(body) => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}
