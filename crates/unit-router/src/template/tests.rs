//! Tests of template parsing and expansion, and the sample request other router tests
//! start from.

use std::net::SocketAddr;
use std::time::Duration;

use super::{ResponseVars, Template};
use crate::http::{ConnAddr, HttpRequest};

/// A request with every field set, for tests to adjust.
pub(crate) fn sample_request() -> HttpRequest {
    let header = |name: &str, value: &str| (name.to_owned(), value.as_bytes().to_vec());
    HttpRequest {
        method: "GET".to_owned(),
        target: "/docs/a%20b.html?x=1&q=a+b&x=2".to_owned(),
        uri: "/docs/a b.html".to_owned(),
        query: "x=1&q=a+b&x=2".to_owned(),
        version_minor: 1,
        headers: vec![
            header("Host", "Example.COM:8080"),
            header("User-Agent", "curl/8.0"),
            header("X-Tag", "first"),
            header("x-tag", "second"),
            header("Cookie", "sid=abc; theme=dark"),
            header("Cookie", "sid=later; lang=en"),
        ],
        host: "example.com".to_owned(),
        https: false,
        tls: None,
        remote: ConnAddr::Inet(socket("192.0.2.7:51000")),
        local: ConnAddr::Inet(socket("127.0.0.1:8080")),
        request_line: "GET /docs/a%20b.html?x=1&q=a+b&x=2 HTTP/1.1".to_owned(),
        rewritten: false,
        id: 0x0123_4567_89ab_cdef_0011_2233_4455_6677,
        arrived: std::time::Instant::now(),
    }
}

/// Parses a socket address written in a test.
pub(crate) fn socket(text: &str) -> SocketAddr {
    text.parse().expect("test socket addresses are valid")
}

/// Parses `text` and expands it for `request` with `extra`.
fn check_with(request: &HttpRequest, extra: &ResponseVars<'_>, text: &str, expected: &str) {
    let template = Template::parse(text).expect("test templates parse");
    assert_eq!(
        template.expand(request, extra),
        expected,
        "template {text:?}"
    );
}

/// Expands `text` for the sample request at routing time.
fn check(text: &str, expected: &str) {
    check_with(&sample_request(), &ResponseVars::default(), text, expected);
}

#[test]
fn request_variables() {
    check("$uri", "/docs/a b.html");
    check("${uri}", "/docs/a b.html");
    check("/www${uri}x", "/www/docs/a b.htmlx");
    check("$request_uri", "/docs/a%20b.html?x=1&q=a+b&x=2");
    check("$host", "example.com");
    check("$method", "GET");
    check("$remote_addr", "192.0.2.7");
    check(
        "$request_line",
        "GET /docs/a%20b.html?x=1&q=a+b&x=2 HTTP/1.1",
    );
    check("$dollar", "$");
    check("${dollar}uri", "$uri");
    check("a$dollar$dollar", "a$$");
    check("$host$uri", "example.com/docs/a b.html");
}

#[test]
fn tls_variables() {
    check("[$tls_protocol] [$tls_server_name]", "[] []");
    let mut request = sample_request();
    request.tls = Some(crate::http::TlsDetails {
        protocol: "TLSv1.3",
        server_name: Some("example.com".into()),
    });
    check_with(
        &request,
        &ResponseVars::default(),
        "$tls_protocol $tls_server_name",
        "TLSv1.3 example.com",
    );
}

#[test]
fn named_variables() {
    check("$header_user_agent", "curl/8.0");
    check("$header_USER_AGENT", "curl/8.0");
    check("${header_x_tag}", "first");
    check("[$header_referer]", "[]");
    check("$arg_q", "a b");
    check("$arg_x", "2");
    check("[$arg_X]", "[]");
    check("[$arg_missing]", "[]");
    check("$cookie_sid", "abc");
    check("$cookie_lang", "en");
    check("[$cookie_SID]", "[]");
    check("[$response_header_etag]", "[]");
}

#[test]
fn response_variables() {
    let response_headers = vec![
        ("Content-Type".into(), "text/html".into()),
        ("ETag".into(), "\"v1\"".into()),
    ];
    let extra = ResponseVars {
        status: 404,
        body_bytes_sent: 1234,
        request_time: Duration::from_millis(2_045),
        request_id: "0123abcd",
        time_local: "31/Dec/1986:19:40:00 +0300",
        response_headers: &response_headers,
    };
    let request = sample_request();
    for (text, expected) in [
        ("$status", "404"),
        ("$body_bytes_sent", "1234"),
        ("$request_time", "2.045"),
        ("$request_id", "0123abcd"),
        ("[$time_local]", "[31/Dec/1986:19:40:00 +0300]"),
        ("$response_header_content_type", "text/html"),
        ("${response_header_etag}", "\"v1\""),
        ("[$response_header_server]", "[]"),
    ] {
        check_with(&request, &extra, text, expected);
    }
    let defaults = ResponseVars::default();
    for (text, expected) in [
        ("$status", "000"),
        ("$body_bytes_sent", "0"),
        ("$request_time", "0.000"),
        // Without a response-time id the request's own identifier is used.
        (
            "[$request_id$time_local]",
            "[0123456789abcdef0011223344556677]",
        ),
    ] {
        check_with(&request, &defaults, text, expected);
    }
}

#[test]
fn remote_addresses() {
    let mut request = sample_request();
    request.remote = ConnAddr::Inet(socket("[2001:db8::1]:443"));
    check_with(
        &request,
        &ResponseVars::default(),
        "$remote_addr",
        "2001:db8::1",
    );
    request.remote = ConnAddr::Unix;
    check_with(&request, &ResponseVars::default(), "$remote_addr", "unix:");
}

#[test]
fn static_templates() {
    for (text, expected) in [
        ("", Some("")),
        ("/srv/www", Some("/srv/www")),
        ("routes/main", Some("routes/main")),
        ("/srv$uri", None),
        ("$dollar", None),
    ] {
        let template = Template::parse(text).expect("test templates parse");
        assert_eq!(template.as_static(), expected, "template {text:?}");
        assert_eq!(
            template.is_static(),
            expected.is_some(),
            "template {text:?}"
        );
    }
}

#[test]
fn parse_errors() {
    for (text, expected) in [
        ("$", "Invalid variable at position 0"),
        ("/a/${uri", "Invalid variable at position 3"),
        ("$nope", "Unknown variable \"nope\""),
        (
            "`${uri}`",
            "njs template literals are not supported by this build",
        ),
    ] {
        assert_eq!(
            Template::parse(text).map_err(|template_error| template_error.to_string()),
            Err(expected.to_owned()),
            "template {text:?}"
        );
    }
}
