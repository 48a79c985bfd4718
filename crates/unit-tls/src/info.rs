//! What Unit shows of a bundle (`nxt_cert_details` in `nxt_cert.c`) and the names its
//! router matches SNI against (`nxt_openssl_cert_get_names` in `nxt_openssl.c`).
//!
//! Texts are what OpenSSL would hand Unit: a name attribute's raw string bytes (cut at
//! 255 bytes, Unit's buffer), dates as `ASN1_TIME_print` writes them.

use serde_json::{Map, Value, json};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_X509_EXT_ISSUER_ALT_NAME,
    OID_X509_EXT_SUBJECT_ALT_NAME,
};
use x509_parser::public_key::PublicKey;
use x509_parser::time::ASN1Time;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// The longest name text Unit keeps: its buffer is 256 bytes with the final NUL.
const MAX_NAME_TEXT: usize = 255;

/// Month abbreviations as OpenSSL prints them.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `{"key": ..., "chain": [...]}` for a chain whose first certificate holds the key.
pub(crate) fn describe(chain: &[X509Certificate<'_>]) -> Value {
    let key = chain.first().map_or_else(|| "unknown".to_owned(), key_text);
    let chain: Vec<Value> = chain
        .iter()
        .map(|certificate| {
            json!({
                "subject": name_details(certificate, certificate.subject(), false),
                "issuer": name_details(certificate, certificate.issuer(), true),
                "validity": {
                    "since": asn1_time_print(&certificate.validity().not_before),
                    "until": asn1_time_print(&certificate.validity().not_after),
                },
            })
        })
        .collect();
    json!({ "key": key, "chain": chain })
}

/// The names SNI is matched against for `certificate`, lowercased.
pub(crate) fn server_names(certificate: &X509Certificate<'_>) -> Vec<String> {
    if let Some(names) = alt_names(certificate, false) {
        return names
            .into_iter()
            .map(|name| name.to_ascii_lowercase())
            .collect();
    }
    // Unit's router takes the first common name and warns about a certificate with
    // neither; the warning is the router's to give, with the bundle's name.
    certificate
        .subject()
        .iter_common_name()
        .next()
        .map(attribute_text)
        .filter(|name| !name.is_empty())
        .map(|name| name.to_ascii_lowercase())
        .into_iter()
        .collect()
}

/// `RSA (<bits> bits)` or `ECDH` for the key of `certificate`, else `unknown`, as
/// Unit names an OpenSSL key type. The key was checked to be the certificate's, so its
/// public half describes it. (Unit's `DH (<bits> bits)` cannot occur: a DH key cannot
/// sign, and such a bundle is refused.)
fn key_text(certificate: &X509Certificate<'_>) -> String {
    let spki = certificate.public_key();
    let algorithm = &spki.algorithm.algorithm;
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        if let Ok(PublicKey::RSA(rsa)) = spki.parsed() {
            return format!("RSA ({} bits)", significant_bits(rsa.modulus));
        }
    } else if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        return "ECDH".to_owned();
    }
    "unknown".to_owned()
}

/// The number of significant bits of a big-endian unsigned integer (`BN_num_bits`).
fn significant_bits(bytes: &[u8]) -> usize {
    let digits = match bytes.iter().position(|byte| *byte != 0) {
        Some(start) => &bytes[start..],
        None => return 0,
    };
    digits.len() * 8 - digits[0].leading_zeros() as usize
}

/// A subject or issuer as Unit shows it: each attribute it knows, when present, in
/// Unit's order, with the DNS names of the matching alternative-name extension after
/// the common name.
fn name_details(certificate: &X509Certificate<'_>, name: &X509Name<'_>, issuer: bool) -> Value {
    let mut object = Map::new();
    let first_text = |attributes: &mut dyn Iterator<Item = &AttributeTypeAndValue<'_>>| {
        attributes.next().map(attribute_text)
    };
    if let Some(text) = first_text(&mut name.iter_common_name()) {
        object.insert("common_name".to_owned(), Value::String(text));
    }
    if let Some(names) = alt_names(certificate, issuer) {
        let names = names.into_iter().map(Value::String).collect();
        object.insert("alt_names".to_owned(), Value::Array(names));
    }
    let others: [(&str, Option<String>); 5] = [
        ("country", first_text(&mut name.iter_country())),
        (
            "state_or_province",
            first_text(&mut name.iter_state_or_province()),
        ),
        ("locality", first_text(&mut name.iter_locality())),
        ("organization", first_text(&mut name.iter_organization())),
        (
            "department",
            first_text(&mut name.iter_organizational_unit()),
        ),
    ];
    for (key, text) in others {
        if let Some(text) = text {
            object.insert(key.to_owned(), Value::String(text));
        }
    }
    Value::Object(object)
}

/// The DNS names of the subject's (or the issuer's) alternative-name extension, in
/// order; `None` without the extension, or with one that does not decode (OpenSSL's
/// `X509_get_ext_d2i` gives Unit nothing then too). Other kinds of names are left out.
fn alt_names(certificate: &X509Certificate<'_>, issuer: bool) -> Option<Vec<String>> {
    let oid = if issuer {
        OID_X509_EXT_ISSUER_ALT_NAME
    } else {
        OID_X509_EXT_SUBJECT_ALT_NAME
    };
    let extension = certificate.get_extension_unique(&oid).ok()??;
    let general_names = match extension.parsed_extension() {
        ParsedExtension::SubjectAlternativeName(names) if !issuer => &names.general_names,
        ParsedExtension::IssuerAlternativeName(names) if issuer => &names.general_names,
        _ => return None,
    };
    Some(
        general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                _ => None,
            })
            .collect(),
    )
}

/// An attribute's string bytes as OpenSSL hands them over, cut as Unit's buffer cuts
/// them (on a character boundary here, so the text stays valid).
fn attribute_text(attribute: &AttributeTypeAndValue<'_>) -> String {
    let text = String::from_utf8_lossy(attribute.attr_value().data);
    if text.len() <= MAX_NAME_TEXT {
        return text.into_owned();
    }
    let mut end = MAX_NAME_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// A time as OpenSSL's `ASN1_TIME_print` writes it: `May 25 08:48:48 2047 GMT`, the day
/// padded with a space.
fn asn1_time_print(time: &ASN1Time) -> String {
    let time = time.to_datetime();
    let month = MONTHS[usize::from(u8::from(time.month())) - 1];
    format!(
        "{month} {:2} {:02}:{:02}:{:02} {} GMT",
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        time.year()
    )
}
