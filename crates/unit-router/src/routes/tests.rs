//! Tests of route compilation and step selection: every condition kind, first match
//! wins, named routes.

use serde_json::{Value, json};

use super::action::Share;
use super::{ActionKind, PassTarget, ProxyTarget, Routes, Upstreams, parse_pass};
use crate::conf::tests::parse;
use crate::http::{ConnAddr, HttpRequest};
use crate::template::ResponseVars;
use crate::template::tests::{sample_request, socket};

/// Parses a root `routes` value (`None`: absent) with unit-conf, as the router gets it,
/// and compiles it; the error is the validator's message or the compiler's.
fn compile_routes(routes: Option<&Value>) -> Result<Routes, String> {
    let conf = match routes {
        Some(routes) => json!({ "routes": routes }),
        None => json!({}),
    };
    Routes::compile(parse(&conf)?.routes.as_ref())
        .map_err(|compile_error| compile_error.to_string())
}

/// Parses a root `upstreams` value with unit-conf and compiles it.
fn compile_upstreams(upstreams: &Value) -> Result<Upstreams, String> {
    Ok(Upstreams::compile(
        &parse(&json!({ "upstreams": upstreams }))?.upstreams,
    ))
}

/// A change made to the sample request before matching.
type Adjust<'a> = &'a dyn Fn(&mut HttpRequest);

/// Compiles one anonymous route whose only step has `conditions` and returns `200`, and
/// checks whether it selects that step for each adjusted sample request.
fn check(conditions: Value, cases: &[(Adjust<'_>, bool)]) {
    let conf = json!([{ "match": conditions, "action": { "return": 200 } }]);
    let routes = compile_routes(Some(&conf)).expect("test routes compile");
    for (case_idx, (adjust, expected)) in cases.iter().enumerate() {
        let mut request = sample_request();
        adjust(&mut request);
        assert_eq!(
            routes.select(None, &request).is_some(),
            *expected,
            "conditions {conf}, case {case_idx}"
        );
    }
}

/// The status of the `return` action `routes` selects, or `None`.
fn selected_status(routes: &Routes, name: Option<&str>, request: &HttpRequest) -> Option<u16> {
    match routes.select(name, request).map(|action| &action.kind) {
        Some(ActionKind::Return { status, .. }) => Some(*status),
        _ => None,
    }
}

/// Sets the host.
fn host(host: &'static str) -> impl Fn(&mut HttpRequest) {
    move |request| request.host = host.to_owned()
}

/// Sets the path.
fn uri(uri: &'static str) -> impl Fn(&mut HttpRequest) {
    move |request| request.uri = uri.to_owned()
}

/// Sets the method.
fn method(method: &'static str) -> impl Fn(&mut HttpRequest) {
    move |request| request.method = method.to_owned()
}

/// Sets the query string.
fn query(query: &'static str) -> impl Fn(&mut HttpRequest) {
    move |request| request.query = query.to_owned()
}

/// Replaces the headers.
fn headers(headers: &'static [(&'static str, &'static str)]) -> impl Fn(&mut HttpRequest) {
    move |request| {
        request.headers = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec()))
            .collect();
    }
}

/// Sets the client address.
fn remote(address: &'static str) -> impl Fn(&mut HttpRequest) {
    move |request| request.remote = conn_addr(address)
}

/// Sets the local address.
fn local(address: &'static str) -> impl Fn(&mut HttpRequest) {
    move |request| request.local = conn_addr(address)
}

/// `unix` or a socket address.
fn conn_addr(address: &str) -> ConnAddr {
    if address == "unix" {
        ConnAddr::Unix
    } else {
        ConnAddr::Inet(socket(address))
    }
}

/// Leaves the sample request as it is.
fn same(_request: &mut HttpRequest) {}

#[test]
fn host_condition() {
    check(
        json!({"host": "example.com"}),
        &[
            (&same, true),
            (&host("example.org"), false),
            (&host(""), false),
        ],
    );
    check(
        json!({"host": "*.Example.COM"}),
        &[
            (&host("www.example.com"), true),
            (&host("example.com"), false),
        ],
    );
    check(
        json!({"host": ["example.org", "!*.internal", "*.example.com"]}),
        &[
            (&host("example.org"), true),
            (&host("a.example.com"), true),
            (&host("a.internal"), false),
            (&host("example.net"), false),
        ],
    );
    check(
        json!({"host": "~^(www\\.)?example\\.(com|org)$"}),
        &[
            (&host("www.example.org"), true),
            (&host("EXAMPLE.com"), true),
            (&host("example.net"), false),
        ],
    );
    check(json!({"host": ""}), &[(&host(""), true), (&same, false)]);
}

