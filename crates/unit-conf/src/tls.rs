//! The TLS settings of a listener that are more than names: `conf_commands` in
//! OpenSSL's words, and session ticket keys in base64.
//!
//! Unit hands `conf_commands` to OpenSSL's `SSL_CONF_cmd`. unitd's TLS library is rustls,
//! so the commands that have a meaning there are read here with OpenSSL's names and
//! syntax (the command names and protocol names without regard to case, as OpenSSL reads
//! a configuration file) and turned into [`TlsCommands`]; any other command, or a value
//! that names nothing rustls can do, is an error that names it, given when the
//! configuration is validated rather than when it is applied.
//!
//! What it does not do: it knows no rustls types. The router maps the suites and groups
//! named here to its provider's.

use std::fmt;

/// A TLS protocol version rustls can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// A TLS 1.2 cipher suite, named as OpenSSL names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tls12Suite {
    /// `ECDHE-ECDSA-AES256-GCM-SHA384`.
    EcdheEcdsaAes256GcmSha384,
    /// `ECDHE-ECDSA-AES128-GCM-SHA256`.
    EcdheEcdsaAes128GcmSha256,
    /// `ECDHE-ECDSA-CHACHA20-POLY1305`.
    EcdheEcdsaChacha20Poly1305,
    /// `ECDHE-RSA-AES256-GCM-SHA384`.
    EcdheRsaAes256GcmSha384,
    /// `ECDHE-RSA-AES128-GCM-SHA256`.
    EcdheRsaAes128GcmSha256,
    /// `ECDHE-RSA-CHACHA20-POLY1305`.
    EcdheRsaChacha20Poly1305,
}

/// A TLS 1.3 cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tls13Suite {
    /// `TLS_AES_256_GCM_SHA384`.
    Aes256GcmSha384,
    /// `TLS_AES_128_GCM_SHA256`.
    Aes128GcmSha256,
    /// `TLS_CHACHA20_POLY1305_SHA256`.
    Chacha20Poly1305Sha256,
}

/// A key exchange group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsGroup {
    /// X25519.
    X25519,
    /// NIST P-256 (`prime256v1`, `secp256r1`).
    P256,
    /// NIST P-384 (`secp384r1`).
    P384,
}

/// What a listener's `conf_commands` ask for; [`Default`] is what no commands give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsCommands {
    /// The protocol versions offered, from the oldest.
    pub versions: Vec<TlsVersion>,
    /// `CipherString`: the TLS 1.2 suites in order of preference; `None` for the
    /// library's own list.
    pub tls12_suites: Option<Vec<Tls12Suite>>,
    /// `Ciphersuites`: the TLS 1.3 suites in order of preference.
    pub tls13_suites: Option<Vec<Tls13Suite>>,
    /// `Groups` (or `Curves`): the key exchange groups in order of preference.
    pub groups: Option<Vec<TlsGroup>>,
    /// Whether the server's order of suites wins over the client's (`Options
    /// ServerPreference`, which Unit sets whatever the commands say).
    pub server_preference: bool,
}

impl Default for TlsCommands {
    fn default() -> TlsCommands {
        TlsCommands {
            versions: vec![TlsVersion::Tls12, TlsVersion::Tls13],
            tls12_suites: None,
            tls13_suites: None,
            groups: None,
            server_preference: true,
        }
    }
}

/// Why a `conf_commands` member cannot be honoured, worded for the control API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandError(String);

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The commands understood, as OpenSSL spells them in a configuration file.
const COMMANDS: &[&str] = &[
    "Protocol",
    "MinProtocol",
    "MaxProtocol",
    "CipherString",
    "Ciphersuites",
    "Groups",
    "Curves",
    "Options",
];

/// OpenSSL's protocol names and what each is here: `None` for the versions rustls
/// never speaks.
const PROTOCOLS: &[(&str, Option<TlsVersion>)] = &[
    ("SSLv2", None),
    ("SSLv3", None),
    ("TLSv1", None),
    ("TLSv1.1", None),
    ("TLSv1.2", Some(TlsVersion::Tls12)),
    ("TLSv1.3", Some(TlsVersion::Tls13)),
];

/// A TLS 1.2 suite's OpenSSL name and the properties cipher string aliases select by.
struct SuiteRow {
    name: &'static str,
    suite: Tls12Suite,
    ecdsa: bool,
    cipher: &'static str,
}

