//! `pem`: certificate bundles as uploaded to `/certificates/<name>`, parsed by
//! `Bundle::from_pem`.
//!
//! The input is the PEM file. Parsing it twice must give the same answer. What parses
//! must have a chain, a description in Unit's shape (`key` and one `chain` entry per
//! certificate, each with `subject`, `issuer` and `validity`), and the server names the
//! description promises: the first certificate's DNS alternative names, else its common
//! name, lowercased. Its chain and key written back as PEM must parse to the same
//! bundle.
//!
//! Byte-level mutations mostly break the base64, so the structure-aware mutation
//! decodes the sections, edits the DER inside one of them (or drops, repeats, swaps or
//! relabels sections) and encodes them again, which takes inputs into the X.509 and key
//! parsers.

use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::{PemObject, SectionKind};
use serde_json::Value;
use unit_tls::{Bundle, BundleError};

use super::{bucket, outcome};
use crate::mutate::Rng;

/// Tokens of PEM files and of the DER inside them.
pub(super) const DICTIONARY: &[&[u8]] = &[
    b"-----BEGIN CERTIFICATE-----\n",
    b"-----END CERTIFICATE-----\n",
    b"-----BEGIN PRIVATE KEY-----\n",
    b"-----END PRIVATE KEY-----\n",
    b"-----BEGIN RSA PRIVATE KEY-----\n",
    b"-----END RSA PRIVATE KEY-----\n",
    b"-----BEGIN EC PRIVATE KEY-----\n",
    b"-----END EC PRIVATE KEY-----\n",
    b"-----BEGIN PUBLIC KEY-----\n",
    b"-----END PUBLIC KEY-----\n",
    b"-----BEGIN X509 CRL-----\n",
    b"-----",
    b"MII",
    b"MIIB",
    b"MIIC",
    b"=\n",
    b"==\n",
    b"\r\n",
];

/// The keys a subject or issuer may show, as `info` promises.
const NAME_KEYS: &[&str] = &[
    "common_name",
    "alt_names",
    "country",
    "state_or_province",
    "locality",
    "organization",
    "department",
];

/// Runs one input.
pub(super) fn run(input: &[u8]) -> u64 {
    let parsed = Bundle::from_pem(input);
    let again = Bundle::from_pem(input);
    match (&parsed, &again) {
        (Ok(bundle), Ok(again)) => assert_same(bundle, again, "parsing twice"),
        (Err(error), Err(again)) => assert_eq!(error, again, "parsing twice"),
        _ => panic!("parsing twice gives {parsed:?} and {again:?}"),
    }
    let bundle = match parsed {
        Ok(bundle) => bundle,
        Err(error) => return outcome(error_kind(&error)),
    };
    assert!(!bundle.chain().is_empty(), "a bundle without certificates");
    let key_text = check_info(&bundle);
    check_server_names(&bundle);

    let written = write_pem(&bundle);
    match Bundle::from_pem(&written) {
        Ok(reparsed) => assert_same(&bundle, &reparsed, "writing back"),
        Err(error) => panic!("a bundle written back as PEM is refused: {error}"),
    }
    outcome((
        "ok",
        bucket(bundle.chain().len()),
        key_text,
        bucket(bundle.server_names().len()),
    ))
}

/// Edits the DER of `input`'s sections, or the sections themselves, and writes them
/// back as PEM; `false` when `input` holds no section.
pub(super) fn mutate(input: &mut Vec<u8>, rng: &mut Rng) -> bool {
    let mut sections: Vec<(SectionKind, Vec<u8>)> = <(SectionKind, Vec<u8>)>::pem_slice_iter(input)
        .map_while(Result::ok)
        .collect();
    if sections.is_empty() {
        return false;
    }
    let section_idx = rng.below(sections.len());
    match rng.below(8) {
        0 => {
            sections.remove(section_idx);
        }
        1 => {
            let section = sections[section_idx].clone();
            sections.insert(rng.below(sections.len() + 1), section);
        }
        2 => {
            let other_idx = rng.below(sections.len());
            sections.swap(section_idx, other_idx);
        }
        3 => {
            sections[section_idx].0 = *rng.pick(&[
                SectionKind::Certificate,
                SectionKind::PrivateKey,
                SectionKind::RsaPrivateKey,
                SectionKind::EcPrivateKey,
                SectionKind::PublicKey,
            ]);
        }
        _ => mutate_der(&mut sections[section_idx].1, rng),
    }
    *input = sections
        .iter()
        .flat_map(|(kind, der)| pem_section(label(*kind), der))
        .collect();
    true
}

