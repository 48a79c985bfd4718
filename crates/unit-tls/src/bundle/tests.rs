//! Bundles made by OpenSSL (RSA, a SEC1 EC key) and by rcgen (ECDSA chains, odd names
//! and dates): what is refused, what the API shows, and the SNI names.

use std::time::Duration;

use rcgen::{
    CertificateParams, CertifiedIssuer, CustomExtension, DistinguishedName, DnType, KeyPair,
    SanType, date_time_ymd,
};
use serde_json::json;

use super::Bundle;
use crate::error::BundleError;

/// `openssl req -x509 -newkey rsa:2048 -nodes -days 30` with every subject attribute
/// Unit shows, a subjectAltName of two DNS names and an IP, and an issuerAltName.
const RSA_CERT: &str = include_str!("../../tests/data/rsa.crt");
/// Its key, PKCS#8 (`PRIVATE KEY`) as `openssl req` writes it.
const RSA_KEY: &str = include_str!("../../tests/data/rsa.key");
/// The same key as PKCS#1 (`RSA PRIVATE KEY`).
const RSA_PKCS1_KEY: &str = include_str!("../../tests/data/rsa-pkcs1.key");
/// Another RSA key, which matches no certificate here.
const OTHER_RSA_KEY: &str = include_str!("../../tests/data/other-rsa.key");
/// `openssl ecparam -genkey -name prime256v1` (SEC1, `EC PRIVATE KEY`) and a
/// certificate for it with only `CN=ec`.
const EC_CERT: &str = include_str!("../../tests/data/ec.crt");
/// See `EC_CERT`.
const EC_KEY: &str = include_str!("../../tests/data/ec.key");

fn parse(parts: &[&str]) -> Result<Bundle, BundleError> {
    Bundle::from_pem(parts.concat().as_bytes())
}

/// A P-256 key and the parameters of a certificate for `names` with subject `subject`.
fn params(names: &[&str], subject: &[(DnType, &str)]) -> (KeyPair, CertificateParams) {
    let key = KeyPair::generate().expect("a P-256 key generates");
    let mut params = CertificateParams::new(
        names
            .iter()
            .map(|name| (*name).to_owned())
            .collect::<Vec<_>>(),
    )
    .expect("valid names");
    let mut distinguished_name = DistinguishedName::new();
    for (kind, value) in subject {
        distinguished_name.push(kind.clone(), *value);
    }
    params.distinguished_name = distinguished_name;
    (key, params)
}

#[test]
fn an_openssl_rsa_bundle_is_described_as_unit_does() -> Result<(), BundleError> {
    let name = json!({
        "common_name": "Example.COM",
        "alt_names": ["Example.COM", "*.example.org"],
        "country": "US",
        "state_or_province": "California",
        "locality": "San Francisco",
        "organization": "Example Org",
        "department": "Web",
    });
    let mut issuer = name.clone();
    issuer["alt_names"] = json!(["issuer.example"]);
    let expected = json!({
        "key": "RSA (2048 bits)",
        "chain": [{
            "subject": name,
            "issuer": issuer,
            "validity": {
                "since": "Dec  2 05:52:21 2026 GMT",
                "until": "Jan  1 05:52:21 2027 GMT",
            },
        }],
    });
    for bundle in [
        parse(&[RSA_KEY, RSA_CERT])?,
        parse(&[RSA_CERT, RSA_KEY])?,
        parse(&[RSA_PKCS1_KEY, RSA_CERT])?,
    ] {
        assert_eq!(bundle.info(), expected);
        // The members keep Unit's order, which the JSON comparison ignores.
        assert_eq!(
            serde_json::to_string(&bundle.info()["chain"][0]["subject"]).ok(),
            serde_json::to_string(&expected["chain"][0]["subject"]).ok()
        );
        assert_eq!(bundle.server_names(), ["example.com", "*.example.org"]);
        assert_eq!(bundle.chain().len(), 1);
    }
    Ok(())
}

#[test]
fn an_ec_key_is_ecdh_and_a_lone_common_name_is_the_server_name() -> Result<(), BundleError> {
    let bundle = parse(&[EC_KEY, EC_CERT])?;
    assert_eq!(bundle.info()["key"], "ECDH");
    assert_eq!(
        bundle.info()["chain"][0]["subject"],
        json!({"common_name": "ec"})
    );
    assert_eq!(bundle.server_names(), ["ec"]);
    Ok(())
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    assert_eq!(
        parse(&[OTHER_RSA_KEY, RSA_CERT]).err(),
        Some(BundleError::KeyMismatch)
    );
    assert_eq!(
        parse(&[EC_KEY, RSA_CERT]).err(),
        Some(BundleError::KeyMismatch)
    );
    // The key must be the first certificate's, not any in the chain.
    assert_eq!(
        parse(&[RSA_KEY, EC_CERT, RSA_CERT]).err(),
        Some(BundleError::KeyMismatch)
    );
}

#[test]
fn broken_bundles_are_refused() {
    assert_eq!(parse(&[RSA_CERT]).err(), Some(BundleError::NoKey));
    assert_eq!(parse(&[RSA_KEY]).err(), Some(BundleError::NoCertificates));
    assert_eq!(
        parse(&[RSA_KEY, RSA_PKCS1_KEY, RSA_CERT]).err(),
        Some(BundleError::MultipleKeys)
    );
    assert_eq!(parse(&[""]).err(), Some(BundleError::NoKey));
    assert_eq!(parse(&["not PEM at all"]).err(), Some(BundleError::NoKey));
    assert!(matches!(
        parse(&[
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            RSA_KEY
        ])
        .err(),
        Some(BundleError::Pem(_))
    ));
    // Base64 that is not a certificate.
    let junk = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        parse(&[RSA_KEY, RSA_CERT, junk]).err(),
        Some(BundleError::Certificate { index: 1, .. })
    ));
    let junk_key = "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n";
    assert!(matches!(
        parse(&[junk_key, RSA_CERT]).err(),
        Some(BundleError::UnsupportedKey(_))
    ));
}

