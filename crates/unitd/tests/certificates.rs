//! The certificate store over the real control socket (UNIT-COMPAT 2.5, 6): uploads,
//! reads of the store and of parts of a bundle, every error answer, deletion, the files
//! in `certs/`, and the store surviving a restart.

mod support;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType, date_time_ymd};
use serde_json::{Value, json};
use support::http::free_port;
use support::{DEADLINE, Paths, Response, TestUnit, skip};

/// An ECDSA P-256 bundle (key first, as Unit's tests write it) for a certificate with
/// subject `CN=<common_name>` (none when empty), the given DNS names and one IP address
/// as subjectAltName (none when `dns_names` is empty), valid from 1 June 2024 08:05:03.
fn ecdsa_bundle(common_name: &str, dns_names: &[&str]) -> String {
    let key = KeyPair::generate().expect("a P-256 key generates");
    let (key_pem, certificate_pem) = ecdsa_certificate(&key, common_name, dns_names);
    format!("{key_pem}{certificate_pem}")
}

/// The key's PEM and a certificate's PEM as `ecdsa_bundle` describes.
fn ecdsa_certificate(key: &KeyPair, common_name: &str, dns_names: &[&str]) -> (String, String) {
    let names: Vec<String> = dns_names.iter().map(|name| (*name).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("valid names");
    if !dns_names.is_empty() {
        params
            .subject_alt_names
            .push(SanType::IpAddress([10, 0, 0, 1].into()));
    }
    let mut distinguished_name = DistinguishedName::new();
    if !common_name.is_empty() {
        distinguished_name.push(DnType::CommonName, common_name);
    }
    params.distinguished_name = distinguished_name;
    params.not_before = date_time_ymd(2024, 6, 1) + Duration::from_secs(8 * 3600 + 5 * 60 + 3);
    params.not_after = date_time_ymd(2047, 5, 25) + Duration::from_secs(8 * 3600 + 48 * 60 + 48);
    let certificate = params.self_signed(key).expect("a certificate");
    (key.serialize_pem(), certificate.pem())
}

fn assert_answer(response: &Response, status: u16, body: Value) {
    assert_eq!(
        (response.status, response.json()),
        (status, body),
        "{}",
        response.body
    );
}

fn error(text: &str) -> Value {
    json!({ "error": text })
}

/// A configuration with one TLS listener on a free port whose `tls/certificate` is
/// `certificate`, answering 200; returns it and the listener's key.
fn tls_conf(certificate: Value) -> (Value, String) {
    let listener = format!("127.0.0.1:{}", free_port());
    let conf = json!({
        "listeners": { listener.clone(): {"pass": "routes", "tls": {"certificate": certificate}} },
        "routes": [{"action": {"return": 200}}],
    });
    (conf, listener)
}

/// What `openssl s_client` prints of the handshake with `listener`, or `None` when the
/// command is not there or does not finish in time.
fn s_client(listener: &str) -> Option<String> {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", listener, "-servername", "localhost"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + DEADLINE;
    while child.try_wait().ok()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut output = String::new();
    child.stdout.take()?.read_to_string(&mut output).ok()?;
    Some(output)
}

fn mode(path: &Path) -> Option<u32> {
    fs::metadata(path)
        .map(|metadata| metadata.permissions().mode() & 0o777)
        .ok()
}

#[test]
fn upload_read_and_delete() {
    let unit = TestUnit::start("certificates", &[]);
    assert_answer(&unit.get("/certificates"), 200, json!({}));
    let pem = ecdsa_bundle("bundle.example", &["bundle.example", "*.Example.org"]);
    assert_answer(
        &unit.put("/certificates/bundle", &pem),
        200,
        json!({"success": "Certificate chain uploaded."}),
    );

    let subject =
        json!({"common_name": "bundle.example", "alt_names": ["bundle.example", "*.Example.org"]});
    let info = json!({
        "key": "ECDH",
        "chain": [{
            "subject": subject,
            "issuer": {"common_name": "bundle.example"},
            "validity": {"since": "Jun  1 08:05:03 2024 GMT", "until": "May 25 08:48:48 2047 GMT"},
        }],
    });
    assert_answer(&unit.get("/certificates"), 200, json!({ "bundle": info }));
    assert_answer(&unit.get("/certificates/"), 200, json!({ "bundle": info }));
    assert_answer(&unit.get("/certificates/bundle"), 200, info.clone());
    assert_answer(&unit.get("/certificates/bundle/"), 200, info.clone());
    assert_answer(&unit.get("/certificates/bundle/key"), 200, json!("ECDH"));
    assert_answer(
        &unit.get("/certificates/bundle/chain/0/subject/common_name"),
        200,
        json!("bundle.example"),
    );
    assert_answer(
        &unit.get("/certificates/bundle/chain/0/subject/alt_names"),
        200,
        json!(["bundle.example", "*.Example.org"]),
    );
    assert_answer(
        &unit.get("/certificates/bundle/chain/0/validity/since"),
        200,
        json!("Jun  1 08:05:03 2024 GMT"),
    );

    // GET / lists the certificates first.
    let root = unit.get("/").json();
    let members: Vec<&String> = root
        .as_object()
        .map_or(Vec::new(), |members| members.keys().collect());
    assert_eq!(members, ["certificates", "config", "status"]);
    assert_eq!(root["certificates"], json!({ "bundle": info }));

    // The file holds the bytes as uploaded, private to main.
    let certs = unit.paths.state.join("certs");
    assert_eq!(mode(&certs), Some(0o700));
    assert_eq!(mode(&certs.join("bundle")), Some(0o600));
    assert_eq!(
        fs::read_to_string(certs.join("bundle")).ok().as_deref(),
        Some(pem.as_str())
    );
    let mut entries: Vec<String> = fs::read_dir(&certs)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    assert_eq!(entries, ["bundle"], "no temporary file is left behind");

    assert_answer(
        &unit.request("DELETE", "/certificates/bundle", None),
        200,
        json!({"success": "Certificate deleted."}),
    );
    assert!(!certs.join("bundle").exists());
    assert_answer(
        &unit.get("/certificates/bundle"),
        404,
        error("Certificate doesn't exist."),
    );
    assert_answer(&unit.get("/certificates"), 200, json!({}));
}

#[test]
fn every_refusal_has_units_answer() {
    let unit = TestUnit::start("certificate-errors", &[]);
    let pem = ecdsa_bundle("default", &[]);
    assert_eq!(unit.put("/certificates/default", &pem).status, 200);

    assert_answer(
        &unit.put("/certificates/default", &ecdsa_bundle("again", &[])),
        400,
        error("Certificate already exists."),
    );
    assert_answer(
        &unit.put("/certificates/junk", "not a bundle"),
        400,
        error("Invalid certificate."),
    );
    assert!(unit.wait_for_log("[alert]", 1) && unit.log_text().contains("no key found"));
    assert_answer(
        &unit.put("/certificates", &pem),
        400,
        error("Invalid certificate name."),
    );
    assert_answer(
        &unit.put("/certificates/default/key", &pem),
        400,
        error("Invalid certificate name."),
    );
    assert_answer(
        &unit.request("DELETE", "/certificates", None),
        400,
        error("Invalid certificate name."),
    );
    assert_answer(
        &unit.request("POST", "/certificates/default", Some(&pem)),
        405,
        error("Invalid method."),
    );
    assert_answer(
        &unit.get("/certificates/missing"),
        404,
        error("Certificate doesn't exist."),
    );
    assert_answer(
        &unit.get("/certificates/missing/key"),
        404,
        error("Certificate doesn't exist."),
    );
    assert_answer(
        &unit.get("/certificates/default/nothing"),
        404,
        error("Invalid path."),
    );
    assert_answer(
        &unit.get("/certificates/default/chain/1"),
        404,
        error("Invalid path."),
    );
    assert_answer(
        &unit.request("DELETE", "/certificates/missing", None),
        404,
        error("Certificate doesn't exist."),
    );

    // A key that is not the certificate's.
    let (_, certificate) = ecdsa_certificate(&KeyPair::generate().expect("a key"), "mismatch", &[]);
    let other_key = KeyPair::generate().expect("a key").serialize_pem();
    assert_answer(
        &unit.put(
            "/certificates/mismatch",
            &format!("{other_key}{certificate}"),
        ),
        400,
        error("Invalid certificate."),
    );
    assert!(
        unit.log_text()
            .contains("the private key does not match the certificate")
    );
    assert_answer(
        &unit.get("/certificates/mismatch"),
        404,
        error("Certificate doesn't exist."),
    );
    assert!(!unit.paths.state.join("certs/mismatch").exists());
    assert!(!unit.paths.state.join("certs/junk").exists());
}

#[test]
fn a_certificate_a_listener_uses_is_not_deleted() {
    let unit = TestUnit::start("certificate-in-use", &[]);
    let reconfigured = json!({"success": "Reconfiguration done."});
    let (conf, _) = tls_conf(json!("missing"));
    assert_answer(
        &unit.put("/config", &conf.to_string()),
        400,
        json!({"error": "Invalid configuration.", "detail": "Certificate \"missing\" is not found."}),
    );
    assert_eq!(
        unit.put(
            "/certificates/default",
            &ecdsa_bundle("localhost", &["localhost"])
        )
        .status,
        200
    );
    assert_eq!(
        unit.put("/certificates/other", &ecdsa_bundle("other", &[]))
            .status,
        200
    );
    // The router gets the bundle from main and applies the listener.
    let (conf, listener) = tls_conf(json!("default"));
    assert_answer(
        &unit.put("/config", &conf.to_string()),
        200,
        reconfigured.clone(),
    );
    match s_client(&listener) {
        Some(handshake) => assert!(
            handshake.contains("subject=CN = localhost"),
            "the listener serves the uploaded bundle: {handshake}"
        ),
        None => skip(
            "a_certificate_a_listener_uses_is_not_deleted",
            "no TLS handshake checked: the openssl command is not available",
        ),
    }
    let in_use = error("Certificate is used in the configuration.");
    assert_answer(
        &unit.request("DELETE", "/certificates/default", None),
        400,
        in_use.clone(),
    );
    let certificate_path = format!("/config/listeners/{listener}/tls/certificate");
    assert_answer(
        &unit.put(&certificate_path, r#"["other", "default"]"#),
        200,
        reconfigured.clone(),
    );
    for name in ["default", "other"] {
        assert_answer(
            &unit.request("DELETE", &format!("/certificates/{name}"), None),
            400,
            in_use.clone(),
        );
    }
    assert_answer(
        &unit.put(&certificate_path, r#""other""#),
        200,
        reconfigured,
    );
    assert_answer(
        &unit.request("DELETE", "/certificates/default", None),
        200,
        json!({"success": "Certificate deleted."}),
    );
    assert!(!unit.paths.state.join("certs/default").exists());
    assert!(unit.paths.state.join("certs/other").exists());
}

#[test]
fn an_empty_subject_is_an_empty_object() {
    let unit = TestUnit::start("certificate-empty-subject", &[]);
    assert_eq!(
        unit.put("/certificates/localhost", &ecdsa_bundle("", &[]))
            .status,
        200
    );
    let info = unit.get("/certificates/localhost").json();
    assert_eq!(info["chain"][0]["subject"], json!({}));
    assert_eq!(info["chain"][0]["issuer"], json!({}));

    // With only a subjectAltName, the subject is its DNS names.
    assert_eq!(
        unit.put(
            "/certificates/san",
            &ecdsa_bundle("", &["example.com", "www.example.net"])
        )
        .status,
        200
    );
    assert_answer(
        &unit.get("/certificates/san/chain/0/subject"),
        200,
        json!({"alt_names": ["example.com", "www.example.net"]}),
    );
}

#[test]
fn an_openssl_rsa_bundle_is_described_as_unit_does() {
    let test = "an_openssl_rsa_bundle_is_described_as_unit_does";
    let unit = TestUnit::start("certificate-rsa", &[]);
    let dir = unit.paths.dir.path();
    let (key_path, certificate_path) = (dir.join("default.key"), dir.join("default.crt"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", "/CN=default/"])
        .arg("-keyout")
        .arg(&key_path)
        .arg("-out")
        .arg(&certificate_path)
        .output();
    if !made.as_ref().is_ok_and(|output| output.status.success()) {
        skip(test, "the openssl command is not available");
        return;
    }
    let dates = Command::new("openssl")
        .args(["x509", "-noout", "-startdate", "-enddate", "-in"])
        .arg(&certificate_path)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    let date = |field: &str| {
        dates
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .map(str::to_owned)
    };
    let bundle = [
        fs::read_to_string(&key_path).unwrap_or_default(),
        fs::read_to_string(&certificate_path).unwrap_or_default(),
    ]
    .concat();
    assert_eq!(unit.put("/certificates/default", &bundle).status, 200);
    assert_answer(
        &unit.get("/certificates/default/key"),
        200,
        json!("RSA (2048 bits)"),
    );
    let chain = unit.get("/certificates/default/chain").json();
    assert_eq!(chain.as_array().map(Vec::len), Some(1));
    assert_eq!(chain[0]["subject"], json!({"common_name": "default"}));
    assert_eq!(chain[0]["issuer"], json!({"common_name": "default"}));
    // The dates read exactly as OpenSSL prints them.
    let since = date("notBefore=");
    assert!(since.is_some(), "openssl printed {dates:?}");
    assert_eq!(chain[0]["validity"]["since"].as_str(), since.as_deref());
    assert_eq!(
        chain[0]["validity"]["until"].as_str(),
        date("notAfter=").as_deref()
    );
}

#[test]
fn certificates_survive_a_restart() {
    let unit = TestUnit::start("certificate-restart", &[]);
    let first = ecdsa_bundle("first", &["first.example"]);
    let second = ecdsa_bundle("second", &[]);
    assert_eq!(unit.put("/certificates/first", &first).status, 200);
    assert_eq!(unit.put("/certificates/second", &second).status, 200);
    assert_eq!(
        unit.request("DELETE", "/certificates/second", None).status,
        200
    );
    assert_eq!(unit.put("/certificates/third", &second).status, 200);
    // A configuration naming a bundle is valid again at the next start, since the
    // bundles arrive before it.
    let (conf, _) = tls_conf(json!(["first", "third"]));
    assert_eq!(unit.put("/config", &conf.to_string()).status, 200);
    let before = unit.get("/certificates").json();
    let paths: Paths = unit.stop();

    // A file that is no bundle is left out (and logged); a directory is not a bundle.
    let certs = paths.state.join("certs");
    fs::write(certs.join("junk"), "not a bundle").expect("writing a junk file");
    fs::create_dir(certs.join("a-directory")).expect("creating a directory");
    let unit = TestUnit::start_with(paths, &[]);
    assert_eq!(unit.get("/certificates").json(), before);
    assert_eq!(unit.get("/config").json(), conf);
    let names: Vec<&String> = before
        .as_object()
        .map_or(Vec::new(), |members| members.keys().collect());
    assert_eq!(names, ["first", "third"]);
    assert!(
        unit.log_text()
            .contains("failed to load certificate \"junk\"")
    );
    // Still there: a stored bundle cannot be uploaded again.
    assert_answer(
        &unit.put("/certificates/first", &first),
        400,
        error("Certificate already exists."),
    );
    assert_eq!(
        fs::read_to_string(unit.paths.state.join("certs/third"))
            .ok()
            .as_deref(),
        Some(second.as_str())
    );
}
