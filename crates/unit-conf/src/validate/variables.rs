//! Templates: option values with `$name` or `${name}` variables in them.
//!
//! [`parse_template`] splits a value into literal text and [`Variable`]s, and rejects a
//! `$` that does not start a well-formed name or a name Unit does not know. Names are made
//! of ASCII letters and `_` only, so in `$uri2` the variable is `$uri` and `2` is text.
//!
//! What it deliberately does not do: expand anything (the router does that per request),
//! or run JavaScript: a value wrapped in backticks is an njs template literal, which this
//! build cannot evaluate, so it is reported as [`TemplateError::Script`].

use std::fmt;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    /// Text copied as it is.
    Literal(String),
    /// A variable expanded per request.
    Variable(Variable),
}

/// A variable Unit knows. The `String` in the prefixed variants is the rest of the name
/// as written, e.g. `user_agent` for `$header_user_agent`; for headers the router treats
/// `_` as `-` and compares case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variable {
    /// `$uri`: the current decoded, normalized path.
    Uri,
    /// `$request_uri`: the original request target with its query.
    RequestUri,
    /// `$host`: the Host header, lowercased, without the port.
    Host,
    /// `$method`: the request method.
    Method,
    /// `$status`: the response status.
    Status,
    /// `$remote_addr`: the client address.
    RemoteAddr,
    /// `$request_line`: the first line of the request.
    RequestLine,
    /// `$time_local`: the local time in the access log format.
    TimeLocal,
    /// `$body_bytes_sent`: the number of body bytes sent.
    BodyBytesSent,
    /// `$request_time`: the request time in seconds with milliseconds.
    RequestTime,
    /// `$request_id`: a unique request identifier.
    RequestId,
    /// `$dollar`: a literal `$`.
    Dollar,
    /// `$tls_protocol`: the TLS version of the connection (`TLSv1.3`); none on a plain
    /// one. An addition to Unit's variables.
    TlsProtocol,
    /// `$tls_server_name`: the server name the client asked for in its TLS handshake
    /// (SNI), when it sent one. An addition to Unit's variables.
    TlsServerName,
    /// `$header_<name>`: a request header.
    Header(String),
    /// `$arg_<name>`: a query argument.
    Arg(String),
    /// `$cookie_<name>`: a cookie.
    Cookie(String),
    /// `$response_header_<name>`: a response header.
    ResponseHeader(String),
}

/// The variables without a name suffix, by name.
const FIXED_VARIABLES: &[(&str, Variable)] = &[
    ("uri", Variable::Uri),
    ("request_uri", Variable::RequestUri),
    ("host", Variable::Host),
    ("method", Variable::Method),
    ("status", Variable::Status),
    ("remote_addr", Variable::RemoteAddr),
    ("request_line", Variable::RequestLine),
    ("time_local", Variable::TimeLocal),
    ("body_bytes_sent", Variable::BodyBytesSent),
    ("request_time", Variable::RequestTime),
    ("request_id", Variable::RequestId),
    ("dollar", Variable::Dollar),
    ("tls_protocol", Variable::TlsProtocol),
    ("tls_server_name", Variable::TlsServerName),
];

/// The name prefixes of the variables that take a suffix.
const HEADER_PREFIX: &str = "header_";
const ARG_PREFIX: &str = "arg_";
const COOKIE_PREFIX: &str = "cookie_";
const RESPONSE_HEADER_PREFIX: &str = "response_header_";

/// Builds a prefixed variable from the rest of its name.
type MakeVariable = fn(String) -> Variable;

/// The variables that take a name suffix, by prefix. `response_header_` comes before
/// `header_` only for clarity: neither prefix starts the other.
const PREFIXED_VARIABLES: [(&str, MakeVariable); 4] = [
    (RESPONSE_HEADER_PREFIX, Variable::ResponseHeader),
    (HEADER_PREFIX, Variable::Header),
    (ARG_PREFIX, Variable::Arg),
    (COOKIE_PREFIX, Variable::Cookie),
];