#[test]
fn uri_condition() {
    check(
        json!({"uri": "/docs/*"}),
        &[
            (&same, true),
            (&uri("/docs/"), true),
            (&uri("/Docs/a"), false),
            (&uri("/doc"), false),
        ],
    );
    check(
        json!({"uri": "/docs/a%20b.html"}),
        &[(&same, true), (&uri("/docs/a%20b.html"), false)],
    );
    check(
        json!({"uri": ["*.php", "*.phtml"]}),
        &[
            (&uri("/index.php"), true),
            (&uri("/a.phtml"), true),
            (&uri("/a.PHP"), false),
        ],
    );
    check(
        json!({"uri": ["!/admin/*", "!*.bak"]}),
        &[
            (&uri("/index"), true),
            (&uri("/admin/users"), false),
            (&uri("/x.bak"), false),
        ],
    );
    check(
        json!({"uri": "~^/v[0-9]+/"}),
        &[
            (&uri("/v2/items"), true),
            (&uri("/V2/items"), false),
            (&uri("/vx/"), false),
        ],
    );
    check(
        json!({"uri": "/a*b*c"}),
        &[
            (&uri("/abc"), true),
            (&uri("/a/b/c"), true),
            (&uri("/acb"), false),
        ],
    );
}

#[test]
fn method_condition() {
    check(
        json!({"method": "get"}),
        &[
            (&same, true),
            (&method("get"), true),
            (&method("POST"), false),
        ],
    );
    check(
        json!({"method": ["POST", "PUT"]}),
        &[(&method("PUT"), true), (&same, false)],
    );
    check(
        json!({"method": "!GET"}),
        &[(&same, false), (&method("DELETE"), true)],
    );
    check(
        json!({"method": "~^(GET|HEAD)$"}),
        &[(&method("head"), true), (&method("GETS"), false)],
    );
}

#[test]
fn headers_condition() {
    check(
        json!({"headers": {"user-agent": "curl/*"}}),
        &[
            (&same, true),
            (&headers(&[("User-Agent", "CURL/7")]), true),
            (&headers(&[("User-Agent", "wget")]), false),
            (&headers(&[]), false),
        ],
    );
    // Every same-named header must match.
    check(
        json!({"headers": {"X-Tag": ["first", "second"]}}),
        &[
            (&same, true),
            (&headers(&[("X-Tag", "first"), ("X-Tag", "third")]), false),
        ],
    );
    check(
        json!({"headers": {"X-Tag": "first"}}),
        &[(&same, false), (&headers(&[("x-tag", "FIRST")]), true)],
    );
    // An absent header fails even an all-negative condition.
    check(
        json!({"headers": {"X-Debug": "!on"}}),
        &[
            (&same, false),
            (&headers(&[("X-Debug", "off")]), true),
            (&headers(&[("X-Debug", "on")]), false),
        ],
    );
    // Object members are ANDed.
    check(
        json!({"headers": {"Accept": "*json*", "X-Api": "1"}}),
        &[
            (
                &headers(&[("Accept", "application/json"), ("X-Api", "1")]),
                true,
            ),
            (&headers(&[("Accept", "application/json")]), false),
            (&headers(&[("Accept", "text/html"), ("X-Api", "1")]), false),
        ],
    );
    // Array elements are ORed.
    check(
        json!({"headers": [{"X-A": "1"}, {"X-B": "2"}]}),
        &[
            (&headers(&[("X-A", "1")]), true),
            (&headers(&[("X-B", "2")]), true),
            (&headers(&[("X-A", "2"), ("X-B", "1")]), false),
        ],
    );
    check(
        json!({"headers": {"X-Empty": ""}}),
        &[(&headers(&[("X-Empty", "")]), true), (&headers(&[]), false)],
    );
    check(json!({"headers": []}), &[(&same, true)]);
    check(json!({"headers": {}}), &[(&same, true)]);
}

