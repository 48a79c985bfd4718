//! Tables for target splitting, percent-decoding, path normalization and
//! query parsing.

use super::{
    encode_location, is_normal_path, is_path_byte, normalize_path, normalize_path_keeping,
    parse_query, percent_decode, percent_encode, split_target,
};
use crate::HttpError;

fn render(result: Result<Vec<u8>, HttpError>) -> Result<String, HttpError> {
    result.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

fn check_normalize(raw: &str, expected: Result<&str, HttpError>) {
    let actual = render(normalize_path(raw.as_bytes()));
    assert_eq!(actual, expected.map(str::to_owned), "raw: {raw:?}");
}

#[test]
fn path_normalization() {
    let ok = Ok;
    check_normalize("/", ok("/"));
    check_normalize("/a/b", ok("/a/b"));
    check_normalize("/a/./b/../c", ok("/a/c"));
    check_normalize("/a/%2e%2e/b", ok("/b"));
    check_normalize("/a/%2E./b", ok("/b"));
    check_normalize("//x", ok("/x"));
    check_normalize("/a//b///c", ok("/a/b/c"));
    check_normalize("/a/", ok("/a/"));
    check_normalize("/a/.", ok("/a/"));
    check_normalize("/a/b/..", ok("/a/"));
    check_normalize("/a/..", ok("/"));
    check_normalize("/.", ok("/"));
    check_normalize("/./", ok("/"));
    check_normalize("//", ok("/"));
    check_normalize("/...", ok("/..."));
    check_normalize("/a../..b", ok("/a../..b"));
    check_normalize("/a%20b", ok("/a b"));
    check_normalize("/a%2Fb", ok("/a/b"));
    check_normalize("/a%2f..%2fb", ok("/b"));
    check_normalize("/%41%42c", ok("/ABc"));
    check_normalize("/caf%C3%A9", ok("/café"));
    check_normalize("/a?b", ok("/a?b"));
    check_normalize("/a+b", ok("/a+b"));
    check_normalize("/%2e%2e/etc", Err(HttpError::PathEscapesRoot));
    check_normalize("/..", Err(HttpError::PathEscapesRoot));
    check_normalize("/a/../..", Err(HttpError::PathEscapesRoot));
    check_normalize("/a/../../b", Err(HttpError::PathEscapesRoot));
    check_normalize("/%2e%2E", Err(HttpError::PathEscapesRoot));
    check_normalize("/a/..%2f..%2fetc", Err(HttpError::PathEscapesRoot));
    check_normalize("/a%00", Err(HttpError::NulInPath));
    check_normalize("/a\0", Err(HttpError::NulInPath));
    check_normalize("/%zz", Err(HttpError::BadPercentEncoding));
    check_normalize("/%", Err(HttpError::BadPercentEncoding));
    check_normalize("/%4", Err(HttpError::BadPercentEncoding));
    check_normalize("/%4g", Err(HttpError::BadPercentEncoding));
    check_normalize("/%%41", Err(HttpError::BadPercentEncoding));
    check_normalize("", Err(HttpError::BadPath));
    check_normalize("a/b", Err(HttpError::BadPath));
    check_normalize("*", Err(HttpError::BadPath));
}

#[test]
fn path_normalization_of_raw_bytes() {
    assert_eq!(normalize_path(b"/a%ff"), Ok(b"/a\xff".to_vec()));
    assert_eq!(normalize_path(b"/\xff/../x"), Ok(b"/x".to_vec()));
}

fn check_keeping(raw: &str, expected: Result<&str, HttpError>) {
    let actual = render(normalize_path_keeping(raw.as_bytes(), b"/%"));
    assert_eq!(actual, expected.map(str::to_owned), "raw: {raw:?}");
}

#[test]
fn path_normalization_keeping_escapes() {
    let ok = Ok;
    check_keeping(
        "/config/listeners/127.0.0.1%3A80",
        ok("/config/listeners/127.0.0.1:80"),
    );
    check_keeping("/config/routes/a%2fb", ok("/config/routes/a%2Fb"));
    check_keeping("/config/a%2F..", ok("/config/a%2F.."));
    check_keeping("/config/100%25", ok("/config/100%25"));
    check_keeping("/config/%2e%2e", ok("/"));
    check_keeping("/config/", ok("/config/"));
    check_keeping("/%2e%2e", Err(HttpError::PathEscapesRoot));
    check_keeping("/x%00", Err(HttpError::NulInPath));
}

fn check_split(target: &str, expected: (&str, Option<&str>)) {
    assert_eq!(split_target(target), expected, "target: {target:?}");
}

#[test]
fn target_splitting() {
    check_split("/", ("/", None));
    check_split("/a/b", ("/a/b", None));
    check_split("/a?b=1", ("/a", Some("b=1")));
    check_split("/a?", ("/a", Some("")));
    check_split("/a?b?c", ("/a", Some("b?c")));
    check_split("/a%3Fb", ("/a%3Fb", None));
    check_split("*", ("*", None));
    check_split("http://example.com/p?q", ("/p", Some("q")));
    check_split("HTTPS://example.com:8443/p", ("/p", None));
    check_split("http://example.com", ("/", None));
    check_split("http://example.com?x", ("/", Some("x")));
    check_split("/#blah", ("/", None));
    check_split("/a?b#c?d", ("/a", Some("b")));
    check_split("#x", ("/", None));
}

fn check_decode(input: &str, plus_as_space: bool, expected: Result<&str, HttpError>) {
    let actual = render(percent_decode(input.as_bytes(), plus_as_space));
    assert_eq!(actual, expected.map(str::to_owned), "input: {input:?}");
}

#[test]
fn percent_decoding() {
    let ok = Ok;
    check_decode("", false, ok(""));
    check_decode("abc", false, ok("abc"));
    check_decode("a%20b", false, ok("a b"));
    check_decode("a+b", false, ok("a+b"));
    check_decode("a+b", true, ok("a b"));
    check_decode("a%2Bb", true, ok("a+b"));
    check_decode("%00", false, ok("\0"));
    check_decode("%e2%82%ac", false, ok("€"));
    check_decode("%", false, Err(HttpError::BadPercentEncoding));
    check_decode("%2", true, Err(HttpError::BadPercentEncoding));
    check_decode("%g0", false, Err(HttpError::BadPercentEncoding));
    check_decode("100%", false, Err(HttpError::BadPercentEncoding));
}

fn check_query(query: &str, expected: &[(&str, &str)]) {
    let actual = parse_query(query);
    let actual: Vec<(&str, &str)> = actual
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(actual, expected, "query: {query:?}");
}

#[test]
fn query_arguments() {
    check_query("", &[]);
    check_query("a=1", &[("a", "1")]);
    check_query("a=1&b=2&a=3", &[("a", "1"), ("b", "2"), ("a", "3")]);
    check_query("flag&x=", &[("flag", ""), ("x", "")]);
    check_query("a=b=c", &[("a", "b=c")]);
    check_query("&&a=1&", &[("a", "1")]);
    check_query("=v&n=1&=", &[("", "v"), ("n", "1")]);
    check_query("%25!%1=%$%2", &[("%!%1", "%$%2")]);
    check_query(" fo o = b a r&", &[(" fo o ", " b a r")]);
    check_query("q=hello+world%21", &[("q", "hello world!")]);
    check_query("na%6De=%7Bx%7D", &[("name", "{x}")]);
    check_query("bad=%zz&ok=1", &[("bad", "%zz"), ("ok", "1")]);
    check_query("a;b=1", &[("a;b", "1")]);
}

#[test]
fn normal_paths_are_recognised() {
    let samples: [&[u8]; 16] = [
        b"/",
        b"/a",
        b"/a/b.txt",
        b"/a./b",
        b"/a/",
        b"/.a",
        b"/a//b",
        b"//",
        b"/a/.",
        b"/a/..",
        b"/%41",
        b"/a/./b",
        b"a",
        b"",
        b"/a\0b",
        b"/x/y.z/",
    ];
    for raw in samples {
        if is_normal_path(raw) {
            assert_eq!(
                normalize_path(raw).as_deref(),
                Ok(raw),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
    assert!(is_normal_path(b"/a/b.txt"));
    assert!(is_normal_path(b"/a/"));
    assert!(
        !is_normal_path(b"/.a"),
        "a dot after a slash takes the careful path"
    );
    assert!(!is_normal_path(b"/a//b"));
    assert!(!is_normal_path(b"/%41"));
    assert!(!is_normal_path(b"a"));
}

#[test]
fn paths_encoded_for_a_request_line() {
    let cases: &[(&[u8], &str)] = &[
        (b"/plain/path.html", "/plain/path.html"),
        (b"/keep-._~!$&'()*+,;=:@/", "/keep-._~!$&'()*+,;=:@/"),
        (b"/a b", "/a%20b"),
        (b"/100%", "/100%25"),
        (b"/what?#", "/what%3F%23"),
        (b"/line\r\nX-Injected: 1", "/line%0D%0AX-Injected:%201"),
        ("/caf\u{e9}".as_bytes(), "/caf%C3%A9"),
        (b"/\x7f\"<>\\^`{|}", "/%7F%22%3C%3E%5C%5E%60%7B%7C%7D"),
    ];
    for (path, expected) in cases {
        let mut out = Vec::new();
        percent_encode(path, is_path_byte, |byte| out.push(byte));
        assert_eq!(String::from_utf8_lossy(&out), *expected, "{path:?}");
    }
}

fn check_location(location: &str, expected: &str) {
    let encoded = encode_location(location.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&encoded),
        expected,
        "location: {location:?}"
    );
}

#[test]
fn locations_are_encoded_as_unit_does() {
    let reserved = ":/?#[]@!&'()*+,;=";
    check_location(reserved, reserved);
    // After the first `?` every other `?` is encoded; after the first `#`, `?` and `#`.
    check_location(&format!("/?{reserved}"), "/?:/%3F#[]@!&'()*+,;=");
    check_location("???", "?%3F%3F");
    check_location(&format!("/#{reserved}"), "/#:/%3F%23[]@!&'()*+,;=");
    check_location("##?#?", "#%23%3F%23%3F");
    check_location("??##", "?%3F#%23");
    check_location("/?##?", "/?#%23%3F");
    let unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    check_location(unreserved, unreserved);
    // Unsafe bytes, controls and non-ASCII are always encoded.
    check_location(" \"%<>\\^`{|}", "%20%22%25%3C%3E%5C%5E%60%7B%7C%7D");
    check_location("\u{0}\u{18}\u{1f} !", "%00%18%1F%20!");
    check_location("\u{7f}\u{80}н₽", "%7F%C2%80%D0%BD%E2%82%BD");
    // A value already encoded is kept; one byte to encode encodes it all, `%` too.
    check_location("%20", "%20");
    check_location("/%20?%20#%20", "/%20?%20#%20");
    check_location(" %20", "%20%2520");
    check_location("/%20?%20#%20 ", "/%2520?%2520#%2520%20");
    check_location("", "");
}