impl Variable {
    /// Looks a variable up by its name (without `$`). A prefixed name needs a non-empty
    /// suffix.
    pub fn from_name(name: &str) -> Option<Variable> {
        if let Some((_, variable)) = FIXED_VARIABLES
            .iter()
            .find(|(fixed_name, _)| *fixed_name == name)
        {
            return Some(variable.clone());
        }
        PREFIXED_VARIABLES.iter().find_map(|(prefix, make)| {
            name.strip_prefix(prefix)
                .filter(|suffix| !suffix.is_empty())
                .map(|suffix| make(suffix.to_owned()))
        })
    }
}

impl fmt::Display for Variable {
    /// Writes the variable's name without the `$`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, suffix) = match self {
            Variable::Header(name) => (HEADER_PREFIX, name.as_str()),
            Variable::Arg(name) => (ARG_PREFIX, name.as_str()),
            Variable::Cookie(name) => (COOKIE_PREFIX, name.as_str()),
            Variable::ResponseHeader(name) => (RESPONSE_HEADER_PREFIX, name.as_str()),
            fixed => {
                let name = FIXED_VARIABLES
                    .iter()
                    .find(|(_, variable)| variable == fixed)
                    .map_or("", |(name, _)| *name);
                (name, "")
            }
        };
        write!(formatter, "{prefix}{suffix}")
    }
}

/// Why a template cannot be used. `Display` gives Unit's wording without the
/// ` in the "<option>" value.` suffix the validator adds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `$` at this byte offset does not start `name` or `{name}`.
    #[error("Invalid variable at position {0}")]
    InvalidVariable(usize),
    /// A well-formed name that is not a known variable.
    #[error("Unknown variable \"{0}\"")]
    UnknownVariable(String),
    /// The value is an njs template literal (wrapped in backticks), which this build
    /// cannot evaluate.
    #[error("njs template literals are not supported by this build")]
    Script,
}

/// Parses `text` into literal text and variables.
///
/// `$name` takes the longest run of ASCII letters and `_`; `${name}` needs the closing
/// brace right after the name. A `$` followed by anything else is
/// [`TemplateError::InvalidVariable`] at the `$`'s byte offset.
pub fn parse_template(text: &str) -> Result<Vec<TemplatePart>, TemplateError> {
    if text.len() >= 2 && text.starts_with('`') && text.ends_with('`') {
        return Err(TemplateError::Script);
    }
    let mut parts = Vec::new();
    let mut literal_start = 0;
    let mut position = 0;
    while let Some(offset) = text[position..].find('$') {
        let dollar = position + offset;
        if dollar > literal_start {
            parts.push(TemplatePart::Literal(
                text[literal_start..dollar].to_owned(),
            ));
        }
        let (name, end) =
            variable_name(text, dollar + 1).ok_or(TemplateError::InvalidVariable(dollar))?;
        let variable = Variable::from_name(name)
            .ok_or_else(|| TemplateError::UnknownVariable(name.to_owned()))?;
        parts.push(TemplatePart::Variable(variable));
        literal_start = end;
        position = end;
    }
    if literal_start < text.len() {
        parts.push(TemplatePart::Literal(text[literal_start..].to_owned()));
    }
    Ok(parts)
}

/// Reads the name after a `$` that ends at `start`; returns it and the offset just past
/// the variable, or `None` when there is no well-formed name.
fn variable_name(text: &str, start: usize) -> Option<(&str, usize)> {
    let rest = &text[start..];
    let (braced, name_start) = match rest.strip_prefix('{') {
        Some(_) => (true, start + 1),
        None => (false, start),
    };
    let name_length = text[name_start..]
        .bytes()
        .take_while(|byte| byte.is_ascii_alphabetic() || *byte == b'_')
        .count();
    if name_length == 0 {
        return None;
    }
    let name_end = name_start + name_length;
    let name = &text[name_start..name_end];
    if !braced {
        return Some((name, name_end));
    }
    text[name_end..]
        .starts_with('}')
        .then_some((name, name_end + 1))
}

