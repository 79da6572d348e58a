//! Input validation per route (`[route.input]`): which content types a route accepts, limits
//! on the query string and header values, and limits and a JSON Schema for JSON bodies.
//!
//! A violation names the field: JSON fields by JSON Pointer (`/messages/3/content`), query
//! parameters as `query:NAME`, headers as `header:NAME`. Body size (`max_body`) is enforced
//! while the body streams in; JSON limits are checked in the one pass over the body that also
//! hands its values to the attack filter ([`crate::json_walk`]).

use std::path::PathBuf;
use std::sync::Arc;

use http::{HeaderMap, StatusCode, Uri, header};
use serde::Deserialize;
use serde_json::Value;

use crate::attack_filter::inputs::{self, media_type_essence};
use crate::json_walk::{self, JsonLimits, JsonVisitor, WalkError};

use super::uploads::UploadPolicy;
use crate::error::GatewayError;

/// Nesting deeper than this is refused everywhere: deep documents cost parsers and apps stack.
pub const DEFAULT_JSON_MAX_DEPTH: usize = 64;

/// `[route.input]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputConfig {
    /// Content types a request body may have (`"application/json"`, `"text/*"`); empty: any.
    pub content_types: Vec<String>,
    /// Deepest nesting of objects and arrays (default 64).
    pub json_max_depth: Option<usize>,
    /// Most keys in one object.
    pub json_max_keys: Option<usize>,
    /// Most elements in one array.
    pub json_max_array_length: Option<usize>,
    /// Longest string, in characters.
    pub json_max_string_length: Option<usize>,
    /// A JSON Schema file (relative to the working directory) that JSON bodies must match.
    pub json_schema: Option<PathBuf>,
    /// Most query parameters.
    pub max_query_params: Option<usize>,
    /// Longest query string, in bytes.
    pub max_query_length: Option<usize>,
    /// Longest header value, in bytes.
    pub max_header_length: Option<usize>,
    /// File types accepted in multipart uploads, decided from the content (magic bytes),
    /// never from the client's claim: `["png", "jpg", "pdf"]`, MIME types (`"image/*"`), or
    /// `"text"` for plain UTF-8 text. Empty: any type that is not always refused. HTML, SVG,
    /// JavaScript and executables are always refused.
    pub upload_types: Vec<String>,
    /// Largest file in an upload (default 5MB); `413` beyond it.
    pub upload_max_file: Option<crate::config::ByteSize>,
    /// Largest total of all files in one request; default: the route's `max_body`.
    pub upload_max_total: Option<crate::config::ByteSize>,
    /// A clamd (ClamAV) to scan every uploaded file: `"127.0.0.1:3310"` or a Unix socket path.
    /// Uploads are refused while it cannot be reached.
    pub upload_scanner: Option<String>,
}

/// A route's input rules, ready for requests.
pub struct InputPolicy {
    content_types: Vec<String>,
    json: JsonLimits,
    schema: Option<Arc<jsonschema::Validator>>,
    max_query_params: Option<usize>,
    max_query_length: Option<usize>,
    max_header_length: Option<usize>,
    pub uploads: UploadPolicy,
}

impl InputPolicy {
    pub fn build(config: &InputConfig) -> Result<Self, String> {
        let schema = config
            .json_schema
            .as_deref()
            .map(load_schema)
            .transpose()?
            .map(Arc::new);
        Ok(Self {
            content_types: config
                .content_types
                .iter()
                .map(|t| t.trim().to_ascii_lowercase())
                .collect(),
            json: JsonLimits {
                depth: config.json_max_depth.unwrap_or(DEFAULT_JSON_MAX_DEPTH),
                keys: config.json_max_keys.unwrap_or(usize::MAX),
                array: config.json_max_array_length.unwrap_or(usize::MAX),
                string: config.json_max_string_length.unwrap_or(usize::MAX),
            },
            schema,
            max_query_params: config.max_query_params,
            max_query_length: config.max_query_length,
            max_header_length: config.max_header_length,
            uploads: UploadPolicy::build(config)?,
        })
    }

