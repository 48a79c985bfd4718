//! Tests of action compilation and `pass` parsing.

use std::path::Path;

use serde_json::{Value, json};

use super::{Action, ActionKind, PassTarget, ProxyTarget, parse_pass};
use crate::conf::tests::parse;
use crate::template::ResponseVars;
use crate::template::tests::{sample_request, socket};

/// Parses `action` with unit-conf as the action of a route's only step, as the router
/// gets it, and compiles it; the error is the validator's message or the compiler's.
fn compile_action(action: &Value) -> Result<Action, String> {
    let conf = parse(&json!({"routes": [{ "action": action }]}))?;
    let Some(unit_conf::Routes::Steps(steps)) = &conf.routes else {
        return Err("the routes are not an array".to_owned());
    };
    let step = steps.first().ok_or("the route has no step")?;
    Action::compile(&step.action).map_err(|compile_error| compile_error.to_string())
}

/// Checks what `parse_pass` makes of `text`.
fn check(text: &str, expected: Option<PassTarget>) {
    assert_eq!(parse_pass(text), expected, "pass {text:?}");
}

/// A named target.
fn name(text: &str) -> String {
    text.to_owned()
}

#[test]
fn pass_targets() {
    check("routes", Some(PassTarget::Routes(None)));
    check("routes/main", Some(PassTarget::Routes(Some(name("main")))));
    check("routes/a%2Fb", Some(PassTarget::Routes(Some(name("a/b")))));
    check(
        "routes/caf%C3%A9",
        Some(PassTarget::Routes(Some(name("café")))),
    );
    check(
        "upstreams/backend",
        Some(PassTarget::Upstream(name("backend"))),
    );
    check(
        "upstreams/back%20end",
        Some(PassTarget::Upstream(name("back end"))),
    );
    check(
        "applications/blog",
        Some(PassTarget::Application {
            name: name("blog"),
            target: None,
        }),
    );
    check(
        "applications/my%20app/front",
        Some(PassTarget::Application {
            name: name("my app"),
            target: Some(name("front")),
        }),
    );
    check("%72outes", Some(PassTarget::Routes(None)));
    for invalid in [
        "",
        "routes/",
        "routes//",
        "routes/a/b",
        "upstreams",
        "upstreams/a/b",
        "applications",
        "applications/",
        "applications/a/",
        "applications/a/b/c",
        "listeners/x",
        "routes/%",
        "routes/%zz",
        "routes/%FF",
        "/routes",
        "Routes",
    ] {
        check(invalid, None);
    }
}

#[test]
fn pass_and_return() {
    let action = compile_action(&json!({"pass": "applications/$host"})).expect("compiles");
    match &action.kind {
        ActionKind::Pass(pass) => {
            assert!(!pass.is_static());
            let expanded = pass.expand(&sample_request(), &ResponseVars::default());
            assert_eq!(expanded, "applications/example.com");
        }
        other => panic!("expected pass, got {other:?}"),
    }
    assert!(action.rewrite.is_none());
    assert!(action.response_headers.is_empty());

    for (value, expected_status, expected_location) in [
        (json!({"return": 0}), 0, None),
        (json!({"return": 204}), 204, None),
        (json!({"return": 999}), 999, None),
        (
            json!({"return": 301, "location": "https://$host$request_uri"}),
            301,
            Some("https://example.com/docs/a%20b.html?x=1&q=a+b&x=2"),
        ),
    ] {
        let action = compile_action(&value).expect("return actions compile");
        let ActionKind::Return { status, location } = &action.kind else {
            panic!("expected return for {value}");
        };
        assert_eq!(*status, expected_status, "action {value}");
        let location = location
            .as_ref()
            .map(|location| location.expand(&sample_request(), &ResponseVars::default()));
        assert_eq!(location.as_deref(), expected_location, "action {value}");
    }
}

