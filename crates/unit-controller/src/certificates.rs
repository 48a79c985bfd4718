//! The certificate store as the controller keeps it (UNIT-COMPAT 2.5): each bundle's
//! name and the description the API shows, and the answers to `/certificates`.
//!
//! The PEM bytes are not kept: main stores them in `certs/` and hands the router an
//! open file, and the controller needs only what it shows and whether a name exists.
//! What it does not do: write or read files (main does, privileged).

use std::collections::BTreeMap;

use serde_json::Value;
use unit_log::alert;
use unit_tls::Bundle;

use crate::plan::{ApiResponse, Plan};
use crate::tree;

/// The bundles the controller knows, by name, in name order.
#[derive(Debug, Default)]
pub(crate) struct Certificates {
    infos: BTreeMap<String, Value>,
}

impl Certificates {
    /// The store main handed over at start: every bundle of `certs/` that parses. One
    /// that does not is logged and left out, as Unit leaves it out (its file stays).
    pub(crate) fn load(stored: Vec<(String, Vec<u8>)>) -> Certificates {
        let mut infos = BTreeMap::new();
        for (name, pem) in stored {
            match Bundle::from_pem(&pem) {
                Ok(bundle) => {
                    infos.insert(name, bundle.info());
                }
                Err(error) => alert!("failed to load certificate \"{name}\": {error}"),
            }
        }
        Certificates { infos }
    }

    /// Whether the store holds a bundle of this name (which a configuration's `tls`
    /// may then name).
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.infos.contains_key(name)
    }

    /// Every bundle's description, as `GET /certificates` and `GET /` show them.
    pub(crate) fn all(&self) -> Value {
        Value::Object(
            self.infos
                .iter()
                .map(|(name, info)| (name.clone(), info.clone()))
                .collect(),
        )
    }

    /// Records a bundle main has stored.
    pub(crate) fn insert(&mut self, name: String, info: Value) {
        self.infos.insert(name, info);
    }

    /// Forgets a bundle main has removed.
    pub(crate) fn remove(&mut self, name: &str) {
        self.infos.remove(name);
    }
}

/// Where a path under `/certificates` points: the bundle's name as written in the path
/// (not percent-decoded: it is the file name, as in Unit) and the decoded segments
/// inside its description; `None` for a sub-path that names nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificatePath {
    pub(crate) name: Option<String>,
    pub(crate) segments: Option<Vec<String>>,
}

impl CertificatePath {
    /// Splits the normalized path after `/certificates`.
    pub(crate) fn parse(rest: &str) -> CertificatePath {
        let rest = rest.trim_start_matches('/');
        let (name, inner) = rest.split_once('/').unwrap_or((rest, ""));
        CertificatePath {
            name: (!name.is_empty()).then(|| name.to_owned()),
            segments: tree::split_segments(inner),
        }
    }
}

/// Answers a `GET` under `/certificates` at once.
pub(crate) fn read(path: &CertificatePath, certificates: &Certificates) -> ApiResponse {
    let Some(name) = &path.name else {
        return ApiResponse::new(200, certificates.all());
    };
    let Some(info) = certificates.infos.get(name) else {
        return not_found();
    };
    match path
        .segments
        .as_deref()
        .and_then(|segments| tree::get(info, segments))
    {
        Some(value) => ApiResponse::new(200, value.clone()),
        None => ApiResponse::error(404, "Invalid path."),
    }
}

/// What a change under `/certificates` needs, in Unit's order of checks: a name and no
/// deeper path, then the method; an upload must be new and parse, a deletion must
/// name a bundle the configuration does not use.
pub(crate) fn plan(
    method: &str,
    path: &CertificatePath,
    body: &[u8],
    certificates: &Certificates,
    conf: &Value,
) -> Plan {
    let name = match &path.name {
        Some(name) if path.segments.as_ref().is_some_and(Vec::is_empty) => name,
        _ => return invalid_name(),
    };
    match method {
        "PUT" => {
            if !is_plain_file_name(name) {
                return invalid_name();
            }
            if certificates.contains(name) {
                return Plan::Respond(ApiResponse::error(400, "Certificate already exists."));
            }
            match Bundle::from_pem(body) {
                Ok(bundle) => Plan::StoreCertificate {
                    name: name.clone(),
                    pem: body.to_vec(),
                    info: bundle.info(),
                },
                Err(error) => {
                    alert!("{error}");
                    Plan::Respond(ApiResponse::error(400, "Invalid certificate."))
                }
            }
        }
        "DELETE" => {
            if is_in_use(conf, name) {
                return Plan::Respond(ApiResponse::error(
                    400,
                    "Certificate is used in the configuration.",
                ));
            }
            if !certificates.contains(name) {
                return Plan::Respond(not_found());
            }
            Plan::DeleteCertificate(name.clone())
        }
        _ => Plan::Respond(ApiResponse::error(405, "Invalid method.")),
    }
}

/// Whether any listener's `tls/certificate` (a name, or an array of names) names
/// `name` in `conf`.
fn is_in_use(conf: &Value, name: &str) -> bool {
    let Some(listeners) = conf.get("listeners").and_then(Value::as_object) else {
        return false;
    };
    listeners.values().any(|listener| {
        match listener.get("tls").and_then(|tls| tls.get("certificate")) {
            Some(Value::String(certificate)) => certificate == name,
            Some(Value::Array(certificates)) => certificates
                .iter()
                .any(|certificate| certificate.as_str() == Some(name)),
            _ => false,
        }
    })
}

