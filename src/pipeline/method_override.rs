//! Method overrides: a POST that asks the app to take it as another method, with a header
//! (`X-HTTP-Method-Override: DELETE`, Express's method-override, Google's APIs) or the query
//! parameter `_method` (Symfony, Laravel). Apps that honour them run a DELETE that arrived as
//! a POST, so such a request is routed as the method it stands for too: the route it matched
//! as a POST must also be the route of that method, or a route open to POST would carry a
//! DELETE that its rules, or the rules of the route for DELETE, do not allow.
//!
//! Only POST is read, as apps honour overrides on POST only. `_method` in a form body (Rails'
//! and Laravel's forms) is read when the body is, once the request is routed: always in a
//! multipart body, in a URL-encoded one when the attack filter reads it.

use bytes::Bytes;
use http::header::HeaderName;
use http::{Method, Request};

use super::uploads::malformed;
use crate::attack_filter::form_part::FormPart;

use crate::attack_filter::decode;
use crate::error::GatewayError;

static HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

/// The method a POST stands for by its headers or query, when it names one other than POST.
pub fn requested<B>(request: &Request<B>) -> Result<Option<Method>, GatewayError> {
    if request.method() != Method::POST {
        return Ok(None);
    }
    let from_headers = HEADERS
        .iter()
        .flat_map(|name| request.headers().get_all(name))
        .map(|value| value.as_bytes().to_vec());
    let query = request.uri().query().unwrap_or_default().as_bytes();
    agreed(from_headers.chain(method_fields(query)))
}

/// The method a POST form body stands for (`_method=DELETE`, Rails' and Laravel's forms).
pub fn in_form(body: &[u8]) -> Result<Option<Method>, GatewayError> {
    agreed(method_fields(body))
}

/// The method a POST multipart form stands for (`_method` with a file, as in a Laravel form
/// that uploads and says `@method('PUT')`).
pub async fn in_multipart(boundary: &str, body: Bytes) -> Result<Option<Method>, GatewayError> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut values = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        let part = FormPart::read(&field, true).map_err(malformed)?;
        if part.is_field
            && part
                .name
                .is_some_and(|name| name.eq_ignore_ascii_case("_method"))
        {
            values.push(field.bytes().await.map_err(malformed)?.to_vec());
        }
    }
    agreed(values.into_iter())
}

/// The values of `_method` in `a=1&b=2` pairs.
fn method_fields(pairs: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    pairs
        .split(|&b| b == b'&')
        .filter_map(|pair| {
            let at = pair.iter().position(|&b| b == b'=')?;
            Some((&pair[..at], &pair[at + 1..]))
        })
        .filter(|(name, _)| decode::form_component(name).eq_ignore_ascii_case("_method"))
        .map(|(_, value)| decode::form_component(value).into_owned().into_bytes())
}

/// The one method all overrides name, unless it is POST.
fn agreed(overrides: impl Iterator<Item = Vec<u8>>) -> Result<Option<Method>, GatewayError> {
    let mut named: Option<Method> = None;
    for text in overrides {
        let method = Method::from_bytes(text.trim_ascii().to_ascii_uppercase().as_slice())
            .map_err(|_| GatewayError::BadRequest("the method override is not a method"))?;
        match &named {
            Some(earlier) if *earlier != method => {
                return Err(GatewayError::BadRequest(
                    "the method overrides name different methods",
                ));
            }
            _ => named = Some(method),
        }
    }
    Ok(named.filter(|method| *method != Method::POST))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn a_post_may_stand_for_another_method() {
        let delete = Some(Method::DELETE);
        let header = request(
            Method::POST,
            "/items/1",
            &[("X-HTTP-Method-Override", "delete")],
        );
        assert_eq!(requested(&header).unwrap(), delete);
        let query = request(Method::POST, "/items/1?x=1&%5Fmethod=DELETE", &[]);
        assert_eq!(requested(&query).unwrap(), delete);
        let agreeing = request(
            Method::POST,
            "/items/1?_method=DELETE",
            &[("x-http-method", "DELETE")],
        );
        assert_eq!(requested(&agreeing).unwrap(), delete);
        let plain = request(
            Method::POST,
            "/items",
            &[("x-http-method-override", "POST")],
        );
        assert_eq!(requested(&plain).unwrap(), None);
        let get = request(Method::GET, "/items?_method=DELETE", &[]);
        assert_eq!(requested(&get).unwrap(), None, "apps read POSTs only");
        assert_eq!(
            in_form(b"_method=patch&title=x").unwrap(),
            Some(Method::PATCH)
        );
        assert_eq!(in_form(b"title=x&note=_method").unwrap(), None);
    }

    #[tokio::test]
    async fn a_multipart_form_may_stand_for_another_method() {
        let body = Bytes::from_static(
            b"--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nPUT\r\n\
              --b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"_method\"\r\n\r\nDELETE\r\n--b--\r\n",
        );
        assert_eq!(in_multipart("b", body).await.unwrap(), Some(Method::PUT));
    }

    #[test]
    fn unclear_overrides_are_refused() {
        let differing = request(
            Method::POST,
            "/items/1?_method=PUT",
            &[("x-http-method-override", "DELETE")],
        );
        assert!(requested(&differing).is_err());
        let garbage = request(Method::POST, "/", &[("x-method-override", "DE LETE")]);
        assert!(requested(&garbage).is_err());
    }
}