#[test]
fn an_empty_subject_is_an_empty_object_and_gives_no_server_name() -> Result<(), BundleError> {
    let (key, params) = params(&[], &[]);
    let certificate = params.self_signed(&key).expect("a certificate");
    let bundle = parse(&[&key.serialize_pem(), &certificate.pem()])?;
    assert_eq!(bundle.info()["chain"][0]["subject"], json!({}));
    assert_eq!(bundle.info()["chain"][0]["issuer"], json!({}));
    assert!(bundle.server_names().is_empty());
    Ok(())
}

#[test]
fn alt_names_keep_only_dns_names_and_replace_the_common_name_for_sni() -> Result<(), BundleError> {
    let (key, mut params) = params(
        &["WWW.Example.net", "*.Example.com"],
        &[(DnType::CommonName, "ignored.example")],
    );
    params
        .subject_alt_names
        .push(SanType::IpAddress([10, 0, 0, 1].into()));
    let certificate = params.self_signed(&key).expect("a certificate");
    let bundle = parse(&[&certificate.pem(), &key.serialize_pem()])?;
    assert_eq!(
        bundle.info()["chain"][0]["subject"],
        json!({"common_name": "ignored.example", "alt_names": ["WWW.Example.net", "*.Example.com"]})
    );
    // A subjectAltName without the issuer's counterpart: the issuer has none.
    assert_eq!(
        bundle.info()["chain"][0]["issuer"],
        json!({"common_name": "ignored.example"})
    );
    assert_eq!(bundle.server_names(), ["www.example.net", "*.example.com"]);

    // A subjectAltName with only an IP address: present, and empty.
    let (key, mut params) = params_with_ip_only();
    params.distinguished_name = DistinguishedName::new();
    let certificate = params.self_signed(&key).expect("a certificate");
    let bundle = parse(&[&certificate.pem(), &key.serialize_pem()])?;
    assert_eq!(
        bundle.info()["chain"][0]["subject"],
        json!({"alt_names": []})
    );
    assert!(bundle.server_names().is_empty());
    Ok(())
}

fn params_with_ip_only() -> (KeyPair, CertificateParams) {
    let (key, mut params) = params(&[], &[]);
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    (key, params)
}

#[test]
fn a_chain_is_described_in_file_order_with_dates_as_openssl_prints_them() -> Result<(), BundleError>
{
    let (ca_key, mut ca_params) = params(&[], &[(DnType::CommonName, "root")]);
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    // issuerAltName: GeneralNames with one dNSName ("[2] IA5String") and one IP.
    let mut issuer_alt_names = vec![0x30, 0];
    for (tag, bytes) in [(0x82, &b"ca.example"[..]), (0x87, &[10, 0, 0, 2][..])] {
        issuer_alt_names.push(tag);
        issuer_alt_names.push(bytes.len() as u8);
        issuer_alt_names.extend_from_slice(bytes);
    }
    issuer_alt_names[1] = (issuer_alt_names.len() - 2) as u8;
    let (leaf_key, mut leaf_params) = params(
        &["leaf.example"],
        &[
            (DnType::CommonName, "leaf"),
            (DnType::OrganizationName, "Leaf Org"),
        ],
    );
    leaf_params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            &[2, 5, 29, 18],
            issuer_alt_names,
        ));
    leaf_params.not_before = date_time_ymd(2024, 6, 1) + Duration::from_secs(8 * 3600 + 5 * 60 + 3);
    leaf_params.not_after = date_time_ymd(2047, 5, 25) + Duration::from_secs(23 * 3600 + 59 * 60);
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("a CA");
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca)
        .expect("a signed certificate");
    let bundle = parse(&[&leaf.pem(), &ca.pem(), &leaf_key.serialize_pem()])?;
    let info = bundle.info();
    assert_eq!(info["key"], "ECDH");
    assert_eq!(
        info["chain"][0],
        json!({
            "subject": {"common_name": "leaf", "alt_names": ["leaf.example"], "organization": "Leaf Org"},
            "issuer": {"common_name": "root", "alt_names": ["ca.example"]},
            "validity": {"since": "Jun  1 08:05:03 2024 GMT", "until": "May 25 23:59:00 2047 GMT"},
        })
    );
    assert_eq!(info["chain"][1]["subject"], json!({"common_name": "root"}));
    assert_eq!(info["chain"][1]["issuer"], json!({"common_name": "root"}));
    assert_eq!(bundle.server_names(), ["leaf.example"]);
    assert_eq!(bundle.chain().len(), 2);

    // The CA's key with the chain in this order is the wrong key.
    assert_eq!(
        parse(&[&ca.pem(), &leaf.pem(), &leaf_key.serialize_pem()]).err(),
        Some(BundleError::KeyMismatch)
    );
    Ok(())
}

#[test]
fn long_name_texts_are_cut_as_unit_cuts_them() -> Result<(), BundleError> {
    let long = "é".repeat(200);
    let (key, params) = params(&[], &[(DnType::OrganizationName, long.as_str())]);
    let certificate = params.self_signed(&key).expect("a certificate");
    let bundle = parse(&[&certificate.pem(), &key.serialize_pem()])?;
    let organization = bundle.info()["chain"][0]["subject"]["organization"]
        .as_str()
        .map(str::to_owned);
    // 255 bytes would split a two-byte character; the cut is before it.
    assert_eq!(organization, Some("é".repeat(127)));
    Ok(())
}
