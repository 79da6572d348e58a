//! HTTP that Rampart itself sends (alert webhooks, trace export): a client per destination
//! with TLS over the system's roots (hyper-rustls), and a JSON POST with a deadline.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A client that keeps its connections to one destination.
pub type OutboundClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Parses `url` (`http://` or `https://`) and builds its client; the error names the fix.
pub fn client_for(url: &str) -> Result<(Uri, OutboundClient), String> {
    let url: Uri = url
        .parse()
        .map_err(|_| "url is not a valid URL".to_owned())?;
    if !matches!(url.scheme_str(), Some("http" | "https")) {
        return Err("url must start with http:// or https://".to_owned());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider.clone())
    {
        Ok(builder) => builder,
        // A plain-HTTP destination needs no roots; an https one does.
        Err(_) if url.scheme_str() == Some("http") => hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|err| err.to_string())?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            ),
        Err(err) => {
            return Err(format!(
                "no trusted root certificates for https ({err}); install ca-certificates"
            ));
        }
    };
    let connector = builder.https_or_http().enable_http1().build();
    Ok((url, Client::builder(TokioExecutor::new()).build(connector)))
}

/// POSTs `body` as JSON; the error says why it was not accepted.
pub async fn post_json(
    client: &OutboundClient,
    url: &Uri,
    body: Bytes,
    timeout: Duration,
) -> Result<(), String> {
    let request = Request::post(url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("rampart/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(body))
        .map_err(|err| err.to_string())?;
    let response = tokio::time::timeout(timeout, client.request(request))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|err| err.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
}
