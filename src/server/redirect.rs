//! The plain-HTTP listener that only sends browsers to HTTPS (308 keeps the method and body).

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::listener::Handler;
use crate::body::ResponseBody;
use crate::error::{GatewayError, error_response};
use crate::pipeline::ConnectionInfo;
use crate::pipeline::request_id::{self, X_REQUEST_ID};

pub(super) struct HttpsRedirect {
    /// Port of the TLS listener; omitted from the URL when it is 443.
    pub(super) https_port: u16,
}

impl Handler for HttpsRedirect {
    type Body = ResponseBody;

    async fn handle(
        &self,
        request: Request<Incoming>,
        _conn: &ConnectionInfo,
    ) -> Response<ResponseBody> {
        let id = request_id::generate();
        match self.location(&request) {
            Some(location) => {
                let mut response = Response::new(ResponseBody::empty());
                *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
                response.headers_mut().insert(header::LOCATION, location);
                response.headers_mut().insert(X_REQUEST_ID, id);
                response
            }
            None => error_response(
                &GatewayError::BadRequest("the request has no valid Host header"),
                &id,
            ),
        }
    }
}

impl HttpsRedirect {
    fn location<B>(&self, request: &Request<B>) -> Option<HeaderValue> {
        let host = request.headers().get(header::HOST)?.to_str().ok()?;
        let authority: http::uri::Authority = host.parse().ok()?;
        let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let url = match self.https_port {
            443 => format!("https://{}{path}", authority.host()),
            port => format!("https://{}:{port}{path}", authority.host()),
        };
        HeaderValue::try_from(url).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(port: u16, host: &str, uri: &str) -> Option<HeaderValue> {
        let request = Request::builder()
            .uri(uri)
            .header("host", host)
            .body(())
            .unwrap();
        HttpsRedirect { https_port: port }.location(&request)
    }

    #[test]
    fn redirects_keep_host_path_and_query() {
        assert_eq!(
            location(443, "shop.example:80", "/a?b=1").unwrap(),
            "https://shop.example/a?b=1"
        );
        assert_eq!(
            location(8443, "shop.example", "/").unwrap(),
            "https://shop.example:8443/"
        );
        assert!(location(443, "bad host", "/").is_none());
    }
}