/// One byte-level edit of some DER: most often a small change in place, where DER's
/// lengths and tags sit.
fn mutate_der(der: &mut Vec<u8>, rng: &mut Rng) {
    if der.is_empty() {
        der.push(rng.next_u64() as u8);
        return;
    }
    let at = rng.below(der.len());
    match rng.below(6) {
        0 => der[at] ^= 1 << rng.below(8),
        1 => der[at] = *rng.pick(&[0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0xff]),
        2 => der[at] = der[at].wrapping_add(1 + rng.below(3) as u8),
        3 => der.truncate(at),
        4 => {
            let end = (at + 1 + rng.below(16)).min(der.len());
            der.drain(at..end);
        }
        _ => {
            let end = (at + 1 + rng.below(16)).min(der.len());
            let copy = der[at..end].to_vec();
            let to = rng.below(der.len() + 1);
            der.splice(to..to, copy);
        }
    }
}

/// Both parses of one input must agree in everything a bundle shows.
fn assert_same(bundle: &Bundle, other: &Bundle, what: &str) {
    assert_eq!(bundle.chain(), other.chain(), "{what}: the chains differ");
    assert_eq!(bundle.key(), other.key(), "{what}: the keys differ");
    assert_eq!(
        bundle.info(),
        other.info(),
        "{what}: the descriptions differ"
    );
    assert_eq!(
        bundle.server_names(),
        other.server_names(),
        "{what}: the server names differ"
    );
}

/// The description must have Unit's shape; returns its key text, for the outcome.
fn check_info(bundle: &Bundle) -> String {
    let info = bundle.info();
    let object = info.as_object().expect("the description is an object");
    assert_eq!(keys(object), ["chain", "key"], "the description's keys");
    let key_text = info["key"].as_str().expect("the key text is a string");
    let rsa_bits = key_text
        .strip_prefix("RSA (")
        .and_then(|rest| rest.strip_suffix(" bits)"))
        .map(str::parse::<usize>);
    assert!(
        matches!(key_text, "ECDH" | "unknown") || matches!(rsa_bits, Some(Ok(_))),
        "the key text {key_text:?}"
    );
    let chain = info["chain"].as_array().expect("the chain is an array");
    assert_eq!(
        chain.len(),
        bundle.chain().len(),
        "one entry per certificate"
    );
    for entry in chain {
        let entry = entry.as_object().expect("a chain entry is an object");
        assert_eq!(keys(entry), ["issuer", "subject", "validity"]);
        for name in [&entry["subject"], &entry["issuer"]] {
            let name = name.as_object().expect("a name is an object");
            for (key, value) in name {
                assert!(NAME_KEYS.contains(&key.as_str()), "a name shows {key:?}");
                if key == "alt_names" {
                    let names = value.as_array().expect("alt_names is an array");
                    assert!(names.iter().all(Value::is_string), "alt_names {names:?}");
                } else {
                    assert!(value.is_string(), "{key} is {value}");
                }
            }
        }
        let validity = entry["validity"]
            .as_object()
            .expect("validity is an object");
        assert_eq!(keys(validity), ["since", "until"]);
        for time in validity.values() {
            let time = time.as_str().expect("a time is a string");
            assert!(time.ends_with(" GMT"), "the time {time:?}");
        }
    }
    if let Some(rsa_bits) = rsa_bits {
        // A key rustls signs with is a real one, never a handful of bits.
        assert!(
            rsa_bits.is_ok_and(|bits| bits >= 512),
            "the key text {key_text:?}"
        );
    }
    key_text.to_owned()
}

