//! The control API's URL space (UNIT-COMPAT 2.3, 2.4, 2.5): what a request asks for,
//! as a plan the controller carries out, and the answers' shapes.

use serde_json::{Value, json};
use unit_conf::{Available, Modules, parse_json_below, validate_config};

use crate::certificates::{self, CertificatePath, Certificates};
pub(crate) use crate::plan::{ApiResponse, Plan};
use crate::tree::{self, EditError};

/// The parts of a request the API looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) body: &'a [u8],
    pub(crate) if_match: Option<&'a [u8]>,
}

/// Where a request path points.
#[derive(Debug, PartialEq)]
enum Resource {
    Root,
    Config(Vec<String>),
    Status(Vec<String>),
    Restart(String),
    Certificates(CertificatePath),
    /// A path that names nothing (or a `/control/` path that is not a restart).
    Nothing,
}

/// The answer to a plain read of the configuration or of the certificates, which is
/// given at once rather than queued; `None` for any other request.
pub(crate) fn read_at_once(
    request: &ApiRequest<'_>,
    conf: &Value,
    certificates: &Certificates,
) -> Option<ApiResponse> {
    if request.method != "GET" {
        return None;
    }
    match resource(request.target) {
        Resource::Config(_) => Some(read_config(request.target, conf)),
        Resource::Certificates(path) => Some(certificates::read(&path, certificates)),
        _ => None,
    }
}

/// Decides what `request` needs, given the current configuration, the language
/// modules a changed one may use, and the certificate store.
pub(crate) fn plan(
    request: &ApiRequest<'_>,
    conf: &Value,
    modules: &Modules,
    certificates: &Certificates,
) -> Plan {
    match resource(request.target) {
        Resource::Root if request.method == "GET" => Plan::Status {
            segments: Vec::new(),
            root: true,
        },
        Resource::Root => Plan::Respond(ApiResponse::error(405, "Invalid method.")),
        Resource::Status(segments) if request.method == "GET" => Plan::Status {
            segments,
            root: false,
        },
        Resource::Status(_) => Plan::Respond(ApiResponse::error(405, "Invalid method.")),
        Resource::Restart(_) if request.method != "GET" => Plan::Respond(method_not_allowed()),
        Resource::Restart(app) => {
            if conf
                .get("applications")
                .and_then(|apps| apps.get(&app))
                .is_some()
            {
                Plan::Restart(app)
            } else {
                Plan::Respond(not_found())
            }
        }
        Resource::Config(segments) => plan_config(request, &segments, conf, modules, certificates),
        Resource::Certificates(path) if request.method == "GET" => {
            Plan::Respond(certificates::read(&path, certificates))
        }
        Resource::Certificates(path) => {
            certificates::plan(request.method, &path, request.body, certificates, conf)
        }
        Resource::Nothing => Plan::Respond(not_found()),
    }
}

/// Answers a `GET` of the configuration tree, with its entity tag.
pub(crate) fn read_config(target: &str, conf: &Value) -> ApiResponse {
    let Resource::Config(segments) = resource(target) else {
        return not_found();
    };
    match tree::get(conf, &segments) {
        Some(value) => ApiResponse {
            status: 200,
            etag: Some(tree::etag(value)),
            body: value.clone(),
        },
        None => not_found(),
    }
}

/// Picks the part of a status document a request asked for; the root is the
/// certificates, the configuration and the status, in Unit's order.
pub(crate) fn status_answer(
    status: &Value,
    segments: &[String],
    root: bool,
    conf: &Value,
    certificates: &Certificates,
) -> ApiResponse {
    if root {
        return ApiResponse::new(
            200,
            json!({ "certificates": certificates.all(), "config": conf, "status": status }),
        );
    }
    match tree::get(status, segments) {
        Some(value) => ApiResponse::new(200, value.clone()),
        None => ApiResponse::error(404, "Invalid path."),
    }
}