#[cfg(test)]
mod tests {
    use super::{TemplateError, TemplatePart, Variable, parse_template};

    fn check(text: &str, expected: Result<Vec<TemplatePart>, TemplateError>) {
        assert_eq!(parse_template(text), expected, "template {text:?}");
    }

    fn literal(text: &str) -> TemplatePart {
        TemplatePart::Literal(text.to_owned())
    }

    fn variable(variable: Variable) -> TemplatePart {
        TemplatePart::Variable(variable)
    }

    #[test]
    fn templates() {
        check("", Ok(vec![]));
        check("/plain/path", Ok(vec![literal("/plain/path")]));
        check("$uri", Ok(vec![variable(Variable::Uri)]));
        check(
            "/www$uri",
            Ok(vec![literal("/www"), variable(Variable::Uri)]),
        );
        check(
            "${host}.d/$uri2",
            Ok(vec![
                variable(Variable::Host),
                literal(".d/"),
                variable(Variable::Uri),
                literal("2"),
            ]),
        );
        check(
            "$header_user_agent-$arg_id,$cookie_sid;$response_header_content_type",
            Ok(vec![
                variable(Variable::Header("user_agent".to_owned())),
                literal("-"),
                variable(Variable::Arg("id".to_owned())),
                literal(","),
                variable(Variable::Cookie("sid".to_owned())),
                literal(";"),
                variable(Variable::ResponseHeader("content_type".to_owned())),
            ]),
        );
        check(
            "$request_uri$request_line$time_local$body_bytes_sent$request_time$request_id",
            Ok(vec![
                variable(Variable::RequestUri),
                variable(Variable::RequestLine),
                variable(Variable::TimeLocal),
                variable(Variable::BodyBytesSent),
                variable(Variable::RequestTime),
                variable(Variable::RequestId),
            ]),
        );
        check(
            "$method $status $remote_addr $dollar",
            Ok(vec![
                variable(Variable::Method),
                literal(" "),
                variable(Variable::Status),
                literal(" "),
                variable(Variable::RemoteAddr),
                literal(" "),
                variable(Variable::Dollar),
            ]),
        );
        check("é$uri", Ok(vec![literal("é"), variable(Variable::Uri)]));
        check("$", Err(TemplateError::InvalidVariable(0)));
        check("abc$", Err(TemplateError::InvalidVariable(3)));
        check("a$1", Err(TemplateError::InvalidVariable(1)));
        check("$uri$$", Err(TemplateError::InvalidVariable(4)));
        check("${}", Err(TemplateError::InvalidVariable(0)));
        check("x${uri", Err(TemplateError::InvalidVariable(1)));
        check("${uri-}", Err(TemplateError::InvalidVariable(0)));
        check(
            "$foo",
            Err(TemplateError::UnknownVariable("foo".to_owned())),
        );
        check(
            "${header_}",
            Err(TemplateError::UnknownVariable("header_".to_owned())),
        );
        check("`${host}`", Err(TemplateError::Script));
        check("`", Ok(vec![literal("`")]));
    }

    #[test]
    fn variable_names_round_trip() {
        for name in [
            "uri",
            "dollar",
            "header_x_forwarded_for",
            "arg_q",
            "cookie_c",
            "response_header_etag",
        ] {
            let variable = Variable::from_name(name).expect("a known variable name");
            assert_eq!(variable.to_string(), name);
        }
    }

    #[test]
    fn template_error_messages() {
        assert_eq!(
            TemplateError::InvalidVariable(7).to_string(),
            "Invalid variable at position 7"
        );
        assert_eq!(
            TemplateError::UnknownVariable("x".to_owned()).to_string(),
            "Unknown variable \"x\""
        );
    }
}
