//! The JSON body parser of the control API (UNIT-COMPAT 2.4).
//!
//! [`parse_json`] accepts standard JSON with the extensions and limits `unitd` applies to
//! request bodies: a leading UTF-8 byte order mark is skipped, `//` and `/* */` comments
//! may appear wherever whitespace may and are dropped, duplicate object member names are
//! refused, numbers are at most 14 characters long (as written, and as printed once the
//! exponent is normalized, see below) and no larger in magnitude than 2^63 − 1, and
//! arrays and objects nest at most 400 levels deep. Members keep
//! their order and numbers keep the spelling they had in the body (`1.50` stays `1.50`, `-0`
//! stays `-0`), except that serde_json's documented number parser writes an exponent with a
//! lower-case `e` and an explicit sign (`1E3` becomes `1e+3`).
//!
//! Errors carry a `detail` sentence and the position of the offending byte, which the
//! control API puts into its `{"error": "Invalid JSON.", ...}` response.
//!
//! The parser works with an explicit stack rather than recursion, so no input can exhaust
//! the thread's stack, and the depth limit holds before anything that recurses over a
//! value (the validator, cloning, printing, dropping) sees it. Comment text is skipped byte by byte and is not checked for valid
//! UTF-8; everything else outside strings is ASCII. What this module deliberately does not
//! do: validate the configuration's meaning (names, types of members), or render JSON.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Number, Value};

/// A JSON syntax error as the control API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// A full sentence saying what is wrong, e.g. `Duplicate object member.`
    pub detail: String,
    /// Byte offset of the offending byte in the body, counted after a skipped UTF-8 BOM.
    pub offset: usize,
    /// 1-based line of the offending byte; `None` when the text before it is not valid
    /// UTF-8.
    pub line: Option<usize>,
    /// 1-based column of the offending byte, counted in UTF-8 characters; `None` when the
    /// text before it is not valid UTF-8.
    pub column: Option<usize>,
}

