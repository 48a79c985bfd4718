//! The control API's URL space (UNIT-COMPAT 2.3): what a request asks for and the answer.

use serde_json::{Value, json};

use crate::tree;

/// An answer: a status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiResponse {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl ApiResponse {
    pub(crate) fn new(status: u16, body: Value) -> ApiResponse {
        ApiResponse { status, body }
    }

    fn data(body: Value) -> ApiResponse {
        ApiResponse { status: 200, body }
    }

    fn error(status: u16, text: &str) -> ApiResponse {
        ApiResponse {
            status,
            body: json!({ "error": text }),
        }
    }
}

/// The request path without its query and with one trailing `/` dropped.
pub(crate) fn request_path(target: &str) -> &str {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    }
}

/// Answers a request that reads: `GET` of the configuration tree.
pub(crate) fn handle(method: &str, target: &str, conf: &Value) -> ApiResponse {
    let path = request_path(target);
    let Some(config_rest) = config_subpath(path) else {
        return ApiResponse::error(404, "Value doesn't exist.");
    };
    if method != "GET" {
        return ApiResponse::error(405, "Method isn't allowed.");
    }
    match tree::split_segments(config_rest).and_then(|segments| tree::get(conf, &segments).cloned())
    {
        Some(value) => ApiResponse::data(value),
        None => ApiResponse::error(404, "Value doesn't exist."),
    }
}

/// The part of `path` after `/config`, if it addresses the configuration.
fn config_subpath(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/config")?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: &str, target: &str, expected_status: u16, expected_body: Value) {
        let conf = json!({"listeners": {}, "applications": {}});
        let response = handle(method, target, &conf);
        assert_eq!(
            response,
            ApiResponse {
                status: expected_status,
                body: expected_body
            },
            "{method} {target}"
        );
    }

    #[test]
    fn reads_of_the_tree() {
        check(
            "GET",
            "/config",
            200,
            json!({"listeners": {}, "applications": {}}),
        );
        check(
            "GET",
            "/config/",
            200,
            json!({"listeners": {}, "applications": {}}),
        );
        check(
            "GET",
            "/config?x=1",
            200,
            json!({"listeners": {}, "applications": {}}),
        );
        check("GET", "/config/listeners", 200, json!({}));
        check(
            "GET",
            "/config/routes",
            404,
            json!({"error": "Value doesn't exist."}),
        );
        check(
            "GET",
            "/configuration",
            404,
            json!({"error": "Value doesn't exist."}),
        );
        check(
            "GET",
            "/nothing",
            404,
            json!({"error": "Value doesn't exist."}),
        );
        check(
            "PATCH",
            "/config",
            405,
            json!({"error": "Method isn't allowed."}),
        );
    }
}
