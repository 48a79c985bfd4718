//! What the control API makes of a request: an answer to give at once, or work for the
//! controller to carry out first (a plan), shared by the API's parts.

use serde_json::{Value, json};

/// An answer: a status, a JSON body, and an entity tag for reads of the tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiResponse {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) etag: Option<String>,
}

impl ApiResponse {
    pub(crate) fn new(status: u16, body: Value) -> ApiResponse {
        ApiResponse {
            status,
            body,
            etag: None,
        }
    }

    pub(crate) fn error(status: u16, text: &str) -> ApiResponse {
        ApiResponse::new(status, json!({ "error": text }))
    }

    pub(crate) fn error_with_detail(status: u16, text: &str, detail: &str) -> ApiResponse {
        ApiResponse::new(status, json!({ "error": text, "detail": detail }))
    }

    pub(crate) fn success(text: &str) -> ApiResponse {
        ApiResponse::new(200, json!({ "success": text }))
    }
}

/// What a request needs done.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    /// Answer this at once.
    Respond(ApiResponse),
    /// Apply this validated configuration through the router, then store it.
    Apply(Value),
    /// Fetch the router's status and answer with the part at `segments`; with `root`, the
    /// answer is `{"config": ..., "status": ...}`.
    Status { segments: Vec<String>, root: bool },
    /// Move an application to a new generation of processes.
    Restart(String),
    /// Have main store this uploaded bundle, then show it with this description.
    StoreCertificate {
        name: String,
        pem: Vec<u8>,
        info: Value,
    },
    /// Have main remove this bundle, then forget it.
    DeleteCertificate(String),
}