fn plan_config(
    request: &ApiRequest<'_>,
    segments: &[String],
    conf: &Value,
    modules: &Modules,
    certificates: &Certificates,
) -> Plan {
    let method = request.method;
    if !matches!(method, "PUT" | "POST" | "DELETE") {
        return Plan::Respond(method_not_allowed());
    }
    if let Some(if_match) = request.if_match
        && !tree::if_match_allows(if_match, tree::get(conf, segments))
    {
        return Plan::Respond(ApiResponse::error_with_detail(
            412,
            "Precondition failed.",
            "The value at this path no longer matches the If-Match entity tag.",
        ));
    }
    let mut candidate = conf.clone();
    let edited = if method == "DELETE" {
        tree::delete(&mut candidate, segments)
    } else {
        // The body goes one level down per segment (and one more as a new element of an
        // array), and the tree as a whole must keep to the parser's depth limit, as the
        // router parses it again.
        let enclosing_depth = segments.len() + usize::from(method == "POST");
        let value = match parse_json_below(request.body, enclosing_depth) {
            Ok(value) => value,
            Err(error) => return Plan::Respond(invalid_json(&error)),
        };
        if method == "PUT" {
            tree::put(&mut candidate, segments, value)
        } else {
            tree::post(&mut candidate, segments, value)
        }
    };
    match edited {
        Ok(()) => {}
        Err(EditError::NotFound) => return Plan::Respond(not_found()),
        Err(EditError::NotAllowed) => return Plan::Respond(method_not_allowed()),
    }
    let exists = |name: &str| certificates.contains(name);
    let available = Available::modules(modules).with_certificates(&exists);
    match validate_config(&candidate, &available) {
        Ok(()) => Plan::Apply(candidate),
        Err(error) => Plan::Respond(ApiResponse::error_with_detail(
            400,
            "Invalid configuration.",
            &error.detail,
        )),
    }
}

fn invalid_json(error: &unit_conf::JsonError) -> ApiResponse {
    let mut location = serde_json::Map::new();
    location.insert("offset".to_owned(), json!(error.offset));
    if let (Some(line), Some(column)) = (error.line, error.column) {
        location.insert("line".to_owned(), json!(line));
        location.insert("column".to_owned(), json!(column));
    }
    ApiResponse::new(
        400,
        json!({ "error": "Invalid JSON.", "detail": error.detail, "location": location }),
    )
}

fn not_found() -> ApiResponse {
    ApiResponse::error(404, "Value doesn't exist.")
}

fn method_not_allowed() -> ApiResponse {
    ApiResponse::error(405, "Method isn't allowed.")
}