#[test]
fn arguments_condition() {
    // The sample query is `x=1&q=a+b&x=2`.
    check(
        json!({"arguments": {"q": "a b"}}),
        &[
            (&same, true),
            (&query("q=a%20b"), true),
            (&query("q=a+c"), false),
            (&query("Q=a+b"), false),
            (&query(""), false),
        ],
    );
    // Every same-named argument must match.
    check(
        json!({"arguments": {"x": ["1", "2"]}}),
        &[(&same, true), (&query("x=1&x=3"), false)],
    );
    check(
        json!({"arguments": {"x": "1"}}),
        &[(&same, false), (&query("x=1"), true)],
    );
    // Names and patterns may be percent-encoded.
    check(
        json!({"arguments": {"a%20b": "c%26d*"}}),
        &[(&query("a+b=c%26d1"), true), (&query("a+b=c+d"), false)],
    );
    check(
        json!({"arguments": [{"mode": "edit"}, {"id": "~^[0-9]+$"}]}),
        &[
            (&query("mode=edit"), true),
            (&query("id=42"), true),
            (&query("id=4x2"), false),
            (&query("mode=Edit"), false),
        ],
    );
    check(
        json!({"arguments": {"flag": ""}}),
        &[(&query("flag"), true), (&query("flag=1"), false)],
    );
}

#[test]
fn cookies_condition() {
    // The sample Cookie headers hold sid=abc, theme=dark, sid=later and lang=en.
    check(
        json!({"cookies": {"theme": "dark"}}),
        &[
            (&same, true),
            (&headers(&[("Cookie", "theme=light")]), false),
            (&headers(&[]), false),
        ],
    );
    check(
        json!({"cookies": {"sid": "abc"}}),
        &[(&same, false), (&headers(&[("Cookie", "sid=abc")]), true)],
    );
    check(
        json!({"cookies": {"sid": ["abc", "later"], "lang": "e*"}}),
        &[(&same, true)],
    );
    check(json!({"cookies": {"THEME": "dark"}}), &[(&same, false)]);
    check(json!({"cookies": {"theme": "DARK"}}), &[(&same, false)]);
    check(
        json!({"cookies": [{"a": "1"}, {"b": "2"}]}),
        &[
            (&headers(&[("Cookie", "b=2")]), true),
            (&headers(&[("Cookie", "a=2; b=1")]), false),
        ],
    );
}

#[test]
fn query_condition() {
    check(
        json!({"query": "x=1&q=a b&x=2"}),
        &[
            (&same, true),
            (&query("x=1&q=a%20b&x=2"), true),
            (&query("x=1"), false),
        ],
    );
    check(
        json!({"query": "*q=a%20b*"}),
        &[(&same, true), (&query("q=ab"), false)],
    );
    check(json!({"query": ""}), &[(&query(""), true), (&same, false)]);
    check(
        json!({"query": ["!*debug*", "!*trace*"]}),
        &[(&same, true), (&query("debug=1"), false)],
    );
    check(
        json!({"query": "~^x="}),
        &[(&same, true), (&query("y=1"), false)],
    );
    // An invalid escape leaves the query as sent.
    check(json!({"query": "~^a=%zz$"}), &[(&query("a=%zz"), true)]);
}

#[test]
fn scheme_condition() {
    let https = |request: &mut HttpRequest| request.https = true;
    check(json!({"scheme": "http"}), &[(&same, true), (&https, false)]);
    check(
        json!({"scheme": "HTTPS"}),
        &[(&same, false), (&https, true)],
    );
}

#[test]
fn address_conditions() {
    check(
        json!({"source": "192.0.2.0/24"}),
        &[
            (&same, true),
            (&remote("192.0.3.1:1"), false),
            (&remote("[2001:db8::1]:1"), false),
            (&remote("unix"), false),
        ],
    );
    check(
        json!({"source": ["!192.0.2.7", "192.0.2.1-192.0.2.9"]}),
        &[
            (&same, false),
            (&remote("192.0.2.8:5"), true),
            (&remote("192.0.2.10:5"), false),
        ],
    );
    check(
        json!({"source": "!10.0.0.0/8"}),
        &[
            (&same, true),
            (&remote("10.1.2.3:4"), false),
            (&remote("unix"), true),
        ],
    );
    check(
        json!({"source": "unix"}),
        &[(&remote("unix"), true), (&same, false)],
    );
    check(
        json!({"source": ["[2001:db8::/32]:443", "*:51000"]}),
        &[
            (&same, true),
            (&remote("[2001:db8:1::5]:443"), true),
            (&remote("[2001:db8:1::5]:80"), false),
        ],
    );
    check(
        json!({"destination": "*:8080"}),
        &[
            (&same, true),
            (&local("127.0.0.1:80"), false),
            (&local("unix"), false),
        ],
    );
    check(
        json!({"destination": ["127.0.0.1:8000-8100", "!*:8081"]}),
        &[
            (&same, true),
            (&local("127.0.0.1:8081"), false),
            (&local("127.0.0.2:8080"), false),
        ],
    );
}