#[test]
fn share_members() {
    let action = compile_action(&json!({"share": "/srv/www$uri"})).expect("compiles");
    let ActionKind::Share(share) = &action.kind else {
        panic!("expected share");
    };
    assert_eq!(share.paths.len(), 1);
    assert_eq!(
        share.paths[0].expand(&sample_request(), &ResponseVars::default()),
        "/srv/www/docs/a b.html"
    );
    assert_eq!(share.index, "index.html");
    assert!(share.types.is_none() && share.fallback.is_none() && share.chroot.is_none());
    assert!(share.follow_symlinks && share.traverse_mounts);

    let action = compile_action(&json!({
        "share": ["/a$uri", "/b/"],
        "index": "default.htm",
        "types": ["image/*", "!image/svg+xml", "Text/HTML"],
        "fallback": {"share": "/c", "fallback": {"return": 404}},
        "chroot": "/srv/$host",
        "follow_symlinks": false,
        "traverse_mounts": false,
        "rewrite": "/new$uri",
        "response_headers": {"Cache-Control": "max-age=60", "X-Powered-By": null, "X-Host": "$host"},
    }))
    .expect("compiles");
    let request = sample_request();
    let vars = ResponseVars::default();
    let ActionKind::Share(share) = &action.kind else {
        panic!("expected share");
    };
    let paths: Vec<String> = share
        .paths
        .iter()
        .map(|path| path.expand(&request, &vars))
        .collect();
    assert_eq!(paths, ["/a/docs/a b.html", "/b/"]);
    assert_eq!(share.index, "default.htm");
    let types = share.types.as_ref().expect("types are set");
    for (mime_type, expected) in [
        ("image/png", true),
        ("image/svg+xml", false),
        ("text/html", true),
        ("text/plain", false),
    ] {
        assert_eq!(types.matches(mime_type), expected, "type {mime_type}");
    }
    let fallback = share.fallback.as_ref().expect("fallback is set");
    let ActionKind::Share(inner) = &fallback.kind else {
        panic!("expected a share fallback");
    };
    assert!(matches!(
        inner.fallback.as_ref().map(|action| &action.kind),
        Some(ActionKind::Return {
            status: 404,
            location: None
        })
    ));
    assert_eq!(
        share
            .chroot
            .as_ref()
            .map(|chroot| chroot.expand(&request, &vars))
            .as_deref(),
        Some("/srv/example.com")
    );
    assert!(!share.follow_symlinks && !share.traverse_mounts);
    assert_eq!(
        action
            .rewrite
            .as_ref()
            .map(|rewrite| rewrite.expand(&request, &vars))
            .as_deref(),
        Some("/new/docs/a b.html")
    );
    let headers: Vec<(&str, Option<String>)> = action
        .response_headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str(),
                value.as_ref().map(|value| value.expand(&request, &vars)),
            )
        })
        .collect();
    assert_eq!(
        headers,
        [
            ("Cache-Control", Some("max-age=60".to_owned())),
            ("X-Powered-By", None),
            ("X-Host", Some("example.com".to_owned())),
        ]
    );
}

#[test]
fn proxy_targets() {
    for (address, expected) in [
        (
            "http://127.0.0.1:8080",
            ProxyTarget::Inet(socket("127.0.0.1:8080")),
        ),
        ("http://[::1]:9000", ProxyTarget::Inet(socket("[::1]:9000"))),
        (
            "http://unix:/run/app.sock",
            ProxyTarget::Unix(Path::new("/run/app.sock").into()),
        ),
        (
            "http://unix:@abstract",
            ProxyTarget::Unix(Path::new("@abstract").into()),
        ),
    ] {
        let action = compile_action(&json!({ "proxy": address })).expect("proxy actions compile");
        match &action.kind {
            ActionKind::Proxy(target) => assert_eq!(target, &expected, "proxy {address}"),
            other => panic!("expected proxy for {address}, got {other:?}"),
        }
    }
}

#[test]
fn compile_errors() {
    for value in [
        json!("pass"),
        json!({}),
        json!({"rewrite": "/x"}),
        json!({"pass": "routes", "return": 200}),
        json!({"share": "/a", "proxy": "http://127.0.0.1:80"}),
        json!({"pass": 5}),
        json!({"pass": "routes/$nope"}),
        json!({"return": -1}),
        json!({"return": 1000}),
        json!({"return": 2.5}),
        json!({"return": "200"}),
        json!({"return": 301, "location": "$"}),
        json!({"share": []}),
        json!({"share": [1]}),
        json!({"share": "/a$bad"}),
        json!({"share": "/a", "index": 1}),
        json!({"share": "/a", "types": "a**b"}),
        json!({"share": "/a", "fallback": {}}),
        json!({"share": "/a", "follow_symlinks": "yes"}),
        json!({"share": "/a", "chroot": 1}),
        json!({"proxy": "127.0.0.1:80"}),
        json!({"proxy": "http://localhost:80"}),
        json!({"proxy": "http://127.0.0.1:0"}),
        json!({"proxy": "http://unix:"}),
        json!({"proxy": "http://unix:relative.sock"}),
        json!({"proxy": 80}),
        json!({"return": 200, "rewrite": 1}),
        json!({"return": 200, "response_headers": []}),
        json!({"return": 200, "response_headers": {"": "x"}}),
        json!({"return": 200, "response_headers": {"content-length": "1"}}),
        json!({"return": 200, "response_headers": {"X-A": 1}}),
        json!({"return": 200, "response_headers": {"X-A": "$nope"}}),
    ] {
        assert!(compile_action(&value).is_err(), "action {value}");
    }
}