/// Resolves a request target: the query is ignored, dot segments are resolved, one
/// trailing `/` is dropped, and each segment is percent-decoded on its own (so `%2F`
/// stays inside a key).
fn resource(target: &str) -> Resource {
    let (raw_path, _query) = unit_http::split_target(target);
    let Ok(path) = unit_http::normalize_path_keeping(raw_path.as_bytes(), b"/%") else {
        return Resource::Nothing;
    };
    let Ok(path) = String::from_utf8(path) else {
        return Resource::Nothing;
    };
    // A bundle's name is its file name as written, so it is split off before the
    // segments are decoded.
    let unrooted = path.trim_start_matches('/');
    if let Some(rest) = unrooted.strip_prefix("certificates")
        && (rest.is_empty() || rest.starts_with('/'))
    {
        return Resource::Certificates(CertificatePath::parse(rest));
    }
    let Some(segments) = tree::split_segments(&path) else {
        return Resource::Nothing;
    };
    match segments.split_first() {
        None => Resource::Root,
        Some((first, rest)) => match first.as_str() {
            "config" => Resource::Config(rest.to_vec()),
            "status" => Resource::Status(rest.to_vec()),
            "control" => match rest {
                [applications, app, restart]
                    if applications == "applications" && restart == "restart" =>
                {
                    Resource::Restart(app.clone())
                }
                _ => Resource::Nothing,
            },
            _ => Resource::Nothing,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf() -> Value {
        json!({"listeners": {}, "applications": {"app": {"type": "external", "executable": "/bin/true"}}})
    }

    fn check(method: &str, target: &str, body: &str, expected: Plan) {
        let request = ApiRequest {
            method,
            target,
            body: body.as_bytes(),
            if_match: None,
        };
        assert_eq!(
            plan(
                &request,
                &conf(),
                &Modules::default(),
                &Certificates::default()
            ),
            expected,
            "{method} {target} {body}"
        );
    }

    fn respond(status: u16, body: Value) -> Plan {
        Plan::Respond(ApiResponse::new(status, body))
    }

    #[test]
    fn plans_for_each_resource() {
        let mut with_listener = conf();
        with_listener["listeners"] = json!({"127.0.0.1:8080": {"pass": "applications/app"}});
        let rows: Vec<(&str, &str, &str, Plan)> = vec![
            (
                "GET",
                "/",
                "",
                Plan::Status {
                    segments: vec![],
                    root: true,
                },
            ),
            (
                "PUT",
                "/",
                "{}",
                respond(405, json!({"error": "Invalid method."})),
            ),
            (
                "GET",
                "/status",
                "",
                Plan::Status {
                    segments: vec![],
                    root: false,
                },
            ),
            (
                "GET",
                "/status/connections/active",
                "",
                Plan::Status {
                    segments: vec!["connections".into(), "active".into()],
                    root: false,
                },
            ),
            (
                "DELETE",
                "/status",
                "",
                respond(405, json!({"error": "Invalid method."})),
            ),
            (
                "GET",
                "/control/applications/app/restart",
                "",
                Plan::Restart("app".into()),
            ),
            (
                "GET",
                "/control/applications/none/restart",
                "",
                respond(404, json!({"error": "Value doesn't exist."})),
            ),
            (
                "POST",
                "/control/applications/app/restart",
                "",
                respond(405, json!({"error": "Method isn't allowed."})),
            ),
            (
                "GET",
                "/control/other",
                "",
                respond(404, json!({"error": "Value doesn't exist."})),
            ),
            ("GET", "/certificates", "", respond(200, json!({}))),
            ("GET", "/certificates/", "", respond(200, json!({}))),
            (
                "GET",
                "/certificates/x/key",
                "",
                respond(404, json!({"error": "Certificate doesn't exist."})),
            ),
            (
                "PUT",
                "/certificates",
                "",
                respond(400, json!({"error": "Invalid certificate name."})),
            ),
            (
                "DELETE",
                "/certificates/x/key",
                "",
                respond(400, json!({"error": "Invalid certificate name."})),
            ),
            // An encoded slash stays in the name, which is one segment.
            (
                "PUT",
                "/certificates/a%2Fb",
                "junk",
                respond(400, json!({"error": "Invalid certificate."})),
            ),
            (
                "PATCH",
                "/certificates/x",
                "",
                respond(405, json!({"error": "Invalid method."})),
            ),
            (
                "GET",
                "/certificatesx",
                "",
                respond(404, json!({"error": "Value doesn't exist."})),
            ),
            (
                "PATCH",
                "/config",
                "{}",
                respond(405, json!({"error": "Method isn't allowed."})),
            ),
            (
                "POST",
                "/config",
                "{}",
                respond(405, json!({"error": "Method isn't allowed."})),
            ),
            (
                "POST",
                "/config/listeners",
                "{}",
                respond(405, json!({"error": "Method isn't allowed."})),
            ),
            (
                "PUT",
                "/config/nothing/here",
                "1",
                respond(404, json!({"error": "Value doesn't exist."})),
            ),
            (
                "DELETE",
                "/config/routes",
                "",
                respond(404, json!({"error": "Value doesn't exist."})),
            ),
            (
                "PUT",
                "/config/listeners/127.0.0.1:8080",
                r#"{"pass": "applications/app"}"#,
                Plan::Apply(with_listener),
            ),
            (
                "PUT",
                "/config/listeners/127.0.0.1:8080",
                r#"{"pass": "applications/none"}"#,
                respond(
                    400,
                    json!({"error": "Invalid configuration.", "detail": "Request \"pass\" points to invalid location \"applications/none\"."}),
                ),
            ),
            (
                "PUT",
                "/config/x",
                "1",
                respond(
                    400,
                    json!({"error": "Invalid configuration.", "detail": "Unknown parameter \"x\"."}),
                ),
            ),
            ("DELETE", "/config", "", Plan::Apply(json!({}))),
            ("DELETE", "/config/", "", Plan::Apply(json!({}))),
            ("DELETE", "/config/../config", "", Plan::Apply(json!({}))),
        ];
        for (method, target, body, expected) in rows {
            check(method, target, body, expected);
        }
    }

    #[test]
    fn tls_listeners_name_certificates_of_the_store() {
        let mut certificates = Certificates::default();
        certificates.insert("default".into(), json!({}));
        let request = |name: &str| {
            format!(r#"{{"pass": "applications/app", "tls": {{"certificate": "{name}"}}}}"#)
        };
        let plan_with = |body: &str| {
            let request = ApiRequest {
                method: "PUT",
                target: "/config/listeners/127.0.0.1:8443",
                body: body.as_bytes(),
                if_match: None,
            };
            plan(&request, &conf(), &Modules::default(), &certificates)
        };
        assert!(
            matches!(plan_with(&request("default")), Plan::Apply(_)),
            "a stored bundle may be named"
        );
        assert_eq!(
            plan_with(&request("missing")),
            respond(
                400,
                json!({"error": "Invalid configuration.", "detail": "Certificate \"missing\" is not found."})
            )
        );
    }

    #[test]
    fn syntax_errors_carry_a_location() {
        let request = ApiRequest {
            method: "PUT",
            target: "/config",
            body: b"{\n  \"a\": }",
            if_match: None,
        };
        let Plan::Respond(response) = plan(
            &request,
            &conf(),
            &Modules::default(),
            &Certificates::default(),
        ) else {
            panic!("expected an answer");
        };
        assert_eq!(response.status, 400);
        assert_eq!(response.body["error"], "Invalid JSON.");
        assert_eq!(
            response.body["location"],
            json!({"offset": 9, "line": 2, "column": 8})
        );
        assert!(response.body["detail"].is_string());
    }

    #[test]
    fn the_depth_limit_counts_the_path() {
        let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        let depth_of = |method: &str, target: &str, body: &str| {
            let request = ApiRequest {
                method,
                target,
                body: body.as_bytes(),
                if_match: None,
            };
            match plan(
                &request,
                &conf(),
                &Modules::default(),
                &Certificates::default(),
            ) {
                Plan::Respond(response) if response.body["error"] == "Invalid JSON." => "too deep",
                _ => "parsed",
            }
        };
        assert_eq!(depth_of("PUT", "/config", &nested(400)), "parsed");
        assert_eq!(depth_of("PUT", "/config", &nested(401)), "too deep");
        assert_eq!(depth_of("PUT", "/config/routes", &nested(399)), "parsed");
        assert_eq!(depth_of("PUT", "/config/routes", &nested(400)), "too deep");
        assert_eq!(
            depth_of("PUT", "/config/applications/app/x", &nested(397)),
            "parsed"
        );
        assert_eq!(
            depth_of("PUT", "/config/applications/app/x", &nested(398)),
            "too deep"
        );
        assert_eq!(depth_of("POST", "/config/routes", &nested(398)), "parsed");
        assert_eq!(depth_of("POST", "/config/routes", &nested(399)), "too deep");
    }

    #[test]
    fn if_match_guards_changes() {
        let current = read_config("/config/listeners", &conf());
        let tag = current.etag.clone().unwrap_or_default();
        let request = |if_match: &'static [u8]| ApiRequest {
            method: "PUT",
            target: "/config/listeners",
            body: b"{}",
            if_match: Some(if_match),
        };
        let stale = plan(
            &request(b"\"0000000000000000\""),
            &conf(),
            &Modules::default(),
            &Certificates::default(),
        );
        assert!(
            matches!(stale, Plan::Respond(ApiResponse { status: 412, .. })),
            "{stale:?}"
        );
        let tag: &'static [u8] = Box::leak(tag.into_bytes().into_boxed_slice());
        assert!(matches!(
            plan(
                &request(tag),
                &conf(),
                &Modules::default(),
                &Certificates::default()
            ),
            Plan::Apply(_)
        ));
    }

    #[test]
    fn reads_carry_etags() {
        let response = read_config("/config", &conf());
        assert_eq!(response.status, 200);
        assert_eq!(response.etag, Some(tree::etag(&conf())));
        assert_eq!(read_config("/config/nothing", &conf()).status, 404);
        assert_eq!(
            read_config("/config/listeners/", &conf()),
            ApiResponse {
                status: 200,
                body: json!({}),
                etag: Some(tree::etag(&json!({})))
            }
        );
    }

    #[test]
    fn status_answers() {
        let status = json!({"connections": {"accepted": 3}, "requests": {"total": 1}});
        assert_eq!(
            status_answer(
                &status,
                &["connections".into(), "accepted".into()],
                false,
                &conf(),
                &Certificates::default()
            )
            .body,
            json!(3)
        );
        assert_eq!(
            status_answer(
                &status,
                &["nope".into()],
                false,
                &conf(),
                &Certificates::default()
            )
            .status,
            404
        );
        let root = status_answer(&status, &[], true, &conf(), &Certificates::default());
        assert_eq!(
            root.body,
            json!({"certificates": {}, "config": conf(), "status": status})
        );
        let members: Vec<&String> = root
            .body
            .as_object()
            .map_or(Vec::new(), |members| members.keys().collect());
        assert_eq!(members, ["certificates", "config", "status"]);
    }
}
