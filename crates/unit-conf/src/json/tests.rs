//! JSON body parser tests: one `check` row per case, comparing the compact rendering of
//! the parsed value, or `error <offset> <line>:<column> <detail>` (with `-` for an unknown
//! line or column).

use serde_json::{Value, json};

use super::*;

fn check(input: &[u8], expected: &str) {
    let actual = match parse_json(input) {
        Ok(value) => value.to_string(),
        Err(json_error) => render_error(&json_error),
    };
    assert_eq!(
        actual,
        expected,
        "input {:?}",
        String::from_utf8_lossy(input)
    );
}

fn render_error(json_error: &JsonError) -> String {
    let show = |number: Option<usize>| number.map_or_else(|| "-".to_owned(), |n| n.to_string());
    format!(
        "error {} {}:{} {}",
        json_error.offset,
        show(json_error.line),
        show(json_error.column),
        json_error.detail
    )
}

fn check_all(cases: &[(&[u8], &str)]) {
    for &(input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn scalars() {
    check_all(&[
        (b"null", "null"),
        (b"true", "true"),
        (b"false", "false"),
        (b"\"\"", "\"\""),
        (b"\"text\"", "\"text\""),
        (b" \t\r\n 7 \r\n\t ", "7"),
    ]);
}

#[test]
fn numbers_keep_their_spelling() {
    check_all(&[
        (b"0", "0"),
        (b"-0", "-0"),
        (b"1.50", "1.50"),
        // serde_json writes an exponent with a lower-case `e` and an explicit sign.
        (b"1e3", "1e+3"),
        (b"1E+03", "1e+03"),
        (b"2E-1", "2e-1"),
        (b"-12.5e-3", "-12.5e-3"),
        (b"0.0", "0.0"),
        (b"[10, -0.000, 2e0]", "[10,-0.000,2e+0]"),
        // Fourteen characters is the longest allowed spelling.
        (b"12345678901234", "12345678901234"),
        (b"-1234567890123", "-1234567890123"),
        (b"1.234567890123", "1.234567890123"),
        (b"9.2e18", "9.2e+18"),
        (b"-9.2e18", "-9.2e+18"),
        (b"1e-300", "1e-300"),
    ]);
}

#[test]
fn strings_and_escapes() {
    check_all(&[
        (br#""\"\\\/\b\f\n\r\t""#, r#""\"\\/\b\f\n\r\t""#),
        (br#""\u0041\u00e9\u00E9""#, "\"A\u{e9}\u{e9}\""),
        (br#""\ud83d\ude00""#, "\"\u{1f600}\""),
        (br#""\uD83D\uDE00x""#, "\"\u{1f600}x\""),
        (br#""\u0000""#, r#""\u0000""#),
        (
            "\"caf\u{e9} \u{65e5}\u{672c} \u{1f600}\"".as_bytes(),
            "\"caf\u{e9} \u{65e5}\u{672c} \u{1f600}\"",
        ),
        (b"\"tab\\tand\x7f\"", "\"tab\\tand\x7f\""),
        (
            br#""//not a comment /* either */""#,
            r#""//not a comment /* either */""#,
        ),
    ]);
}

#[test]
fn arrays_and_objects() {
    check_all(&[
        (b"[]", "[]"),
        (b"{}", "{}"),
        (b"[ ]", "[]"),
        (b"{ \n }", "{}"),
        (b"[[]]", "[[]]"),
        (b"[{}, [], {\"a\": []}]", "[{},[],{\"a\":[]}]"),
        (b"{\"z\": 1, \"a\": 2, \"m\": 3}", "{\"z\":1,\"a\":2,\"m\":3}"),
        (b"{\"\": 0}", "{\"\":0}"),
        (
            b"{\"listeners\": {\"*:80\": {\"pass\": \"routes\"}}, \"routes\": [{\"action\": {\"return\": 204}}]}",
            "{\"listeners\":{\"*:80\":{\"pass\":\"routes\"}},\"routes\":[{\"action\":{\"return\":204}}]}",
        ),
        // The same name in different objects is not a duplicate.
        (b"[{\"a\": 1}, {\"a\": 2}]", "[{\"a\":1},{\"a\":2}]"),
        (b"{\"a\": {\"a\": {\"a\": null}}}", "{\"a\":{\"a\":{\"a\":null}}}"),
        // Names differing only in case are different.
        (b"{\"a\": 1, \"A\": 2}", "{\"a\":1,\"A\":2}"),
    ]);
}

#[test]
fn comments_anywhere_whitespace_may_be() {
    check_all(&[
        (b"/* before */ 1", "1"),
        (b"1 /* after */", "1"),
        (b"1 // after, no newline", "1"),
        (b"// first line\n// second line\r\n1", "1"),
        (b"/**/1/**/", "1"),
        (b"/***/1", "1"),
        (b"/* * / */1", "1"),
        (b"/* // */ 1", "1"),
        (b"// /* \n1", "1"),
        (b"/* \"quoted\" */ \"s\"", "\"s\""),
        (
            b"/*a*/{/*b*/\"k\"/*c*/:/*d*/1/*e*/,//f\n\"l\"//g\n:[/*h*/1//i\n,/*j*/2/*k*/]/*l*/}/*m*/",
            "{\"k\":1,\"l\":[1,2]}",
        ),
        (b"[//x\n]", "[]"),
        (b"{/*x*/}", "{}"),
        (b"{\"a\"/**/:/**/true}", "{\"a\":true}"),
        // Comment text is skipped without a UTF-8 check.
        (b"/* \xff\xfe */ 1", "1"),
        (b"// \xc3\n1", "1"),
    ]);
}

#[test]
fn byte_order_mark_is_skipped() {
    check_all(&[
        (b"\xEF\xBB\xBF{\"a\": 1}", "{\"a\":1}"),
        (b"\xEF\xBB\xBF 1", "1"),
        // Offsets are counted after the BOM.
        (
            b"\xEF\xBB\xBF{\"a\":1,\"a\":2}",
            "error 7 1:8 Duplicate object member.",
        ),
        (
            b"\xEF\xBB\xBF",
            "error 0 1:1 An empty JSON payload isn't allowed. The body must hold one JSON value: \
             null, true, false, a number, a string, an array or an object.",
        ),
        // Only one BOM, and only at the start.
        (
            b"\xEF\xBB\xBF\xEF\xBB\xBF1",
            "error 0 1:1 Unexpected character. A value must be null, true, false, a number, a \
             string, an array or an object.",
        ),
        (
            b"1\xEF\xBB\xBF",
            "error 1 1:2 Unexpected character after the JSON value. Only whitespace and comments \
             may follow it.",
        ),
    ]);
}

#[test]
fn empty_payload() {
    let empty = "An empty JSON payload isn't allowed. The body must hold one JSON value: null, \
                 true, false, a number, a string, an array or an object.";
    check_all(&[
        (b"", &format!("error 0 1:1 {empty}")),
        (b"  \n  ", &format!("error 5 2:3 {empty}")),
        (b"/* c */ // d", &format!("error 12 1:13 {empty}")),
        (b"// only a comment\n", &format!("error 18 2:1 {empty}")),
    ]);
}

#[test]
fn unexpected_end() {
    let end = "Unexpected end of JSON payload.";
    let in_string = "Unexpected end of JSON payload. A string is missing its closing double quote.";
    let in_comment =
        "Unexpected end of JSON payload. A \"/*\" comment is missing its closing \"*/\".";
    check_all(&[
        (b"[", &format!("error 1 1:2 {end}")),
        (b"[1, 2", &format!("error 5 1:6 {end}")),
        (b"[1,", &format!("error 3 1:4 {end}")),
        (b"{", &format!("error 1 1:2 {end}")),
        (b"{\"a\"", &format!("error 4 1:5 {end}")),
        (b"{\"a\":", &format!("error 5 1:6 {end}")),
        (b"{\"a\": 1", &format!("error 7 1:8 {end}")),
        (b"{\"a\": 1,", &format!("error 8 1:9 {end}")),
        (b"tr", &format!("error 2 1:3 {end}")),
        (b"nul", &format!("error 3 1:4 {end}")),
        (b"-", &format!("error 1 1:2 {end}")),
        (b"1.", &format!("error 2 1:3 {end}")),
        (b"1e", &format!("error 2 1:3 {end}")),
        (b"1e-", &format!("error 3 1:4 {end}")),
        (b"1 /", &format!("error 3 1:4 {end}")),
        (b"\"abc", &format!("error 4 1:5 {in_string}")),
        (b"\"abc\\", &format!("error 5 1:6 {in_string}")),
        (b"\"\\u12", &format!("error 5 1:6 {in_string}")),
        (b"/* open", &format!("error 7 1:8 {in_comment}")),
        (b"1 /* open *", &format!("error 11 1:12 {in_comment}")),
        (b"[1, /* open\n", &format!("error 12 2:1 {in_comment}")),
    ]);
}

#[test]
fn duplicate_members() {
    let duplicate = "Duplicate object member.";
    check_all(&[
        (b"{\"a\":1,\"a\":2}", &format!("error 7 1:8 {duplicate}")),
        (
            b"{\"a\":1,\"b\":2,\"a\":3}",
            &format!("error 13 1:14 {duplicate}"),
        ),
        // Names are compared after unescaping.
        (
            br#"{"a":1,"\u0061":2}"#,
            &format!("error 7 1:8 {duplicate}"),
        ),
        // Duplicates nested inside arrays and objects.
        (
            b"[{\"a\":1},{\"b\":1,\"b\":2}]",
            &format!("error 16 1:17 {duplicate}"),
        ),
        (
            b"[1,{\"x\":[{\"k\":true,\"k\":false}]}]",
            &format!("error 19 1:20 {duplicate}"),
        ),
        (
            b"{\"a\":{\"b\":[[{\"c\":{},\"c\":[]}]]}}",
            &format!("error 20 1:21 {duplicate}"),
        ),
        // The empty name counts too.
        (b"{\"\":1,\"\":2}", &format!("error 6 1:7 {duplicate}")),
    ]);
}

#[test]
fn number_errors() {
    let too_long = "The number is too long.";
    let out_of_range = "The number is out of range. Numbers must lie between \
                        -9223372036854775807 and 9223372036854775807.";
    let minus = "Invalid number. A minus sign must be followed by a digit.";
    let leading_zero = "Invalid number. A leading zero can't be followed by more digits.";
    let fraction = "Invalid number. A decimal point must be followed by a digit.";
    let exponent = "Invalid number. An exponent must have at least one digit.";
    let not_a_value = "Unexpected character. A value must be null, true, false, a number, a \
                       string, an array or an object.";
    check_all(&[
        (b"123456789012345", &format!("error 0 1:1 {too_long}")),
        (b"-12345678901234", &format!("error 0 1:1 {too_long}")),
        (b"1.2345678901234", &format!("error 0 1:1 {too_long}")),
        (b"[1, 0.00000000000001]", &format!("error 4 1:5 {too_long}")),
        (b"9223372036854775807", &format!("error 0 1:1 {too_long}")),
        // Found by fuzzing (`json`): 14 characters as written, 15 once the exponent is
        // normalized, so the printed value (and a stored `conf.json`) did not parse again.
        (b"[123456789012E1]", &format!("error 1 1:2 {too_long}")),
        (b"12345678901E1", "12345678901e+1"),
        (b"12345678901e+1", "12345678901e+1"),
        (b"1e19", &format!("error 0 1:1 {out_of_range}")),
        (b"-9.3e18", &format!("error 0 1:1 {out_of_range}")),
        (b"9.223372037e18", &format!("error 0 1:1 {out_of_range}")),
        (b"1e400", &format!("error 0 1:1 {out_of_range}")),
        (b"{\"n\": -1E999}", &format!("error 6 1:7 {out_of_range}")),
        (b"-a", &format!("error 1 1:2 {minus}")),
        (b"- 1", &format!("error 1 1:2 {minus}")),
        (b"--1", &format!("error 1 1:2 {minus}")),
        (b"01", &format!("error 1 1:2 {leading_zero}")),
        (b"-00", &format!("error 2 1:3 {leading_zero}")),
        (b"1.x", &format!("error 2 1:3 {fraction}")),
        (b"1.e5", &format!("error 2 1:3 {fraction}")),
        (b"1ex", &format!("error 2 1:3 {exponent}")),
        (b"1e+x", &format!("error 3 1:4 {exponent}")),
        (b".5", &format!("error 0 1:1 {not_a_value}")),
        (b"+1", &format!("error 0 1:1 {not_a_value}")),
        (b"[NaN]", &format!("error 1 1:2 {not_a_value}")),
    ]);
}

#[test]
fn string_errors() {
    let control = "A string can't contain raw control characters. Write them as escapes such \
                   as \\n or \\u0001.";
    let utf8 = "The string isn't valid UTF-8.";
    let escape = "Invalid escape sequence. A backslash must be followed by one of \" \\ / b f n r \
                  t u.";
    let hex = "Invalid \\u escape. It must be followed by four hexadecimal digits.";
    let high = "Invalid \\u escape. A high surrogate must be followed by a \\u escape of a low \
                surrogate.";
    let low = "Invalid \\u escape. A low surrogate must follow a \\u escape of a high surrogate.";
    check_all(&[
        (b"\"a\x01\"", &format!("error 2 1:3 {control}")),
        (b"\"line\nbreak\"", &format!("error 5 1:6 {control}")),
        (b"\"tab\there\"", &format!("error 4 1:5 {control}")),
        (b"\"\x00\"", &format!("error 1 1:2 {control}")),
        (b"\"\xff\"", &format!("error 1 1:2 {utf8}")),
        (b"\"ab\xc3\x28\"", &format!("error 3 1:4 {utf8}")),
        // An encoded surrogate and an overlong encoding are not UTF-8 either.
        (b"\"\xed\xa0\x80\"", &format!("error 1 1:2 {utf8}")),
        (b"\"\xc0\xaf\"", &format!("error 1 1:2 {utf8}")),
        (b"\"\xc3\xa9\xc3\xa9\xff\"", &format!("error 5 1:4 {utf8}")),
        (br#""\q""#, &format!("error 2 1:3 {escape}")),
        (br#""\U0041""#, &format!("error 2 1:3 {escape}")),
        (br#""\x41""#, &format!("error 2 1:3 {escape}")),
        (br#""\u12G4""#, &format!("error 5 1:6 {hex}")),
        (br#""\u""#, &format!("error 3 1:4 {hex}")),
        (br#""\ud800""#, &format!("error 1 1:2 {high}")),
        (br#""ab\ud800x""#, &format!("error 3 1:4 {high}")),
        (br#""\ud800\u0041""#, &format!("error 1 1:2 {high}")),
        (br#""\ud800\ud800""#, &format!("error 1 1:2 {high}")),
        (br#""\ud800\uzzzz""#, &format!("error 9 1:10 {hex}")),
        (br#""\udc00""#, &format!("error 1 1:2 {low}")),
        (br#""\ude00\ud83d""#, &format!("error 1 1:2 {low}")),
    ]);
}

#[test]
fn structure_errors() {
    let not_a_value = "Unexpected character. A value must be null, true, false, a number, a \
                       string, an array or an object.";
    let literal = "Unexpected character in a literal. The only literals are true, false and \
                   null.";
    let trailing = "Unexpected character after the JSON value. Only whitespace and comments may \
                    follow it.";
    let slash = "Unexpected character after \"/\". A comment starts with \"//\" or \"/*\".";
    let array_separator =
        "Unexpected character. An array element must be followed by \",\" or \"]\".";
    let object_separator =
        "Unexpected character. An object member must be followed by \",\" or \"}\".";
    let member_name =
        "Unexpected character. An object member name must be a string in double quotes.";
    let colon = "Unexpected character. An object member name must be followed by \":\".";
    let trailing_comma =
        "A comma must be followed by another element or member; a trailing comma isn't allowed.";
    check_all(&[
        (b"True", &format!("error 0 1:1 {not_a_value}")),
        (b"'a'", &format!("error 0 1:1 {not_a_value}")),
        (b"[,]", &format!("error 1 1:2 {not_a_value}")),
        (b"{\"a\":}", &format!("error 5 1:6 {not_a_value}")),
        (b"]", &format!("error 0 1:1 {not_a_value}")),
        (b"trux", &format!("error 3 1:4 {literal}")),
        (b"nil", &format!("error 1 1:2 {literal}")),
        (b"fals e", &format!("error 4 1:5 {literal}")),
        (b"1 2", &format!("error 2 1:3 {trailing}")),
        (b"{} x", &format!("error 3 1:4 {trailing}")),
        (b"truex", &format!("error 4 1:5 {trailing}")),
        (b"[1]]", &format!("error 3 1:4 {trailing}")),
        (b"\"a\"\"b\"", &format!("error 3 1:4 {trailing}")),
        (b"1.5.3", &format!("error 3 1:4 {trailing}")),
        (b"/x 1", &format!("error 1 1:2 {slash}")),
        (b"[1 /x]", &format!("error 4 1:5 {slash}")),
        (b"1 # comment", &format!("error 2 1:3 {trailing}")),
        (b"[1 2]", &format!("error 3 1:4 {array_separator}")),
        (b"[1:2]", &format!("error 2 1:3 {array_separator}")),
        (b"[1}", &format!("error 2 1:3 {array_separator}")),
        (
            b"{\"a\":1 \"b\":2}",
            &format!("error 7 1:8 {object_separator}"),
        ),
        (b"{\"a\":1]", &format!("error 6 1:7 {object_separator}")),
        (b"{,}", &format!("error 1 1:2 {member_name}")),
        (b"{1:2}", &format!("error 1 1:2 {member_name}")),
        (b"{a:1}", &format!("error 1 1:2 {member_name}")),
        (b"{\"a\":1,,}", &format!("error 7 1:8 {member_name}")),
        (b"{\"a\" 1}", &format!("error 5 1:6 {colon}")),
        (b"{\"a\"=1}", &format!("error 4 1:5 {colon}")),
        (b"[1,]", &format!("error 2 1:3 {trailing_comma}")),
        (b"[1, /* c */ ]", &format!("error 2 1:3 {trailing_comma}")),
        (b"{\"a\":1 , }", &format!("error 7 1:8 {trailing_comma}")),
    ]);
}

#[test]
fn positions_count_lines_and_characters() {
    let duplicate = "Duplicate object member.";
    let array_separator =
        "Unexpected character. An array element must be followed by \",\" or \"]\".";
    let trailing_comma =
        "A comma must be followed by another element or member; a trailing comma isn't allowed.";
    check_all(&[
        // Several lines, with CR LF breaks: CR is an ordinary character of the line.
        (
            b"{\n  \"a\": 1,\n  \"a\": 2\n}",
            &format!("error 14 3:3 {duplicate}"),
        ),
        (
            b"{\r\n\t\"a\": 1,\r\n\t\"a\": 2\r\n}",
            &format!("error 14 3:2 {duplicate}"),
        ),
        // Multibyte characters before the error: the column counts characters.
        (
            "[\"\u{65e5}\u{672c}\u{8a9e}\", x]".as_bytes(),
            "error 14 1:9 Unexpected character. A value must be null, true, false, a number, a \
             string, an array or an object.",
        ),
        (
            "{\"\u{e9}\":1,\n \"\u{e9}\u{e9}\":2 3}".as_bytes(),
            &format!(
                "error 19 2:9 {}",
                "Unexpected character. An object member must be \
                                           followed by \",\" or \"}\"."
            ),
        ),
        (
            "{\"\u{e9}\":1,\"\u{e9}\":2}".as_bytes(),
            &format!("error 8 1:8 {duplicate}"),
        ),
        // Invalid UTF-8 before the error (inside a comment): no line or column.
        (
            b"/* \xff */ [1,]",
            &format!("error 10 -:- {trailing_comma}"),
        ),
        (b"// \xc3\n[1 2]", &format!("error 8 -:- {array_separator}")),
        // Invalid UTF-8 after the error does not matter.
        (b"[1 2] // \xff", &format!("error 3 1:4 {array_separator}")),
    ]);
}

#[test]
fn nesting_depth_is_limited() {
    let too_deep = "The JSON value is nested too deeply. At most 400 levels of arrays and objects are \
         allowed.";
    let deepest_arrays = format!("{}{}", "[".repeat(400), "]".repeat(400));
    check(deepest_arrays.as_bytes(), &deepest_arrays);

    let too_deep_arrays = format!("{}{}", "[".repeat(401), "]".repeat(401));
    check(
        too_deep_arrays.as_bytes(),
        &format!("error 400 1:401 {too_deep}"),
    );

    let deepest_objects = format!("{}1{}", "{\"a\":".repeat(400), "}".repeat(400));
    check(deepest_objects.as_bytes(), &deepest_objects);

    let too_deep_mixed = format!("{}{{}}", "[{\"k\":".repeat(256));
    check(
        too_deep_mixed.as_bytes(),
        &format!("error {} 1:{} {too_deep}", 200 * 6, 200 * 6 + 1),
    );

    // Far deeper input is refused without exhausting the stack.
    let very_deep = "[".repeat(1_000_000);
    check(very_deep.as_bytes(), &format!("error 400 1:401 {too_deep}"));
}

#[test]
fn the_depth_limit_counts_the_levels_above_the_body() {
    let three_deep = b"[[[1]]]";
    assert!(parse_json_below(three_deep, 397).is_ok());
    let json_error = parse_json_below(three_deep, 398).expect_err("401 levels in all");
    assert_eq!(
        render_error(&json_error)
            .split_once(" The")
            .map(|(at, _)| at),
        Some("error 2 1:3")
    );
    assert!(
        parse_json_below(b"1", 400).is_ok(),
        "a scalar opens no level"
    );
    assert!(parse_json_below(b"[]", 1000).is_err());
}

#[test]
fn error_display() {
    let json_error = parse_json(b"{\n\"a\":1,\"a\":2}").expect_err("duplicate member");
    assert_eq!(
        json_error.to_string(),
        "invalid JSON at byte offset 8 (line 2, column 7): Duplicate object member."
    );
    let json_error = parse_json(b"// \xff\n[1 2]").expect_err("missing comma");
    assert_eq!(
        json_error.to_string(),
        "invalid JSON at byte offset 8: Unexpected character. An array element must be \
         followed by \",\" or \"]\"."
    );
}

/// A small deterministic generator of JSON documents (xorshift64*), so the comparison
/// with serde_json covers many shapes without a random-testing dependency.
struct DocumentGenerator {
    state: u64,
}

impl DocumentGenerator {
    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "key",
            " ",
            "\"",
            "\\",
            "/",
            "\n",
            "\t",
            "\u{1}",
            "\u{1f}",
            "\u{7f}",
            "\u{e9}",
            "\u{65e5}",
            "\u{1f600}",
            "//",
            "/*",
            "*/",
            "\u{feff}",
        ];
        let n_pieces = self.below(6);
        (0..n_pieces)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn value(&mut self, depth: usize) -> Value {
        let kind = if depth >= 4 {
            self.below(5)
        } else {
            self.below(7)
        };
        match kind {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 1),
            2 => {
                let integer = self.below(2_000_001) as i64 - 1_000_000;
                json!(integer)
            }
            3 => {
                // Eighths print exactly and stay short.
                let eighths = self.below(16_001) as f64 - 8_000.0;
                json!(eighths / 8.0)
            }
            4 => Value::String(self.string()),
            5 => {
                let n_elements = self.below(4);
                Value::Array((0..n_elements).map(|_| self.value(depth + 1)).collect())
            }
            _ => {
                let n_members = self.below(4);
                let mut members = Map::new();
                for _ in 0..n_members {
                    let name = self.string();
                    let member_value = self.value(depth + 1);
                    members.insert(name, member_value);
                }
                Value::Object(members)
            }
        }
    }
}

#[test]
fn agrees_with_serde_json() {
    let mut document_generator = DocumentGenerator {
        state: 0x9E37_79B9_7F4A_7C15,
    };
    for _ in 0..300 {
        let document = document_generator.value(0);
        let compact = serde_json::to_string(&document).expect("a Value always serializes");
        let pretty = serde_json::to_string_pretty(&document).expect("a Value always serializes");
        for text in [compact, pretty] {
            let expected: Value = serde_json::from_str(&text).expect("serde_json reads its output");
            let actual = parse_json(text.as_bytes())
                .unwrap_or_else(|json_error| panic!("{json_error} in {text}"));
            assert_eq!(actual, expected, "document {text}");
            assert_eq!(actual.to_string(), expected.to_string(), "document {text}");
        }
    }
}
