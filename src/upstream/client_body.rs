//! The client's request body on its way to the upstream: streamed, never buffered, with the
//! route's size limit and the client's pause limit enforced as it flows.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
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

/// A request body on its way upstream: still streaming from the client, or already read
/// whole because a check (the attack filter) had to see it.
pub enum RequestBody {
    Streaming(Incoming),
    Buffered(Option<Bytes>),
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
        match &self.inner {
            RequestBody::Streaming(incoming) => incoming.is_end_stream(),
            RequestBody::Buffered(body) => body.as_ref().is_none_or(Bytes::is_empty),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            RequestBody::Streaming(incoming) => incoming.size_hint(),
            RequestBody::Buffered(body) => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}