#[test]
fn if_condition() {
    for (text, expected) in [
        ("1", true),
        ("yes", true),
        ("", false),
        ("0", false),
        ("false", false),
        ("null", false),
        ("undefined", false),
        ("!", true),
        ("!0", true),
        ("!1", false),
        ("$arg_q", true),
        ("$arg_missing", false),
        ("!$arg_missing", true),
        ("${cookie_theme}", true),
        ("$header_x_nothing", false),
        ("$dollar", true),
    ] {
        check(json!({"if": text}), &[(&same, expected)]);
    }
    check(
        json!({"if": "$arg_debug"}),
        &[
            (&query("debug=1"), true),
            (&query("debug=0"), false),
            (&query("debug=false"), false),
            (&query("debug=False"), true),
            (&query(""), false),
        ],
    );
}

#[test]
fn conditions_are_anded() {
    check(
        json!({"host": "example.com", "method": "GET", "uri": "/docs/*"}),
        &[
            (&same, true),
            (&host("example.org"), false),
            (&method("POST"), false),
            (&uri("/other"), false),
        ],
    );
    check(json!({}), &[(&same, true), (&host("x"), true)]);
}

#[test]
fn first_matching_step_wins() {
    let conf = json!([
        {"match": {"uri": "/api/*", "method": "POST"}, "action": {"return": 201}},
        {"match": {"uri": "/api/*"}, "action": {"return": 202}},
        {"match": {"host": "example.com"}, "action": {"return": 203}},
        {"action": {"return": 204}},
        {"action": {"return": 205}},
    ]);
    let routes = compile_routes(Some(&conf)).expect("the routes compile");
    let post_to_api = |request: &mut HttpRequest| {
        request.uri = "/api/x".to_owned();
        request.method = "POST".to_owned();
    };
    let cases: [(Adjust<'_>, Option<u16>); 4] = [
        (&post_to_api, Some(201)),
        (&uri("/api/x"), Some(202)),
        (&same, Some(203)),
        (&host("other.org"), Some(204)),
    ];
    for (adjust, expected) in cases {
        let mut request = sample_request();
        adjust(&mut request);
        assert_eq!(selected_status(&routes, None, &request), expected);
    }
    assert_eq!(
        selected_status(&routes, Some("main"), &sample_request()),
        None
    );
}

#[test]
fn no_step_matches() {
    let conf = json!([{"match": {"uri": "/only"}, "action": {"return": 200}}]);
    let routes = compile_routes(Some(&conf)).expect("the routes compile");
    assert!(routes.select(None, &sample_request()).is_none());
    let empty = compile_routes(Some(&json!([]))).expect("empty routes compile");
    assert!(empty.select(None, &sample_request()).is_none());
    let none = compile_routes(None).expect("absent routes compile");
    assert!(none.select(None, &sample_request()).is_none());
    assert!(none.select(Some("main"), &sample_request()).is_none());
}

#[test]
fn named_routes() {
    let conf = json!({
        "main": [
            {"match": {"uri": "/static/*"}, "action": {"pass": "routes/static"}},
            {"action": {"return": 404}},
        ],
        "static": [{"action": {"share": "/srv$uri"}}],
        "empty": [],
    });
    let routes = compile_routes(Some(&conf)).expect("the routes compile");
    let mut request = sample_request();
    assert_eq!(selected_status(&routes, Some("main"), &request), Some(404));
    request.uri = "/static/app.css".to_owned();
    match routes
        .select(Some("main"), &request)
        .map(|action| &action.kind)
    {
        Some(ActionKind::Pass(pass)) => assert_eq!(pass.as_static(), Some("routes/static")),
        other => panic!("expected the pass action, got {other:?}"),
    }
    assert!(matches!(
        routes
            .select(Some("static"), &request)
            .map(|action| &action.kind),
        Some(ActionKind::Share(_))
    ));
    assert!(routes.select(Some("empty"), &request).is_none());
    assert!(routes.select(Some("missing"), &request).is_none());
    // Named routes have no anonymous array.
    assert!(routes.select(None, &request).is_none());
}

#[test]
fn compile_errors() {
    for (conf, expected) in [
        (json!("routes"), None),
        (json!(5), None),
        (json!([1]), None),
        (json!({"r": {}}), None),
        (
            json!([{"match": {}}]),
            Some("Required parameter \"action\" is missing."),
        ),
        (json!([{"action": {"return": 200}, "extra": 1}]), None),
        (json!([{"match": [], "action": {"return": 200}}]), None),
        (
            json!([{"match": {"color": "red"}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"uri": "a**b"}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"uri": "/a%"}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"host": 1}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"headers": "x"}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"headers": [1]}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"arguments": {"a%": "1"}}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"scheme": "ftp"}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"scheme": 1}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"source": "1.2.3"}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"source": [1]}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"if": "$nope"}, "action": {"return": 200}}]),
            None,
        ),
        (
            json!([{"match": {"if": 1}, "action": {"return": 200}}]),
            None,
        ),
        (json!([{"action": {"return": 1000}}]), None),
    ] {
        match compile_routes(Some(&conf)) {
            Ok(_) => panic!("routes {conf} compiled"),
            Err(message) => {
                if let Some(expected) = expected {
                    assert_eq!(message, expected, "routes {conf}");
                }
            }
        }
    }
}

