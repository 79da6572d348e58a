//! Input validation through the binary: JSON limits and a JSON Schema answered with the field
//! path, the content-type allowlist (415), query limits, body size (413) and uploads judged by
//! their content.

use serde_json::json;

use crate::support::{Rampart, envelope, plain_client, plaintext_config, upstream::Upstream};

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

fn start(upstream: &Upstream, schema_path: &std::path::Path) -> Rampart {
    let routes = format!(
        r#"
[[route]]
path = "/chat"
upstream = "app"
max_body = "2KB"
[route.input]
content_types = ["application/json"]
json_max_string_length = 40
json_max_keys = 5
json_schema = "{schema}"
max_query_params = 2

[[route]]
path = "/upload"
upstream = "app"
[route.input]
upload_types = ["png", "jpeg", "pdf"]
upload_max_file = "1KB"
"#,
        schema = schema_path.display()
    );
    let config = plaintext_config(&[upstream.url()], "", "").replace(
        "\n[[route]]\npath = \"/\"",
        &format!("{routes}\n[[route]]\npath = \"/\""),
    );
    Rampart::start(&config)
}

fn multipart(field: &str, file_name: &str, claimed: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "rampart-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
         Content-Type: {claimed}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn json_bodies_are_checked_against_limits_and_the_schema() {
    let upstream = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("chat.schema.json");
    std::fs::write(
        &schema,
        json!({
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string"}, "temperature": {"type": "number", "maximum": 2}}
        })
        .to_string(),
    )
    .unwrap();
    let rampart = start(&upstream, &schema);
    let post = |body: String| {
        plain_client()
            .post(rampart.plain_url("/chat"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let ok = post(json!({"message": "hello there", "temperature": 0.7}).to_string())
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let echoed: serde_json::Value = ok.json().await.unwrap();
    assert!(echoed["body"].as_str().unwrap().contains("hello there"));

    let long = post(json!({"message": "x".repeat(41)}).to_string())
        .await
        .unwrap();
    let long = envelope(long, 400, "validation_failed").await;
    assert_eq!(long["field"], "/message");
    assert!(
        long["message"].as_str().unwrap().contains("41 characters"),
        "{long}"
    );

    let schema_miss = post(json!({"message": "hi", "temperature": 5}).to_string())
        .await
        .unwrap();
    assert_eq!(
        envelope(schema_miss, 400, "validation_failed").await["field"],
        "/temperature"
    );
    let missing = post(json!({"text": "hi"}).to_string()).await.unwrap();
    assert_eq!(
        envelope(missing, 400, "validation_failed").await["field"],
        ""
    );

    let malformed = post("{\"message\": ".into()).await.unwrap();
    envelope(malformed, 400, "invalid_request").await;
    let huge = post(json!({"message": "x".repeat(3000)}).to_string())
        .await
        .unwrap();
    envelope(huge, 413, "payload_too_large").await;

    let xml = plain_client()
        .post(rampart.plain_url("/chat"))
        .header("content-type", "application/xml")
        .body("<message>hi</message>")
        .send()
        .await
        .unwrap();
    let xml = envelope(xml, 415, "unsupported_media_type").await;
    assert_eq!(xml["field"], "header:content-type");

    let query = plain_client()
        .get(rampart.plain_url("/chat?a=1&b=2&c=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        envelope(query, 400, "validation_failed").await["field"],
        "query"
    );

    let metrics = rampart.metrics().await;
    for reason in [
        "json",
        "content_type",
        "query",
        "body_size",
        "malformed_body",
    ] {
        assert!(
            metrics.contains(&format!(
                "rampart_validation_failures_total{{route=\"/chat\",reason=\"{reason}\"}}"
            )),
            "{reason}: {metrics}"
        );
    }
}

#[tokio::test]
async fn uploads_are_judged_by_their_content() {
    let upstream = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("unused.json");
    std::fs::write(&schema, "{}").unwrap();
    let rampart = start(&upstream, &schema);
    let upload = |field: &str, name: &str, claimed: &str, data: &[u8]| {
        let (content_type, body) = multipart(field, name, claimed, data);
        plain_client()
            .post(rampart.plain_url("/upload"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let ok = upload("photo", "cat.png", "image/png", PNG).await.unwrap();
    assert_eq!(ok.status(), 200);
    let echoed: serde_json::Value = ok.json().await.unwrap();
    assert!(
        echoed["body"].as_str().unwrap().contains("IHDR"),
        "forwarded whole"
    );

    let polyglot = [
        PNG,
        b"<html><body><script>fetch('/api/keys')</script>".as_slice(),
    ]
    .concat();
    let refused = upload("photo", "cat.png", "image/png", &polyglot)
        .await
        .unwrap();
    let refused = envelope(refused, 415, "upload_refused").await;
    assert_eq!(refused["field"], "photo");
    assert!(
        refused["message"].as_str().unwrap().contains("markup"),
        "{refused}"
    );

    let svg = upload(
        "photo",
        "logo.svg",
        "image/svg+xml",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .await
    .unwrap();
    envelope(svg, 415, "upload_refused").await;
    let zip = upload(
        "photo",
        "cat.png",
        "image/png",
        b"PK\x03\x04\x14\0\0\0\x08\0rest",
    )
    .await
    .unwrap();
    envelope(zip, 415, "upload_refused").await;
    let big = [PNG, &[0u8; 1100]].concat();
    let big = upload("photo", "big.png", "image/png", &big).await.unwrap();
    assert_eq!(
        envelope(big, 413, "payload_too_large").await["field"],
        "photo"
    );

    let metrics = rampart.metrics().await;
    assert!(
        metrics.contains(
            "rampart_validation_failures_total{route=\"/upload\",reason=\"upload_type\"} 3"
        ),
        "{metrics}"
    );
}

/// A file sent as the whole body (`fetch(url, {method: "PUT", body: file})`) and the parts of
/// a `multipart/related` upload are judged as files, form parts as backends tell files from
/// fields; a multipart body whose boundary or parts are ambiguous is refused rather than
/// forwarded unread.
#[tokio::test]
async fn files_are_judged_however_they_are_sent() {
    let upstream = Upstream::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("unused.json");
    std::fs::write(&schema, "{}").unwrap();
    let rampart = start(&upstream, &schema);
    let send = |method: reqwest::Method, content_type: &str, body: Vec<u8>| {
        plain_client()
            .request(method, rampart.plain_url("/upload"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let html = b"<!doctype html><script>fetch('/api/keys')</script>".to_vec();

    let png = send(reqwest::Method::PUT, "image/png", PNG.to_vec());
    assert_eq!(png.await.unwrap().status(), 200);
    let disguised = send(reqwest::Method::PUT, "image/png", html.clone());
    let disguised = envelope(disguised.await.unwrap(), 415, "upload_refused").await;
    assert_eq!(disguised["field"], "body");
    let text = send(reqwest::Method::PUT, "text/plain", b"hello".to_vec());
    envelope(text.await.unwrap(), 415, "upload_refused").await;
    let big = send(
        reqwest::Method::PUT,
        "image/png",
        [PNG, &[0; 1100]].concat(),
    );
    envelope(big.await.unwrap(), 413, "payload_too_large").await;
    let metadata = send(
        reqwest::Method::POST,
        "application/json",
        br#"{"name":"cat"}"#.to_vec(),
    );
    assert_eq!(metadata.await.unwrap().status(), 200, "JSON is not a file");

    // Google Drive's upload: JSON metadata, then the file, neither named.
    let related = |file: &[u8]| {
        let mut body = b"--b1\r\nContent-Type: application/json\r\n\r\n{\"name\":\"cat\"}\r\n\
                         --b1\r\nContent-Type: image/png\r\n\r\n"
            .to_vec();
        body.extend_from_slice(file);
        body.extend_from_slice(b"\r\n--b1--\r\n");
        body
    };
    let ok = send(
        reqwest::Method::POST,
        "multipart/related; boundary=b1",
        related(PNG),
    );
    assert_eq!(ok.await.unwrap().status(), 200);
    let refused = send(
        reqwest::Method::POST,
        "multipart/related; boundary=b1",
        related(&html),
    );
    let refused = envelope(refused.await.unwrap(), 415, "upload_refused").await;
    assert_eq!(refused["field"], "part 2");

    // A part is a file or a field as backends read it: parameter names without case (PHP, Go,
    // busboy), and an empty file name as both (a field to Go, a file to busboy).
    let form_part = |path: &str, disposition: &str, content: &[u8]| {
        let mut body = format!("--b1\r\nContent-Disposition: {disposition}\r\n\r\n").into_bytes();
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n--b1--\r\n");
        plain_client()
            .post(rampart.plain_url(path))
            .header("content-type", "multipart/form-data; boundary=b1")
            .body(body)
            .send()
    };
    let shouted = form_part(
        "/upload",
        r#"form-data; name="photo"; FILENAME="cat.png""#,
        &html,
    );
    envelope(shouted.await.unwrap(), 415, "upload_refused").await;
    let unnamed = form_part(
        "/comments",
        r#"form-data; name="q"; filename="""#,
        b"1' union select password from users--",
    );
    envelope(unnamed.await.unwrap(), 403, "attack_detected").await;
    let twice = form_part(
        "/comments",
        r#"form-data; name="q"; name="photo""#,
        b"hello",
    );
    envelope(twice.await.unwrap(), 400, "invalid_request").await;

    // PHP takes the boundary from anywhere in the header; such a body cannot be read as the
    // backend reads it.
    let (_, form) = multipart("photo", "cat.png", "image/png", &html);
    for content_type in [
        "multipart/form-data",
        "multipart/form-data; charset=utf-8, boundary=rampart-test-boundary",
        "multipart/form-data; boundary=x; boundary=rampart-test-boundary",
    ] {
        let unclear = send(reqwest::Method::POST, content_type, form.clone());
        let unclear = envelope(unclear.await.unwrap(), 400, "invalid_request").await;
        assert!(
            unclear["message"].as_str().unwrap().contains("boundary"),
            "{content_type}: {unclear}"
        );
    }
}