const TLS12_SUITES: &[SuiteRow] = &[
    SuiteRow {
        name: "ECDHE-ECDSA-AES256-GCM-SHA384",
        suite: Tls12Suite::EcdheEcdsaAes256GcmSha384,
        ecdsa: true,
        cipher: "AES256GCM",
    },
    SuiteRow {
        name: "ECDHE-ECDSA-AES128-GCM-SHA256",
        suite: Tls12Suite::EcdheEcdsaAes128GcmSha256,
        ecdsa: true,
        cipher: "AES128GCM",
    },
    SuiteRow {
        name: "ECDHE-ECDSA-CHACHA20-POLY1305",
        suite: Tls12Suite::EcdheEcdsaChacha20Poly1305,
        ecdsa: true,
        cipher: "CHACHA20",
    },
    SuiteRow {
        name: "ECDHE-RSA-AES256-GCM-SHA384",
        suite: Tls12Suite::EcdheRsaAes256GcmSha384,
        ecdsa: false,
        cipher: "AES256GCM",
    },
    SuiteRow {
        name: "ECDHE-RSA-AES128-GCM-SHA256",
        suite: Tls12Suite::EcdheRsaAes128GcmSha256,
        ecdsa: false,
        cipher: "AES128GCM",
    },
    SuiteRow {
        name: "ECDHE-RSA-CHACHA20-POLY1305",
        suite: Tls12Suite::EcdheRsaChacha20Poly1305,
        ecdsa: false,
        cipher: "CHACHA20",
    },
];

/// OpenSSL cipher string words that select only suites rustls does not implement
/// (legacy ciphers, other key exchanges): they are accepted and select nothing, so a
/// string such as `HIGH:!aNULL:!MD5` works as it does with OpenSSL.
const ALIASES_SELECTING_NOTHING: &[&str] = &[
    "aNULL",
    "eNULL",
    "NULL",
    "COMPLEMENTOFALL",
    "COMPLEMENTOFDEFAULT",
    "MEDIUM",
    "LOW",
    "EXP",
    "EXPORT",
    "MD5",
    "RC4",
    "RC2",
    "DES",
    "3DES",
    "IDEA",
    "SEED",
    "CAMELLIA",
    "CAMELLIA128",
    "CAMELLIA256",
    "ARIA",
    "ARIA128",
    "ARIA256",
    "DSS",
    "aDSS",
    "PSK",
    "kPSK",
    "ECDHEPSK",
    "DHEPSK",
    "RSAPSK",
    "SRP",
    "kSRP",
    "aSRP",
    "kRSA",
    "RSA",
    "DH",
    "DHE",
    "EDH",
    "kDHE",
    "kEDH",
    "ADH",
    "AECDH",
    "aECDH",
    "kECDH",
    "SHA1",
    "SHA",
    "CCM",
    "CCM8",
    "AESCCM",
    "AESCCM8",
    "SSLv3",
    "TLSv1",
    "TLSv1.0",
    "kGOST",
    "GOST94",
    "GOST89MAC",
    "SUITEB128",
    "SUITEB128ONLY",
    "SUITEB192",
    "CBC",
];

/// Whether the TLS 1.2 suite in `row` is one of those the OpenSSL alias `alias` names;
/// `None` when `alias` is no alias this knows.
fn alias_selects(alias: &str, row: &SuiteRow) -> Option<bool> {
    let selected = match alias {
        "ALL" | "DEFAULT" | "HIGH" | "TLSv1.2" | "ECDHE" | "EECDH" | "kECDHE" | "kEECDH"
        | "AEAD" | "FIPS" => true,
        "aECDSA" | "ECDSA" => row.ecdsa,
        "aRSA" => !row.ecdsa,
        "AES" | "AESGCM" => row.cipher != "CHACHA20",
        "AES128" => row.cipher == "AES128GCM",
        "AES256" => row.cipher == "AES256GCM",
        "CHACHA20" => row.cipher == "CHACHA20",
        "SHA256" => row.cipher == "AES128GCM" || row.cipher == "CHACHA20",
        "SHA384" => row.cipher == "AES256GCM",
        _ if ALIASES_SELECTING_NOTHING.contains(&alias) => false,
        _ => return None,
    };
    Some(selected)
}