#[test]
fn following_pass_targets() {
    let routes = json!({
        "main": [
            {"match": {"uri": "/static/*"}, "action": {"pass": "routes/sta%74ic"}},
            {"match": {"uri": "/api/*"}, "action": {"pass": "upstreams/$arg_pool"}},
            {"match": {"uri": "/legacy/*"}, "action": {"proxy": "http://[::1]:9000"}},
            {"action": {"pass": "applications/${host}/index"}},
        ],
        "static": [{"action": {"share": ["/srv$uri", "/fallback/"], "index": "home.html"}}],
    });
    let upstreams = json!({"pool": {"servers": {"127.0.0.1:8001": {}, "127.0.0.1:8002": {}}}});
    let routes = compile_routes(Some(&routes)).expect("the routes compile");
    let upstreams = compile_upstreams(&upstreams).expect("the upstreams compile");
    let pass_of = |request: &HttpRequest| -> Option<PassTarget> {
        match &routes.select(Some("main"), request)?.kind {
            ActionKind::Pass(pass) => parse_pass(&pass.expand(request, &ResponseVars::default())),
            _ => None,
        }
    };

    let mut request = sample_request();
    request.uri = "/static/site.css".to_owned();
    let Some(PassTarget::Routes(Some(route))) = pass_of(&request) else {
        panic!("expected a pass to a named route");
    };
    assert_eq!(route, "static");
    let Some(ActionKind::Share(Share { paths, index, .. })) = routes
        .select(Some(&route), &request)
        .map(|action| &action.kind)
    else {
        panic!("expected the share action");
    };
    assert_eq!(paths.len(), 2);
    assert_eq!(index, "home.html");

    request.uri = "/api/items".to_owned();
    request.query = "pool=pool".to_owned();
    let Some(PassTarget::Upstream(pool)) = pass_of(&request) else {
        panic!("expected a pass to an upstream");
    };
    let picks: Vec<_> = (0..4).filter_map(|_| upstreams.pick(&pool)).collect();
    let inet = |text: &str| ProxyTarget::Inet(socket(text));
    assert_eq!(
        picks,
        [
            inet("127.0.0.1:8001"),
            inet("127.0.0.1:8002"),
            inet("127.0.0.1:8001"),
            inet("127.0.0.1:8002"),
        ]
    );
    // An expanded name that is not an upstream still parses; the lookup fails.
    request.query = "pool=other".to_owned();
    let Some(PassTarget::Upstream(other)) = pass_of(&request) else {
        panic!("expected a pass to an upstream");
    };
    assert_eq!(upstreams.pick(&other), None);
    // An expansion that leaves a segment empty is invalid.
    request.query = String::new();
    assert_eq!(pass_of(&request), None);

    request.uri = "/legacy/x".to_owned();
    assert!(matches!(
        routes.select(Some("main"), &request).map(|action| &action.kind),
        Some(ActionKind::Proxy(ProxyTarget::Inet(address))) if *address == socket("[::1]:9000")
    ));

    request.uri = "/".to_owned();
    assert_eq!(
        pass_of(&request),
        Some(PassTarget::Application {
            name: "example.com".to_owned(),
            target: Some("index".to_owned()),
        })
    );
}