impl JsonError {
    /// Builds the error for `detail` at `offset` in `text` (the body without its BOM),
    /// working out the line and column from the text before the offset.
    fn new(text: &[u8], offset: usize, detail: impl Into<String>) -> JsonError {
        let before = text.get(..offset).unwrap_or(text);
        let (line, column) = match std::str::from_utf8(before) {
            Ok(before) => {
                let line = before.matches('\n').count() + 1;
                let line_start = before.rfind('\n').map_or(0, |newline_idx| newline_idx + 1);
                let column = before[line_start..].chars().count() + 1;
                (Some(line), Some(column))
            }
            Err(_) => (None, None),
        };
        JsonError {
            detail: detail.into(),
            offset,
            line,
            column,
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte offset {}", self.offset)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, " (line {line}, column {column})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

impl std::error::Error for JsonError {}

/// Parses a request body into a [`Value`].
///
/// Object members keep their order (serde_json's `preserve_order`) and numbers keep the
/// spelling they had in the body (`arbitrary_precision`), so `1.50` is echoed back as
/// `1.50`; only an exponent is normalized to `e+`/`e-`. See the module documentation for
/// the accepted syntax.
pub fn parse_json(body: &[u8]) -> Result<Value, JsonError> {
    parse_json_below(body, 0)
}

/// Parses a request body whose value goes `enclosing_depth` arrays and objects deep into
/// the configuration tree (a `PUT` of `/config/routes/0` puts it two levels down), so
/// that the whole tree keeps to the depth limit, not only the body.
pub fn parse_json_below(body: &[u8], enclosing_depth: usize) -> Result<Value, JsonError> {
    let text = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    let mut parser = Parser {
        text,
        pos: 0,
        max_open: MAX_DEPTH.saturating_sub(enclosing_depth),
    };
    parser.skip_space()?;
    if parser.peek().is_none() {
        return Err(parser.error(parser.pos, EMPTY));
    }
    let value = parser.parse_value()?;
    parser.skip_space()?;
    if parser.peek().is_some() {
        return Err(parser.error(parser.pos, TRAILING));
    }
    Ok(value)
}

/// How many arrays and objects may be open at once. Unit's recursive parser has no limit,
/// and serde_json's recursion limit (128) is too low for a long chain of share `fallback`
/// actions, the one place a configuration may nest without bound. Code that walks a
/// value recursively (the validator, the typed model, the router's compiler, cloning,
/// printing, dropping) then never runs deeper than this.
const MAX_DEPTH: usize = 400;

/// How many characters a number may have, sign, fraction and exponent included.
const MAX_NUMBER_LEN: usize = 14;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

// === Error details ===
//
// Every detail is a full sentence. The ones the specification names start with its words;
// the control API's clients may match on those prefixes.

const EMPTY: &str = "An empty JSON payload isn't allowed. The body must hold one JSON value: \
                     null, true, false, a number, a string, an array or an object.";
const END: &str = "Unexpected end of JSON payload.";
const END_IN_STRING: &str = "Unexpected end of JSON payload. A string is missing its closing \
                             double quote.";
const END_IN_COMMENT: &str = "Unexpected end of JSON payload. A \"/*\" comment is missing its \
                              closing \"*/\".";
const DUPLICATE: &str = "Duplicate object member.";
const TOO_LONG: &str = "The number is too long.";
const OUT_OF_RANGE: &str = "The number is out of range. Numbers must lie between \
                            -9223372036854775807 and 9223372036854775807.";
const TOO_DEEP: &str = "The JSON value is nested too deeply. At most 400 levels of arrays and \
                        objects are allowed.";
const TRAILING: &str = "Unexpected character after the JSON value. Only whitespace and \
                        comments may follow it.";
const NOT_A_VALUE: &str = "Unexpected character. A value must be null, true, false, a number, \
                           a string, an array or an object.";
const BAD_LITERAL: &str = "Unexpected character in a literal. The only literals are true, \
                           false and null.";
const BAD_SLASH: &str = "Unexpected character after \"/\". A comment starts with \"//\" or \
                         \"/*\".";
const ARRAY_SEPARATOR: &str = "Unexpected character. An array element must be followed by \",\" \
                               or \"]\".";
const OBJECT_SEPARATOR: &str = "Unexpected character. An object member must be followed by \",\" \
                                or \"}\".";
const MEMBER_NAME: &str = "Unexpected character. An object member name must be a string in \
                           double quotes.";
const COLON: &str = "Unexpected character. An object member name must be followed by \":\".";
const TRAILING_COMMA: &str = "A comma must be followed by another element or member; a \
                              trailing comma isn't allowed.";
const CONTROL_CHARACTER: &str = "A string can't contain raw control characters. Write them as \
                                 escapes such as \\n or \\u0001.";
const INVALID_UTF8: &str = "The string isn't valid UTF-8.";
const BAD_ESCAPE: &str = "Invalid escape sequence. A backslash must be followed by one of \
                          \" \\ / b f n r t u.";
const BAD_HEX: &str = "Invalid \\u escape. It must be followed by four hexadecimal digits.";
const LONE_HIGH_SURROGATE: &str = "Invalid \\u escape. A high surrogate must be followed by a \
                                   \\u escape of a low surrogate.";
const LONE_LOW_SURROGATE: &str = "Invalid \\u escape. A low surrogate must follow a \\u escape \
                                  of a high surrogate.";
const BAD_MINUS: &str = "Invalid number. A minus sign must be followed by a digit.";
const LEADING_ZERO: &str = "Invalid number. A leading zero can't be followed by more digits.";
const BAD_FRACTION: &str = "Invalid number. A decimal point must be followed by a digit.";
const BAD_EXPONENT: &str = "Invalid number. An exponent must have at least one digit.";

// === impl Parser ===

/// The body being parsed and the position of the next byte to look at.
struct Parser<'a> {
    /// The body without its BOM; offsets are relative to it.
    text: &'a [u8],
    pos: usize,
    /// How many arrays and objects of the body may be open at once.
    max_open: usize,
}

/// An array or object whose closing bracket has not been seen yet.
enum OpenContainer {
    Array(Vec<Value>),
    /// `name` is the member whose value is being parsed.
    Object {
        members: Map<String, Value>,
        name: String,
    },
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn error(&self, offset: usize, detail: &str) -> JsonError {
        JsonError::new(self.text, offset, detail)
    }

    fn end_error(&self) -> JsonError {
        self.error(self.text.len(), END)
    }

    /// Skips whitespace and comments.
    fn skip_space(&mut self) -> Result<(), JsonError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.pos += 1,
                Some(b'/') => match self.text.get(self.pos + 1) {
                    Some(b'/') => {
                        let rest = &self.text[self.pos + 2..];
                        self.pos = match rest.iter().position(|&byte| byte == b'\n') {
                            Some(newline_idx) => self.pos + 2 + newline_idx + 1,
                            None => self.text.len(),
                        };
                    }
                    Some(b'*') => {
                        let rest = &self.text[self.pos + 2..];
                        match rest.windows(2).position(|pair| pair == b"*/") {
                            Some(close_idx) => self.pos += 2 + close_idx + 2,
                            None => return Err(self.error(self.text.len(), END_IN_COMMENT)),
                        }
                    }
                    Some(_) => return Err(self.error(self.pos + 1, BAD_SLASH)),
                    None => return Err(self.end_error()),
                },
                _ => return Ok(()),
            }
        }
    }

    /// Parses one value that starts at the current position (whitespace already
    /// skipped), arrays and objects included, and leaves the position right after it.
    fn parse_value(&mut self) -> Result<Value, JsonError> {
        let mut open_containers: Vec<OpenContainer> = Vec::new();
        'value: loop {
            let mut value = match self.peek() {
                None => return Err(self.end_error()),
                Some(bracket @ (b'[' | b'{')) => {
                    if open_containers.len() >= self.max_open {
                        return Err(self.error(self.pos, TOO_DEEP));
                    }
                    self.pos += 1;
                    self.skip_space()?;
                    if bracket == b'[' {
                        if self.peek() == Some(b']') {
                            self.pos += 1;
                            Value::Array(Vec::new())
                        } else {
                            open_containers.push(OpenContainer::Array(Vec::new()));
                            continue 'value;
                        }
                    } else if self.peek() == Some(b'}') {
                        self.pos += 1;
                        Value::Object(Map::new())
                    } else {
                        let members = Map::new();
                        let name = self.parse_member_name(&members)?;
                        open_containers.push(OpenContainer::Object { members, name });
                        continue 'value;
                    }
                }
                Some(b'"') => Value::String(self.parse_string()?),
                Some(b'-' | b'0'..=b'9') => Value::Number(self.parse_number()?),
                Some(b't') => self.parse_literal("true", Value::Bool(true))?,
                Some(b'f') => self.parse_literal("false", Value::Bool(false))?,
                Some(b'n') => self.parse_literal("null", Value::Null)?,
                Some(_) => return Err(self.error(self.pos, NOT_A_VALUE)),
            };

            // The value is complete: store it in the innermost open container and close
            // every container that ends right after it.
            while let Some(container) = open_containers.pop() {
                self.skip_space()?;
                match container {
                    OpenContainer::Array(mut elements) => {
                        elements.push(value);
                        match self.peek() {
                            Some(b',') => {
                                let comma_offset = self.pos;
                                self.pos += 1;
                                self.skip_space()?;
                                if self.peek() == Some(b']') {
                                    return Err(self.error(comma_offset, TRAILING_COMMA));
                                }
                                open_containers.push(OpenContainer::Array(elements));
                                continue 'value;
                            }
                            Some(b']') => {
                                self.pos += 1;
                                value = Value::Array(elements);
                            }
                            Some(_) => return Err(self.error(self.pos, ARRAY_SEPARATOR)),
                            None => return Err(self.end_error()),
                        }
                    }
                    OpenContainer::Object { mut members, name } => {
                        members.insert(name, value);
                        match self.peek() {
                            Some(b',') => {
                                let comma_offset = self.pos;
                                self.pos += 1;
                                self.skip_space()?;
                                if self.peek() == Some(b'}') {
                                    return Err(self.error(comma_offset, TRAILING_COMMA));
                                }
                                let name = self.parse_member_name(&members)?;
                                open_containers.push(OpenContainer::Object { members, name });
                                continue 'value;
                            }
                            Some(b'}') => {
                                self.pos += 1;
                                value = Value::Object(members);
                            }
                            Some(_) => return Err(self.error(self.pos, OBJECT_SEPARATOR)),
                            None => return Err(self.end_error()),
                        }
                    }
                }
            }
            return Ok(value);
        }
    }

    /// Parses a member name, the whitespace after it and the colon, and skips the
    /// whitespace before the value. Refuses a name already in `members`.
    fn parse_member_name(&mut self, members: &Map<String, Value>) -> Result<String, JsonError> {
        match self.peek() {
            Some(b'"') => {}
            Some(_) => return Err(self.error(self.pos, MEMBER_NAME)),
            None => return Err(self.end_error()),
        }
        let name_offset = self.pos;
        let name = self.parse_string()?;
        if members.contains_key(&name) {
            return Err(self.error(name_offset, DUPLICATE));
        }
        self.skip_space()?;
        match self.peek() {
            Some(b':') => self.pos += 1,
            Some(_) => return Err(self.error(self.pos, COLON)),
            None => return Err(self.end_error()),
        }
        self.skip_space()?;
        Ok(name)
    }

    /// Checks that the body spells `literal` at the current position.
    fn parse_literal(&mut self, literal: &str, value: Value) -> Result<Value, JsonError> {
        for (byte_idx, &expected) in literal.as_bytes().iter().enumerate() {
            match self.text.get(self.pos + byte_idx) {
                Some(&byte) if byte == expected => {}
                Some(_) => return Err(self.error(self.pos + byte_idx, BAD_LITERAL)),
                None => return Err(self.end_error()),
            }
        }
        self.pos += literal.len();
        Ok(value)
    }

    /// Parses a number by the JSON grammar and keeps its spelling.
    fn parse_number(&mut self) -> Result<Number, JsonError> {
        let start = self.pos;
        let mut is_integer = true;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
                    return Err(self.error(self.pos, LEADING_ZERO));
                }
            }
            Some(b'1'..=b'9') => self.skip_digits(),
            Some(_) => return Err(self.error(self.pos, BAD_MINUS)),
            None => return Err(self.end_error()),
        }
        if self.peek() == Some(b'.') {
            is_integer = false;
            self.pos += 1;
            self.expect_digits(BAD_FRACTION)?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            is_integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.expect_digits(BAD_EXPONENT)?;
        }

        let spelling = std::str::from_utf8(&self.text[start..self.pos])
            .map_err(|_| self.error(start, NOT_A_VALUE))?;
        if spelling.len() > MAX_NUMBER_LEN {
            return Err(self.error(start, TOO_LONG));
        }
        let in_range = if is_integer {
            // i64::MIN is outside ±(2^63 − 1).
            spelling
                .parse::<i64>()
                .is_ok_and(|integer| integer != i64::MIN)
        } else {
            // 2^63 is the smallest float above 2^63 − 1.
            spelling
                .parse::<f64>()
                .is_ok_and(|float| float.abs() < 9_223_372_036_854_775_808.0)
        };
        if !in_range {
            return Err(self.error(start, OUT_OF_RANGE));
        }
        let number = Number::from_str(spelling).map_err(|_| self.error(start, OUT_OF_RANGE))?;
        // The exponent is written `e+`/`e-` once parsed, which may lengthen the number:
        // what is printed (and stored in `conf.json`) must parse again.
        if number.as_str().len() > MAX_NUMBER_LEN {
            return Err(self.error(start, TOO_LONG));
        }
        Ok(number)
    }

    /// Requires at least one digit at the current position and skips all of them.
    fn expect_digits(&mut self, detail: &str) -> Result<(), JsonError> {
        match self.peek() {
            Some(byte) if byte.is_ascii_digit() => {
                self.skip_digits();
                Ok(())
            }
            Some(_) => Err(self.error(self.pos, detail)),
            None => Err(self.end_error()),
        }
    }

    fn skip_digits(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    /// Parses a string starting at its opening quote and returns its decoded text.
    fn parse_string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut string = String::new();
        loop {
            // Copy the run of ordinary characters in one go.
            let rest = &self.text[self.pos..];
            let run_len = rest
                .iter()
                .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
                .unwrap_or(rest.len());
            match std::str::from_utf8(&rest[..run_len]) {
                Ok(run) => string.push_str(run),
                Err(utf8_error) => {
                    return Err(self.error(self.pos + utf8_error.valid_up_to(), INVALID_UTF8));
                }
            }
            self.pos += run_len;

            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(string);
                }
                Some(b'\\') => string.push(self.parse_escape()?),
                Some(_) => return Err(self.error(self.pos, CONTROL_CHARACTER)),
                None => return Err(self.error(self.text.len(), END_IN_STRING)),
            }
        }
    }

    /// Parses the escape sequence at the current backslash.
    fn parse_escape(&mut self) -> Result<char, JsonError> {
        let escape_offset = self.pos;
        let escaped = match self.text.get(self.pos + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.parse_unicode_escape(escape_offset),
            Some(_) => return Err(self.error(self.pos + 1, BAD_ESCAPE)),
            None => return Err(self.error(self.text.len(), END_IN_STRING)),
        };
        self.pos += 2;
        Ok(escaped)
    }

    /// Parses `\uXXXX`, and a second one when the first is a high surrogate.
    fn parse_unicode_escape(&mut self, escape_offset: usize) -> Result<char, JsonError> {
        let code_unit = self.parse_hex4(escape_offset + 2)?;
        self.pos = escape_offset + 6;
        let code_point = match code_unit {
            0xD800..=0xDBFF => {
                if !self.text[self.pos..].starts_with(b"\\u") {
                    return Err(self.error(escape_offset, LONE_HIGH_SURROGATE));
                }
                let low = self.parse_hex4(self.pos + 2)?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.error(escape_offset, LONE_HIGH_SURROGATE));
                }
                self.pos += 6;
                0x10000 + ((u32::from(code_unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error(escape_offset, LONE_LOW_SURROGATE)),
            _ => u32::from(code_unit),
        };
        char::from_u32(code_point).ok_or_else(|| self.error(escape_offset, LONE_LOW_SURROGATE))
    }

    /// Reads the four hexadecimal digits at `offset`.
    fn parse_hex4(&self, offset: usize) -> Result<u16, JsonError> {
        let mut code_unit = 0u16;
        for digit_offset in offset..offset + 4 {
            let Some(&byte) = self.text.get(digit_offset) else {
                return Err(self.error(self.text.len(), END_IN_STRING));
            };
            let Some(digit) = char::from(byte).to_digit(16) else {
                return Err(self.error(digit_offset, BAD_HEX));
            };
            // A hexadecimal digit is below 16, so it fits in a u16.
            code_unit = code_unit << 4 | digit as u16;
        }
        Ok(code_unit)
    }
}

#[cfg(test)]
mod tests;