/// Reads a listener's `conf_commands`, each command with its string value, in order.
pub(crate) fn parse_commands<'a>(
    commands: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<TlsCommands, CommandError> {
    let mut result = TlsCommands::default();
    let mut enabled = [true, true];
    let mut min = None;
    let mut max = None;
    for (command, value) in commands {
        let Some(known) = COMMANDS
            .iter()
            .find(|known| known.eq_ignore_ascii_case(command))
        else {
            return Err(CommandError(format!(
                "The \"conf_commands\" command \"{command}\" is not supported; the supported \
                 ones are {}.",
                COMMANDS.join(", ")
            )));
        };
        let invalid = |why: String| {
            CommandError(format!(
                "The \"conf_commands\" value \"{value}\" of \"{command}\" is invalid: {why}."
            ))
        };
        match *known {
            "Protocol" => apply_protocols(value, &mut enabled).map_err(invalid)?,
            "MinProtocol" => min = parse_bound(value).map_err(invalid)?,
            "MaxProtocol" => max = parse_bound(value).map_err(invalid)?,
            "CipherString" => {
                result.tls12_suites = Some(parse_cipher_string(value).map_err(invalid)?)
            }
            "Ciphersuites" => {
                result.tls13_suites = Some(parse_tls13_suites(value).map_err(invalid)?)
            }
            "Groups" | "Curves" => result.groups = Some(parse_groups(value).map_err(invalid)?),
            _ => apply_options(value, &mut result.server_preference).map_err(invalid)?,
        }
    }
    result.versions = [TlsVersion::Tls12, TlsVersion::Tls13]
        .into_iter()
        .zip(enabled)
        .filter(|(version, on)| {
            *on && min.is_none_or(|min| *version >= min) && max.is_none_or(|max| *version <= max)
        })
        .map(|(version, _)| version)
        .collect();
    if result.versions.is_empty() {
        return Err(CommandError(
            "The \"conf_commands\" leave no TLS protocol version enabled (TLSv1.2 and TLSv1.3 \
             are available)."
                .to_owned(),
        ));
    }
    if result.versions.contains(&TlsVersion::Tls12)
        && result.tls12_suites.as_ref().is_some_and(Vec::is_empty)
    {
        return Err(CommandError(
            "The \"conf_commands\" CipherString selects no TLSv1.2 cipher suite.".to_owned(),
        ));
    }
    Ok(result)
}

/// The words of a list OpenSSL separates with colons, commas or spaces.
fn words(value: &str) -> impl Iterator<Item = &str> {
    value
        .split([':', ',', ' ', '\t'])
        .filter(|word| !word.is_empty())
}

/// `Protocol`: `[+-]name` items enabling or disabling versions; `ALL` is every one.
fn apply_protocols(value: &str, enabled: &mut [bool; 2]) -> Result<(), String> {
    let mut any = false;
    for word in words(value) {
        any = true;
        let (on, name) = match word.as_bytes()[0] {
            b'-' => (false, &word[1..]),
            b'+' => (true, &word[1..]),
            _ => (true, word),
        };
        if name.eq_ignore_ascii_case("ALL") {
            *enabled = [on, on];
            continue;
        }
        let Some((_, version)) = PROTOCOLS
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
        else {
            return Err(format!("\"{name}\" is not a TLS protocol"));
        };
        match (version, on) {
            (Some(TlsVersion::Tls12), _) => enabled[0] = on,
            (Some(TlsVersion::Tls13), _) => enabled[1] = on,
            // Disabling what is never offered changes nothing.
            (None, false) => {}
            (None, true) => {
                return Err(format!("{name} is not supported, only TLSv1.2 and TLSv1.3"));
            }
        }
    }
    if !any {
        return Err("it names no protocol".to_owned());
    }
    Ok(())
}

/// `MinProtocol` or `MaxProtocol`: one name, or `None` for no bound.
fn parse_bound(value: &str) -> Result<Option<TlsVersion>, String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("None") {
        return Ok(None);
    }
    match PROTOCOLS
        .iter()
        .position(|(known, _)| known.eq_ignore_ascii_case(value))
    {
        // Every version older than TLS 1.2 bounds as TLS 1.2 does from below.
        Some(index) => Ok(Some(PROTOCOLS[index].1.unwrap_or(TlsVersion::Tls12))),
        None => Err(format!("\"{value}\" is not a TLS protocol")),
    }
}

