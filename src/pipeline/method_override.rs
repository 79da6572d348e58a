//! Method overrides: a POST that asks the app to take it as another method, with a header
//! (`X-HTTP-Method-Override: DELETE`, Express's method-override, Google's APIs) or the query
//! parameter `_method` (Symfony, Laravel). Apps that honour them run a DELETE that arrived as
//! a POST, so such a request is routed as the method it stands for too: the route it matched
//! as a POST must also be the route of that method, or a route open to POST would carry a
//! DELETE that its rules, or the rules of the route for DELETE, do not allow.
//!
//! Only POST is read, as apps honour overrides on POST only. `_method` in a form body (Rails,
//! Laravel forms) is not read here: routing happens before the body arrives.

use http::header::HeaderName;
use http::{Method, Request};

use crate::attack_filter::decode;
use crate::error::GatewayError;

static HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

/// The method a POST stands for, when it names one other than POST.
pub fn requested<B>(request: &Request<B>) -> Result<Option<Method>, GatewayError> {
    if request.method() != Method::POST {
        return Ok(None);
    }
    let from_headers = HEADERS
        .iter()
        .flat_map(|name| request.headers().get_all(name))
        .map(|value| value.as_bytes().to_vec());
    let from_query = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| decode::form_component(name.as_bytes()).eq_ignore_ascii_case("_method"))
        .map(|(_, value)| {
            decode::form_component(value.as_bytes())
                .into_owned()
                .into_bytes()
        });
    let mut named: Option<Method> = None;
    for text in from_headers.chain(from_query) {
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
