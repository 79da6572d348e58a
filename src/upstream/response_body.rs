//! The upstream's response body on its way to the client. When it has been read to the end,
//! its connection goes back to the pool for the next request; a body abandoned half-way takes
//! its connection with it, since HTTP/1.1 cannot reuse a connection mid-message.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use super::pool::{Sender, UpstreamPool};

/// An upstream response body that returns its connection to the pool when complete.
pub struct UpstreamResponse {
    body: Incoming,
    reuse: Option<(Arc<UpstreamPool>, usize, Sender)>,
}

impl UpstreamResponse {
    pub(super) fn new(body: Incoming, reuse: Option<(Arc<UpstreamPool>, usize, Sender)>) -> Self {
        let mut this = Self { body, reuse };
        if this.body.is_end_stream() {
            this.release();
        }
        this
    }

    fn release(&mut self) {
        if let Some((pool, target, sender)) = self.reuse.take() {
            pool.checkin(target, sender);
        }
    }
}

impl std::fmt::Debug for UpstreamResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamResponse")
            .field("body", &self.body)
            .field("reusable", &self.reuse.is_some())
            .finish()
    }
}

impl Body for UpstreamResponse {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.release(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
