//! Option values with variables (`$uri`, `${host}`), parsed once per configuration and
//! expanded per request.
//!
//! Parsing is unit-conf's: its model holds every template as [`TemplatePart`]s. This
//! module turns the parts into a [`Template`] and gives each variable its value from an
//! [`HttpRequest`] and, for the values a request does not carry (status, bytes sent,
//! timing, response headers), from [`ResponseVars`].
//!
//! What it deliberately does not do: validate option names or report which option a bad
//! template came from (the controller's validator did that), format times (the caller
//! passes `$time_local` ready-made) or evaluate njs template literals (they fail to
//! parse).

use std::fmt::Write;
use std::time::Duration;

use unit_conf::{TemplatePart, Variable};
use unit_http::{parse_cookies, parse_query};

use crate::http::{ConnAddr, Field, HttpRequest};

/// A string with variables, ready to expand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    /// The literal text and variables in order.
    parts: Vec<TemplatePart>,
    /// The whole text when the template has no variables.
    static_text: Option<String>,
    /// A first guess at an expansion's length, so it is allocated once.
    expected_len: usize,
}

impl Template {
    /// Makes a template of parsed parts.
    pub(crate) fn new(parts: &[TemplatePart]) -> Template {
        // Without variables the literals are the whole text, as it was written.
        let static_text = parts
            .iter()
            .map(|part| match part {
                TemplatePart::Literal(literal) => Some(literal.as_str()),
                TemplatePart::Variable(_) => None,
            })
            .collect::<Option<String>>();
        let expected_len = parts
            .iter()
            .map(|part| match part {
                TemplatePart::Literal(literal) => literal.len(),
                TemplatePart::Variable(_) => 64,
            })
            .sum();
        Template {
            parts: parts.to_vec(),
            static_text,
            expected_len,
        }
    }

    /// Parses `text` with unit-conf's parser.
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Result<Template, unit_conf::TemplateError> {
        unit_conf::parse_template(text).map(|parts| Template::new(&parts))
    }

    /// Whether the template has no variables, so every expansion gives the same text.
    #[cfg(test)]
    pub(crate) fn is_static(&self) -> bool {
        self.static_text.is_some()
    }

    /// The text of a template without variables; `None` when it has some.
    pub(crate) fn as_static(&self) -> Option<&str> {
        self.static_text.as_deref()
    }

    /// Expands the template for `request`; a variable without a value (a missing header,
    /// argument or cookie) expands to nothing.
    pub(crate) fn expand(&self, request: &HttpRequest, extra: &ResponseVars<'_>) -> String {
        self.expand_as(request, extra, false)
    }

    /// Expands the template for the access log, where a variable without a value is
    /// written `-`, as Unit writes it.
    pub(crate) fn expand_logged(&self, request: &HttpRequest, extra: &ResponseVars<'_>) -> String {
        self.expand_as(request, extra, true)
    }

    fn expand_as(&self, request: &HttpRequest, extra: &ResponseVars<'_>, logging: bool) -> String {
        if let Some(text) = &self.static_text {
            return text.clone();
        }
        let mut expanded = String::with_capacity(self.expected_len);
        for part in &self.parts {
            match part {
                TemplatePart::Literal(text) => expanded.push_str(text),
                TemplatePart::Variable(variable) => {
                    if !push_variable(&mut expanded, variable, request, extra) && logging {
                        expanded.push('-');
                    }
                }
            }
        }
        expanded
    }
}

/// The values of variables that are not part of the request. Use
/// `ResponseVars::default()` while routing, when no response exists yet (`$status` is
/// then `000`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ResponseVars<'a> {
    /// The response status (`$status`).
    pub(crate) status: u16,
    /// Body bytes sent to the client (`$body_bytes_sent`).
    pub(crate) body_bytes_sent: u64,
    /// Time from the request's first byte to the response's end (`$request_time`).
    pub(crate) request_time: Duration,
    /// The request's identifier (`$request_id`).
    pub(crate) request_id: &'a str,
    /// The local time in the access log form (`$time_local`).
    pub(crate) time_local: &'a str,
    /// The response's header fields (`$response_header_<name>`).
    pub(crate) response_headers: &'a [Field],
}

/// Appends the value of one variable; false when it has none (an absent header,
/// argument or cookie).
fn push_variable(
    expanded: &mut String,
    variable: &Variable,
    request: &HttpRequest,
    extra: &ResponseVars<'_>,
) -> bool {
    match variable {
        Variable::Uri => expanded.push_str(&request.uri),
        Variable::RequestUri => expanded.push_str(&request.target),
        Variable::Host => expanded.push_str(&request.host),
        Variable::Method => expanded.push_str(&request.method),
        Variable::Status => expanded.push_str(&format!("{:03}", extra.status)),
        Variable::RemoteAddr => match &request.remote {
            ConnAddr::Inet(socket_addr) => {
                expanded.push_str(crate::http::IpText::new(socket_addr.ip()).as_str())
            }
            ConnAddr::Unix => expanded.push_str("unix:"),
        },
        // A request refused before its line was read has none.
        Variable::RequestLine if request.request_line.is_empty() => return false,
        Variable::RequestLine => expanded.push_str(&request.request_line),
        Variable::TimeLocal => expanded.push_str(extra.time_local),
        Variable::BodyBytesSent => expanded.push_str(&extra.body_bytes_sent.to_string()),
        Variable::RequestTime => expanded.push_str(&format!(
            "{}.{:03}",
            extra.request_time.as_secs(),
            extra.request_time.subsec_millis()
        )),
        Variable::RequestId if extra.request_id.is_empty() => {
            let _ = write!(expanded, "{:032x}", request.id);
        }
        Variable::RequestId => expanded.push_str(extra.request_id),
        Variable::Dollar => expanded.push('$'),
        Variable::TlsProtocol => match &request.tls {
            Some(tls) => expanded.push_str(tls.protocol),
            None => return false,
        },
        Variable::TlsServerName => match request
            .tls
            .as_ref()
            .and_then(|tls| tls.server_name.as_deref())
        {
            Some(name) => expanded.push_str(name),
            None => return false,
        },
        Variable::Header(name) => {
            let header_name = field_name(name);
            let Some(value) = request.header(&header_name) else {
                return false;
            };
            expanded.push_str(&String::from_utf8_lossy(value));
        }
        Variable::Arg(name) => {
            // When an argument repeats, the last one counts.
            let Some((_, value)) = parse_query(&request.query)
                .into_iter()
                .rev()
                .find(|(arg_name, _)| arg_name == name)
            else {
                return false;
            };
            expanded.push_str(&value);
        }
        Variable::Cookie(name) => {
            let Some(value) = cookie(request, name) else {
                return false;
            };
            expanded.push_str(&value);
        }
        Variable::ResponseHeader(name) => {
            let header_name = field_name(name);
            let Some((_, value)) = extra
                .response_headers
                .iter()
                .find(|(response_name, _)| response_name.eq_ignore_ascii_case(&header_name))
            else {
                return false;
            };
            expanded.push_str(value);
        }
    }
    true
}

/// The header field name a `$header_` or `$response_header_` suffix stands for: `_` is
/// written for `-`.
fn field_name(suffix: &str) -> String {
    suffix.replace('_', "-")
}

/// The first cookie named `name` over all `Cookie` headers.
fn cookie(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers_named("Cookie")
        .flat_map(parse_cookies)
        .find(|(cookie_name, _)| cookie_name == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
pub(crate) mod tests;