/// `CipherString`: OpenSSL's cipher list syntax over the TLS 1.2 suites rustls has:
/// names and aliases (joined with `+` for those in all of them), `!` to remove for
/// good, `-` to remove, `+` to move to the end, and `@STRENGTH`/`@SECLEVEL` ignored.
fn parse_cipher_string(value: &str) -> Result<Vec<Tls12Suite>, String> {
    let mut list: Vec<Tls12Suite> = Vec::new();
    let mut banned: Vec<Tls12Suite> = Vec::new();
    for word in words(value) {
        if word.starts_with('@') {
            continue;
        }
        let (op, expression) = match word.as_bytes()[0] {
            op @ (b'!' | b'-' | b'+') => (op, &word[1..]),
            _ => (0, word),
        };
        let mut selected = Vec::new();
        for row in TLS12_SUITES {
            let mut all = true;
            for part in expression.split('+') {
                let hit = if part == row.name {
                    true
                } else if let Some(hit) = alias_selects(part, row) {
                    hit
                } else if TLS12_SUITES.iter().any(|other| other.name == part) {
                    false
                } else {
                    return Err(format!("\"{part}\" is no cipher or cipher alias"));
                };
                all &= hit;
            }
            if all {
                selected.push(row.suite);
            }
        }
        match op {
            b'!' => {
                banned.extend(&selected);
                list.retain(|suite| !selected.contains(suite));
            }
            b'-' => list.retain(|suite| !selected.contains(suite)),
            b'+' => {
                let (moved, kept): (Vec<_>, Vec<_>) =
                    list.iter().partition(|suite| selected.contains(suite));
                list = kept;
                list.extend(moved);
            }
            _ => {
                for suite in selected {
                    if !list.contains(&suite) && !banned.contains(&suite) {
                        list.push(suite);
                    }
                }
            }
        }
    }
    Ok(list)
}

/// `Ciphersuites`: TLS 1.3 suite names separated by colons.
fn parse_tls13_suites(value: &str) -> Result<Vec<Tls13Suite>, String> {
    let mut suites = Vec::new();
    for word in words(value) {
        let suite = match word {
            "TLS_AES_256_GCM_SHA384" => Tls13Suite::Aes256GcmSha384,
            "TLS_AES_128_GCM_SHA256" => Tls13Suite::Aes128GcmSha256,
            "TLS_CHACHA20_POLY1305_SHA256" => Tls13Suite::Chacha20Poly1305Sha256,
            _ => {
                return Err(format!(
                    "\"{word}\" is not one of TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256 \
                     and TLS_CHACHA20_POLY1305_SHA256"
                ));
            }
        };
        if !suites.contains(&suite) {
            suites.push(suite);
        }
    }
    Ok(suites)
}