/// The server names must be the lowercased DNS alternative names of the first
/// certificate as its description shows them, else its common name when it has one.
fn check_server_names(bundle: &Bundle) {
    let subject = &bundle.info()["chain"][0]["subject"];
    let expected: Vec<String> = match (subject.get("alt_names"), subject.get("common_name")) {
        (Some(Value::Array(names)), _) => names
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect(),
        (None, Some(Value::String(name))) if !name.is_empty() => vec![name.to_ascii_lowercase()],
        _ => Vec::new(),
    };
    let server_names = bundle.server_names();
    assert_eq!(server_names, expected, "the server names of {subject}");
    for name in &server_names {
        assert!(
            !name.bytes().any(|byte| byte.is_ascii_uppercase()),
            "the server name {name:?} is not lowercased"
        );
    }
}

/// The keys of a JSON object, sorted.
fn keys(object: &serde_json::Map<String, Value>) -> Vec<&str> {
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// The variant of a bundle error, with what makes it differ at a coarse grain.
fn error_kind(error: &BundleError) -> String {
    match error {
        BundleError::Pem(message) => {
            let kind = message
                .split(|character: char| !character.is_alphanumeric())
                .next()
                .unwrap_or_default();
            format!("pem {kind}")
        }
        BundleError::Certificate { index, error } => {
            format!("certificate {} {error}", bucket(*index))
        }
        other => other.to_string(),
    }
}

/// The bundle's chain and key as a PEM file.
fn write_pem(bundle: &Bundle) -> Vec<u8> {
    let key_kind = match bundle.key() {
        PrivateKeyDer::Pkcs8(_) => SectionKind::PrivateKey,
        PrivateKeyDer::Pkcs1(_) => SectionKind::RsaPrivateKey,
        PrivateKeyDer::Sec1(_) => SectionKind::EcPrivateKey,
        other => panic!("from_pem made a key of no PEM kind it reads: {other:?}"),
    };
    let mut pem = Vec::new();
    for certificate in bundle.chain() {
        pem.extend(pem_section(label(SectionKind::Certificate), certificate));
    }
    pem.extend(pem_section(label(key_kind), bundle.key().secret_der()));
    pem
}

/// The label PEM writes for `kind`.
fn label(kind: SectionKind) -> &'static str {
    match kind {
        SectionKind::Certificate => "CERTIFICATE",
        SectionKind::PublicKey => "PUBLIC KEY",
        SectionKind::RsaPrivateKey => "RSA PRIVATE KEY",
        SectionKind::PrivateKey => "PRIVATE KEY",
        SectionKind::EcPrivateKey => "EC PRIVATE KEY",
        SectionKind::Crl => "X509 CRL",
        SectionKind::Csr => "CERTIFICATE REQUEST",
        SectionKind::EchConfigList => "ECHCONFIG",
        _ => "UNKNOWN",
    }
}

/// One PEM section: `der` in base64, 64 characters a line, between its markers.
fn pem_section(label: &str, der: &[u8]) -> Vec<u8> {
    let encoded = base64(der);
    let mut section = format!("-----BEGIN {label}-----\n").into_bytes();
    for line in encoded.chunks(64) {
        section.extend_from_slice(line);
        section.push(b'\n');
    }
    section.extend_from_slice(format!("-----END {label}-----\n").as_bytes());
    section
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let value = group.iter().enumerate().fold(0u32, |value, (idx, byte)| {
            value | u32::from(*byte) << (16 - 8 * idx)
        });
        for digit_idx in 0..4 {
            if digit_idx <= group.len() {
                let digit = (value >> (18 - 6 * digit_idx)) & 0x3f;
                encoded.push(ALPHABET[digit as usize]);
            } else {
                encoded.push(b'=');
            }
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds meant to be whole bundles are, so the fuzzer starts from ones that get
    /// past every check.
    #[test]
    fn the_good_seeds_parse() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/pem");
        for name in [
            "rsa-pkcs8.pem",
            "rsa-pkcs1.pem",
            "ec-sec1.pem",
            "p256-chain.pem",
            "p256-common-name-only.pem",
        ] {
            let pem = std::fs::read(corpus.join(name)).expect("a committed seed");
            if let Err(error) = Bundle::from_pem(&pem) {
                panic!("{name}: {error}");
            }
        }
    }

    #[test]
    fn base64_encodes_as_rfc_4648_says() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"", b""),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foobar", b"Zm9vYmFy"),
        ];
        for (bytes, encoded) in cases {
            assert_eq!(base64(bytes), encoded);
        }
    }
}