/// Whether `name` can be a file in `certs/`: not empty, not `.` or `..`, without `/`
/// (which the path cannot carry anyway) or NUL.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

fn invalid_name() -> Plan {
    Plan::Respond(ApiResponse::error(400, "Invalid certificate name."))
}

fn not_found() -> ApiResponse {
    ApiResponse::error(404, "Certificate doesn't exist.")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A self-signed ECDSA bundle for `common_name`.
    fn bundle(common_name: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().expect("a P-256 key generates");
        let mut params = rcgen::CertificateParams::new(Vec::new()).expect("parameters");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let certificate = params.self_signed(&key).expect("a certificate");
        format!("{}{}", key.serialize_pem(), certificate.pem()).into_bytes()
    }

    fn store() -> Certificates {
        Certificates::load(vec![
            ("default".into(), bundle("default")),
            ("broken".into(), b"not a bundle".to_vec()),
            ("a%2Fb".into(), bundle("encoded")),
        ])
    }

    fn read_at(rest: &str) -> ApiResponse {
        read(&CertificatePath::parse(rest), &store())
    }

    fn planned(method: &str, rest: &str, body: &[u8], conf: &Value) -> Plan {
        plan(method, &CertificatePath::parse(rest), body, &store(), conf)
    }

    fn answer(status: u16, text: &str) -> Plan {
        let key = if status < 400 { "success" } else { "error" };
        Plan::Respond(ApiResponse::new(status, json!({ key: text })))
    }

    #[test]
    fn reads_show_the_store_its_bundles_and_their_parts() {
        let all = read_at("");
        assert_eq!(all.status, 200);
        let names: Vec<&String> = all
            .body
            .as_object()
            .map_or(Vec::new(), |members| members.keys().collect());
        assert_eq!(
            names,
            ["a%2Fb", "default"],
            "sorted, and without the broken one"
        );
        assert_eq!(read_at("/").body, all.body);
        assert_eq!(read_at("/default").body, all.body["default"]);
        assert_eq!(
            read_at("/default/key"),
            ApiResponse::new(200, json!("ECDH"))
        );
        assert_eq!(
            read_at("/default/chain/0/subject/common_name").body,
            json!("default")
        );
        assert_eq!(
            read_at("/a%2Fb/chain/0/issuer/common_name").body,
            json!("encoded")
        );
        let invalid_path = ApiResponse::error(404, "Invalid path.");
        assert_eq!(read_at("/default/chain/1"), invalid_path);
        assert_eq!(read_at("/default/key/more"), invalid_path);
        assert_eq!(read_at("/default/chain/%zz"), invalid_path);
        let missing = ApiResponse::error(404, "Certificate doesn't exist.");
        assert_eq!(read_at("/nothing"), missing);
        assert_eq!(read_at("/broken"), missing);
        assert_eq!(read_at("/a/key"), missing);
    }

    #[test]
    fn changes_are_checked_in_units_order() {
        let empty = json!({"listeners": {}});
        let invalid_name = answer(400, "Invalid certificate name.");
        for (method, rest) in [
            ("PUT", ""),
            ("PUT", "/default/key"),
            ("DELETE", ""),
            ("DELETE", "/default/chain"),
            ("POST", ""),
            ("PUT", "/nul\0"),
            ("PUT", "/.."),
        ] {
            assert_eq!(
                planned(method, rest, b"", &empty),
                invalid_name,
                "{method} {rest}"
            );
        }
        for method in ["POST", "PATCH", "GET2"] {
            assert_eq!(
                planned(method, "/default", b"", &empty),
                answer(405, "Invalid method.")
            );
        }
        assert_eq!(
            planned("PUT", "/default", &bundle("again"), &empty),
            answer(400, "Certificate already exists.")
        );
        assert_eq!(
            planned("PUT", "/new", b"garbage", &empty),
            answer(400, "Invalid certificate.")
        );
        let pem = bundle("new");
        match planned("PUT", "/new", &pem, &empty) {
            Plan::StoreCertificate {
                name,
                pem: stored,
                info,
            } => {
                assert_eq!(name, "new");
                assert_eq!(stored, pem);
                assert_eq!(info["chain"][0]["subject"], json!({"common_name": "new"}));
            }
            other => panic!("expected a store, got {other:?}"),
        }
        assert_eq!(
            planned("DELETE", "/nothing", b"", &empty),
            answer(404, "Certificate doesn't exist.")
        );
        assert_eq!(
            planned("DELETE", "/default", b"", &empty),
            Plan::DeleteCertificate("default".into())
        );
    }

    #[test]
    fn a_bundle_a_listener_names_is_not_deleted() {
        let in_use = answer(400, "Certificate is used in the configuration.");
        for conf in [
            json!({"listeners": {"*:443": {"pass": "routes", "tls": {"certificate": "default"}}}}),
            json!({"listeners": {
                "*:80": {"pass": "routes"},
                "*:443": {"pass": "routes", "tls": {"certificate": ["other", "default"]}},
            }}),
        ] {
            assert_eq!(planned("DELETE", "/default", b"", &conf), in_use, "{conf}");
        }
        // Unit checks the configuration first, even for a name it does not have.
        let conf = json!({"listeners": {"*:443": {"tls": {"certificate": "nothing"}}}});
        assert_eq!(planned("DELETE", "/nothing", b"", &conf), in_use);
        let conf = json!({"listeners": {"*:443": {"tls": {"certificate": ["other"]}}}});
        assert_eq!(
            planned("DELETE", "/default", b"", &conf),
            Plan::DeleteCertificate("default".into())
        );
    }
}