    /// Checks what is known before the body: query, headers and the body's content type.
    pub fn check_head(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        has_body: bool,
    ) -> Result<(), GatewayError> {
        if let Some(query) = uri.query() {
            if let Some(max) = self.max_query_length
                && query.len() > max
            {
                return Err(rejected(
                    "query",
                    format!("is {} bytes, the limit is {max}", query.len()),
                ));
            }
            if let Some(max) = self.max_query_params {
                let count = form_urlencoded::parse(query.as_bytes()).count();
                if count > max {
                    return Err(rejected(
                        "query",
                        format!("has {count} parameters, the limit is {max}"),
                    ));
                }
            }
        }
        if let Some(max) = self.max_header_length
            && let Some((name, value)) = headers.iter().find(|(_, v)| v.len() > max)
        {
            return Err(rejected(
                &format!("header:{name}"),
                format!("is {} bytes, the limit is {max}", value.len()),
            ));
        }
        if has_body && !self.content_types.is_empty() {
            let essence = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(media_type_essence);
            let allowed = essence.as_deref().is_some_and(|essence| {
                self.content_types
                    .iter()
                    .any(|pattern| media_type_matches(pattern, essence))
            });
            if !allowed {
                return Err(GatewayError::InputRejected {
                    status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    code: "unsupported_media_type",
                    field: "header:content-type".into(),
                    reason: format!(
                        "{} is not accepted here; send one of: {}",
                        essence.as_deref().unwrap_or("a body without a type"),
                        self.content_types.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// Whether JSON bodies need checking beyond the defaults (so must be read and parsed).
    pub fn checks_json(&self) -> bool {
        self.schema.is_some()
            || self.json.keys != usize::MAX
            || self.json.array != usize::MAX
            || self.json.string != usize::MAX
    }

    /// Checks a JSON body against the limits, handing its keys and strings to `visitor` on
    /// the way, then against the schema.
    pub fn check_json(
        &self,
        body: &[u8],
        visitor: &mut impl JsonVisitor,
    ) -> Result<(), GatewayError> {
        json_walk::walk(body, &self.json, visitor).map_err(|err| match err {
            WalkError::Syntax(_) => GatewayError::InvalidRequest(err.to_string()),
            WalkError::Limit { pointer, reason } => rejected(&pointer, reason),
        })?;
        if let Some(schema) = &self.schema {
            let value: Value = serde_json::from_slice(body)
                .map_err(|err| GatewayError::InvalidRequest(WalkError::Syntax(err).to_string()))?;
            if let Err(error) = schema.validate(&value) {
                let mut reason = error.masked().to_string();
                truncate_at_char(&mut reason, 200);
                return Err(rejected(&error.instance_path().to_string(), reason));
            }
        }
        Ok(())
    }
}

/// The `reason` label of `rampart_validation_failures_total` for a refusal, if it is one.
pub fn failure_reason(error: &GatewayError) -> Option<&'static str> {
    Some(match error {
        GatewayError::BodyTooLarge { .. } => "body_size",
        GatewayError::InvalidRequest(_) => "malformed_body",
        GatewayError::InputRejected { code, field, .. } => match *code {
            "unsupported_media_type" => "content_type",
            "upload_refused" => "upload_type",
            "payload_too_large" => "upload_size",
            _ if field.starts_with("query") => "query",
            _ if field.starts_with("header:") => "header",
            _ => "json",
        },
        _ => return None,
    })
}

/// The filter reads text as UTF-8 (and Latin-1, alike in what attacks are made of): a body
/// the app may decode in another charset is not read ([`inputs::declares_readable_charset`]).
pub fn check_charset(headers: &HeaderMap) -> Result<(), GatewayError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .map_or("", |value| value.to_str().unwrap_or_default());
    if inputs::declares_readable_charset(declared) {
        return Ok(());
    }
    Err(GatewayError::InputRejected {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "unsupported_media_type",
        field: "header:content-type".into(),
        reason: "declares a character set other than UTF-8 or Latin-1; send UTF-8".into(),
    })
}

/// A 400 naming the field.
fn rejected(field: &str, reason: String) -> GatewayError {
    GatewayError::InputRejected {
        status: StatusCode::BAD_REQUEST,
        code: "validation_failed",
        field: field.to_owned(),
        reason,
    }
}

/// `application/json` matches itself; `text/*` any text type; `*/*` anything.
fn media_type_matches(pattern: &str, essence: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some("*") => true,
        Some(kind) => essence
            .split_once('/')
            .is_some_and(|(essence_kind, _)| essence_kind == kind),
        None => pattern == essence,
    }
}

fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
}

/// Reads and compiles a JSON Schema file.
pub fn load_schema(path: &std::path::Path) -> Result<jsonschema::Validator, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read the JSON Schema {}: {err}", path.display()))?;
    let schema: Value = serde_json::from_str(&text)
        .map_err(|err| format!("{} is not JSON: {err}", path.display()))?;
    jsonschema::validator_for(&schema)
        .map_err(|err| format!("{} is not a valid JSON Schema: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(config: InputConfig) -> InputPolicy {
        InputPolicy::build(&config).unwrap()
    }

    fn field_of(result: Result<(), GatewayError>) -> (String, String) {
        match result {
            Err(GatewayError::InputRejected { field, reason, .. }) => (field, reason),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    fn check(policy: &InputPolicy, value: &Value) -> Result<(), GatewayError> {
        policy.check_json(value.to_string().as_bytes(), &mut ())
    }

    /// The walk itself is tested in `json_walk`; here, that the keys reach it and its
    /// answers become 400s naming the field.
    #[test]
    fn json_limits_name_the_field() {
        let policy = policy(InputConfig {
            json_max_keys: Some(3),
            json_max_array_length: Some(2),
            json_max_string_length: Some(5),
            json_max_depth: Some(3),
            ..InputConfig::default()
        });
        assert!(policy.checks_json());
        assert!(check(&policy, &json!({"a": [1, 2], "b": {"c": "hello"}})).is_ok());
        let (field, reason) = field_of(check(&policy, &json!({"m": [{"text": "toolong"}]})));
        assert_eq!(field, "/m/0/text");
        assert!(reason.contains("7 characters"), "{reason}");
        assert_eq!(field_of(check(&policy, &json!({"a": [1, 2, 3]}))).0, "/a");
        assert_eq!(
            field_of(check(&policy, &json!({"a": 1, "b": 2, "c": 3, "d": 4}))).0,
            ""
        );
        assert_eq!(
            field_of(check(&policy, &json!({"a": {"x": [[1]]}}))).0,
            "/a/x/0"
        );
        assert!(matches!(
            policy.check_json(b"{\"a\": ", &mut ()),
            Err(GatewayError::InvalidRequest(reason)) if reason.contains("not valid JSON")
        ));
    }

    #[test]
    fn the_default_depth_limit_always_applies() {
        let policy = policy(InputConfig::default());
        assert!(!policy.checks_json());
        let mut deep = json!(1);
        for _ in 0..DEFAULT_JSON_MAX_DEPTH {
            deep = json!([deep]);
        }
        assert!(check(&policy, &deep).is_ok());
        let too_deep = json!([deep]);
        assert!(field_of(check(&policy, &too_deep)).1.contains("deeper"));
    }

    #[test]
    fn schemas_are_enforced_with_the_instance_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.json");
        std::fs::write(
            &path,
            r#"{"type": "object", "required": ["message"], "additionalProperties": false,
                "properties": {"message": {"type": "string", "maxLength": 10}}}"#,
        )
        .unwrap();
        let policy = policy(InputConfig {
            json_schema: Some(path),
            ..InputConfig::default()
        });
        assert!(check(&policy, &json!({"message": "hi"})).is_ok());
        let (field, reason) =
            field_of(check(&policy, &json!({"message": "a secret that is long"})));
        assert_eq!(field, "/message");
        assert!(
            !reason.contains("secret"),
            "values are not echoed: {reason}"
        );
        assert!(
            field_of(check(&policy, &json!({"message": 1, "x": 2})))
                .0
                .starts_with('/')
        );
        assert!(field_of(check(&policy, &json!({}))).1.contains("message"));

        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, r#"{"type": "no-such-type"}"#).unwrap();
        assert!(
            load_schema(&broken)
                .unwrap_err()
                .contains("not a valid JSON Schema")
        );
        assert!(
            load_schema(&dir.path().join("missing.json"))
                .unwrap_err()
                .contains("cannot read")
        );
    }

    #[test]
    fn head_limits_and_the_content_type_allowlist() {
        let policy = policy(InputConfig {
            content_types: vec!["application/json".into(), "text/*".into()],
            max_query_params: Some(2),
            max_query_length: Some(20),
            max_header_length: Some(40),
            ..InputConfig::default()
        });
        let uri = |q: &str| format!("/x?{q}").parse::<Uri>().unwrap();
        let mut headers = HeaderMap::new();
        assert!(policy.check_head(&uri("a=1&b=2"), &headers, false).is_ok());
        assert_eq!(
            field_of(policy.check_head(&uri("a&b&c"), &headers, false)).0,
            "query"
        );
        assert!(
            field_of(policy.check_head(&uri("a=123456789012345678901"), &headers, false))
                .1
                .contains("bytes")
        );
        headers.insert("x-long", "x".repeat(41).parse().unwrap());
        assert_eq!(
            field_of(policy.check_head(&uri("a"), &headers, false)).0,
            "header:x-long"
        );
        headers.remove("x-long");

        for (content_type, ok) in [
            ("application/json; charset=utf-8", true),
            ("text/plain", true),
            ("APPLICATION/JSON", true),
            ("application/xml", false),
        ] {
            headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
            let result = policy.check_head(&uri("a"), &headers, true);
            assert_eq!(result.is_ok(), ok, "{content_type}");
            if let Err(GatewayError::InputRejected { status, .. }) = result {
                assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            }
        }
        headers.remove(header::CONTENT_TYPE);
        assert!(
            policy.check_head(&uri("a"), &headers, true).is_err(),
            "a body needs a type"
        );
        assert!(
            policy.check_head(&uri("a"), &headers, false).is_ok(),
            "no body, no type needed"
        );
    }
}
