//! W3C Trace Context: the `traceparent` header that ties Rampart's spans to the caller's trace
//! and the app's spans to Rampart's (<https://www.w3.org/TR/trace-context/>).

use crate::identity::secret::hex_into;
use http::HeaderValue;
use http::header::HeaderName;

/// The header carrying the parent span.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Where a span sits: its trace, itself, and whether the trace is being recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
}

impl SpanContext {
    /// A new trace; `sampled` decides whether it is recorded.
    pub fn new_trace(sampled: bool) -> Self {
        Self {
            trace_id: rand::random(),
            span_id: new_span_id(),
            sampled,
        }
    }

    /// A span in the same trace, below this one.
    pub fn child(&self) -> Self {
        Self {
            span_id: new_span_id(),
            ..*self
        }
    }

    /// Reads a `traceparent` value: `00-<32 hex>-<16 hex>-<2 hex>`. Anything else (an
    /// unknown version's extra fields aside), and the all-zero ids the spec forbids, is none.
    pub fn parse(value: &HeaderValue) -> Option<Self> {
        let value = value.to_str().ok()?;
        let mut fields = value.split('-');
        let version = fields.next()?;
        let (trace, span, flags) = (fields.next()?, fields.next()?, fields.next()?);
        // Version 00 has exactly four fields; later versions may add more.
        if version.len() != 2 || version == "ff" || (version == "00" && fields.next().is_some()) {
            return None;
        }
        hex_bytes::<1>(version)?;
        let trace_id = hex_bytes::<16>(trace)?;
        let span_id = hex_bytes::<8>(span)?;
        let [flags] = hex_bytes::<1>(flags)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The `traceparent` value naming this span as the parent.
    /// Written into one buffer: this runs for every traced request.
    pub fn header(&self) -> HeaderValue {
        let mut value = [b'-'; 55];
        value[..2].copy_from_slice(b"00");
        // Trace id at 3..35, span id at 36..52, the dash between them kept.
        hex_into(&self.trace_id, &mut value[3..35]);
        hex_into(&self.span_id, &mut value[36..52]);
        value[53..].copy_from_slice(if self.sampled { b"01" } else { b"00" });
        HeaderValue::from_bytes(&value).expect("hex digits and dashes are a valid header value")
    }
}

fn new_span_id() -> [u8; 8] {
    rand::random()
}

/// Lower-case hex of exactly `N` bytes.
fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != N * 2 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_spec_example_round_trips() {
        let context = SpanContext::parse(&HeaderValue::from_static(EXAMPLE)).unwrap();
        assert!(context.sampled);
        assert_eq!(
            context.span_id,
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert_eq!(context.header(), EXAMPLE);
        let child = context.child();
        assert_eq!(child.trace_id, context.trace_id);
        assert_ne!(child.span_id, context.span_id);
    }

    #[test]
    fn malformed_or_forbidden_values_are_ignored() {
        for value in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert_eq!(
                SpanContext::parse(&HeaderValue::from_static(value)),
                None,
                "{value}"
            );
        }
        // A later version may carry more fields; its first four are still understood.
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more";
        let context = SpanContext::parse(&HeaderValue::from_static(future)).unwrap();
        assert!(!context.sampled);
    }

    #[test]
    fn new_traces_are_distinct() {
        let (a, b) = (SpanContext::new_trace(true), SpanContext::new_trace(true));
        assert_ne!(a.trace_id, b.trace_id);
        assert_ne!(a.span_id, b.span_id);
    }
}