/// `Groups`: group names separated by colons.
fn parse_groups(value: &str) -> Result<Vec<TlsGroup>, String> {
    let mut groups = Vec::new();
    for word in words(value) {
        let group = match word.to_ascii_lowercase().as_str() {
            "x25519" => TlsGroup::X25519,
            "p-256" | "prime256v1" | "secp256r1" => TlsGroup::P256,
            "p-384" | "secp384r1" => TlsGroup::P384,
            _ => {
                return Err(format!(
                    "\"{word}\" is not one of X25519, P-256 (prime256v1) and P-384 (secp384r1)"
                ));
            }
        };
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    if groups.is_empty() {
        return Err("it names no group".to_owned());
    }
    Ok(groups)
}

/// `Options`: the options that mean something here. `ServerPreference` orders suites
/// by the server's list; renegotiation and compression are never done, so asking not
/// to do them is accepted.
fn apply_options(value: &str, server_preference: &mut bool) -> Result<(), String> {
    for word in words(value) {
        let (on, name) = match word.as_bytes()[0] {
            b'-' => (false, &word[1..]),
            _ => (true, word),
        };
        if name.eq_ignore_ascii_case("ServerPreference") {
            *server_preference = on;
        } else if !(on
            && (name.eq_ignore_ascii_case("NoRenegotiation")
                || name.eq_ignore_ascii_case("-Compression")
                || name.eq_ignore_ascii_case("NoCompression")))
        {
            return Err(format!(
                "the option \"{word}\" is not supported (ServerPreference and -ServerPreference are)"
            ));
        }
    }
    Ok(())
}

/// Decodes a session ticket key as Unit reads it: standard base64, padding optional but
/// only at the end. `None` when it is not base64.
pub(crate) fn decode_ticket_key(key: &str) -> Option<Vec<u8>> {
    let bytes = key.as_bytes();
    let data = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="))
        .unwrap_or(bytes);
    let padded = data.len() != bytes.len();
    if (padded && !bytes.len().is_multiple_of(4)) || data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let mut accumulator = 0u32;
    let mut bits = 0;
    for byte in data {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        accumulator = (accumulator << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((accumulator >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(commands: &[(&str, &str)]) -> Result<TlsCommands, CommandError> {
        parse_commands(commands.iter().copied())
    }

    #[test]
    fn protocols_are_enabled_and_disabled_by_name() {
        assert_eq!(
            parse(&[]).expect("no commands").versions,
            vec![TlsVersion::Tls12, TlsVersion::Tls13]
        );
        let only_13 = parse(&[("protocol", "-TLSv1.2")]).expect("valid");
        assert_eq!(only_13.versions, vec![TlsVersion::Tls13]);
        let only_12 = parse(&[
            ("Protocol", "-ALL, TLSv1.2"),
            ("Options", "-ServerPreference"),
        ])
        .expect("valid");
        assert_eq!(only_12.versions, vec![TlsVersion::Tls12]);
        assert!(!only_12.server_preference);
        let bounded =
            parse(&[("MinProtocol", "TLSv1"), ("maxprotocol", "tlsv1.2")]).expect("valid");
        assert_eq!(bounded.versions, vec![TlsVersion::Tls12]);
        assert_eq!(
            parse(&[("Protocol", "-TLSv1.1")])
                .expect("valid")
                .versions
                .len(),
            2
        );
        for bad in [
            ("protocol", "blah"),
            ("Protocol", "TLSv1"),
            ("Protocol", "-ALL"),
            ("Protocol", ""),
        ] {
            let error = parse(&[bad]).expect_err("refused").to_string();
            assert!(error.contains("conf_commands"), "{error}");
        }
    }

    #[test]
    fn unknown_commands_are_named() {
        let error = parse(&[("protocol", "TLSv1.2"), ("blah", "")]).expect_err("refused");
        assert!(
            error
                .to_string()
                .starts_with("The \"conf_commands\" command \"blah\"")
        );
        assert!(parse(&[("", "")]).is_err());
        assert!(parse(&[("SignatureAlgorithms", "RSA+SHA256")]).is_err());
    }

    #[test]
    fn cipher_strings_follow_openssl_syntax() {
        let suites = |string| parse(&[("CipherString", string)]).map(|c| c.tls12_suites);
        assert_eq!(
            suites("ECDHE-RSA-AES128-GCM-SHA256").expect("valid"),
            Some(vec![Tls12Suite::EcdheRsaAes128GcmSha256])
        );
        assert_eq!(
            suites("HIGH:!aNULL:!MD5:!aRSA:!CHACHA20").expect("valid"),
            Some(vec![
                Tls12Suite::EcdheEcdsaAes256GcmSha384,
                Tls12Suite::EcdheEcdsaAes128GcmSha256
            ])
        );
        assert_eq!(
            suites("TLSv1.2:!ECDHE-RSA-AES256-GCM-SHA384:-ECDSA:ECDHE+AES128")
                .expect("valid")
                .map(|list| list.len()),
            Some(3)
        );
        assert_eq!(
            suites("ECDHE+AESGCM:+AES128")
                .expect("valid")
                .and_then(|list| list.last().copied()),
            Some(Tls12Suite::EcdheRsaAes128GcmSha256)
        );
        assert!(suites("BOGUS-CIPHER").is_err());
        assert!(suites("!ALL").is_err(), "nothing left for TLS 1.2");
        assert!(
            parse(&[("Protocol", "-TLSv1.2"), ("CipherString", "RC4")]).is_ok(),
            "no TLS 1.2 suite is needed without TLS 1.2"
        );
    }

    #[test]
    fn tls13_suites_and_groups_by_name() {
        let commands = parse(&[
            (
                "Ciphersuites",
                "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
            ),
            ("Curves", "prime256v1:X25519"),
        ])
        .expect("valid");
        assert_eq!(
            commands.tls13_suites,
            Some(vec![
                Tls13Suite::Chacha20Poly1305Sha256,
                Tls13Suite::Aes128GcmSha256
            ])
        );
        assert_eq!(
            commands.groups,
            Some(vec![TlsGroup::P256, TlsGroup::X25519])
        );
        assert!(parse(&[("Groups", "ffdhe2048")]).is_err());
        assert!(parse(&[("Ciphersuites", "TLS_AES_128_CCM_SHA256")]).is_err());
    }

    #[test]
    fn ticket_keys_decode_as_unit_reads_them() {
        let key = "U1oDTh11mMxODuw12gS0EXX1E/PkZG13cJNQ6m5+6BGlfPTjNlIEw7PSVU3X1gTE";
        assert_eq!(decode_ticket_key(key).map(|bytes| bytes.len()), Some(48));
        assert_eq!(decode_ticket_key("QUJD").as_deref(), Some(&b"ABC"[..]));
        assert_eq!(decode_ticket_key("QUI=").as_deref(), Some(&b"AB"[..]));
        assert_eq!(decode_ticket_key("QUI").as_deref(), Some(&b"AB"[..]));
        assert_eq!(
            decode_ticket_key(&key[..key.len() - 1]).map(|bytes| bytes.len()),
            Some(47)
        );
        assert_eq!(decode_ticket_key(&format!("{key}b")), None);
        assert_eq!(decode_ticket_key("!?&^"), None);
        assert_eq!(decode_ticket_key("QU=I"), None);
        assert_eq!(decode_ticket_key("QUI=="), None);
    }
}
