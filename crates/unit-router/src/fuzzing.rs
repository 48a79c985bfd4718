//! Entry points for the workspace's fuzz targets (`unit-fuzz`), hidden from the
//! documentation: they run the router's own code on fuzzed input (compiling a
//! configuration and routing a request with it, compiling patterns and templates, and
//! framing a proxied request for its upstream), so what is fuzzed is what serves.
//!
//! Nothing in the router calls them, and they do no I/O: no socket, file or thread.

use std::net::SocketAddr;
use std::time::Instant;

use unit_conf::Conf;
use unit_http::{ChunkedDecoder, HeaderBuffers, RequestHead};

use crate::conf::{Compiled, HttpSettings};
use crate::connection::{fill_request, read_head};
use crate::http::{ConnAddr, HttpRequest};
use crate::pattern::{Encoding, PatternSet};
use crate::template::{ResponseVars, Template};
use crate::upstream::{RequestBody, forward_body, write_request_head};

/// Compiles `conf` as the router does before it applies a configuration, then routes a
/// sample request through every route it has; the compile error's message if it fails.
pub fn compile_check(conf: &Conf) -> Result<(), String> {
    let compiled = Compiled::compile(conf).map_err(|error| error.to_string())?;
    let request = sample_request();
    compiled.routes.select(None, &request);
    if let Some(unit_conf::Routes::Named(routes)) = &conf.routes {
        for route in routes {
            compiled.routes.select(Some(&route.name), &request);
        }
    }
    Ok(())
}

/// How the literal text of a fuzzed pattern is written (the router's `Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternText {
    /// As it is matched (`host`, `method`, headers).
    Plain,
    /// Percent-encoded (`uri`).
    Percent,
    /// Percent-encoded with `+` for a space (`query`, `arguments`).
    PercentPlus,
}

/// Compiles the condition value `patterns` as a route condition does and tries it on each
/// of `values`: whether each satisfies the set, or the compile error's message.
pub fn match_patterns(
    patterns: &[String],
    case_insensitive: bool,
    text: PatternText,
    values: &[&[u8]],
) -> Result<Vec<bool>, String> {
    let encoding = match text {
        PatternText::Plain => Encoding::Plain,
        PatternText::Percent => Encoding::Percent,
        PatternText::PercentPlus => Encoding::PercentPlus,
    };
    let set = PatternSet::compile_encoded(patterns, case_insensitive, encoding)
        .map_err(|error| error.to_string())?;
    Ok(values
        .iter()
        .map(|value| set.matches_bytes(value))
        .collect())
}

/// Parses `text` as an option value with variables and expands it for a sample request,
/// as an action does and as the access log does (absent values as `-`).
pub fn expand_template(text: &str) -> Result<(String, String), unit_conf::TemplateError> {
    let template = Template::new(&unit_conf::parse_template(text)?);
    let request = sample_request();
    let vars = ResponseVars::default();
    Ok((
        template.expand(&request, &vars),
        template.expand_logged(&request, &vars),
    ))
}

/// Where a request ends as the router reads it from a client, and what its proxy sends
/// the upstream for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxiedRequest {
    /// The head is not whole yet.
    Incomplete,
    /// The router refuses the request with this status.
    Refused(u16),
    /// The router took the request and its proxy framed it for the upstream.
    Forwarded {
        /// The head's length in the client's bytes.
        head_len: usize,
        /// The client's bytes the proxy took as the body (from the end of the head).
        body_consumed: usize,
        /// The whole body was taken (or forwarding stopped at a malformed chunk).
        body_done: bool,
        /// The chunked body was malformed.
        malformed: bool,
        /// Everything sent to the upstream: the head it wrote and the body.
        upstream_bytes: Vec<u8>,
        /// The request's path as routed (`$uri`).
        uri: String,
    },
}

/// Reads a request from `client` as a connection of a listener with the default
/// `settings.http` does, and frames it for an upstream as a `proxy` action does: the head
/// written by the exchange, the body moved through it in pieces of at most `piece_len`
/// bytes, as reads deliver it. With `rewrite`, the request's `$uri` is replaced first, as
/// a `rewrite` option replaces it.
pub fn proxy_request(client: &[u8], rewrite: Option<&str>, piece_len: usize) -> ProxiedRequest {
    let http = HttpSettings::new(&unit_conf::HttpSettings::default());
    let buffers: HeaderBuffers = http.header_buffers();
    let mut head = RequestHead::default();
    match read_head(client, &buffers, &mut head) {
        Ok(true) => {}
        Ok(false) => return ProxiedRequest::Incomplete,
        Err(status) => return ProxiedRequest::Refused(status),
    }
    let head_len = head.head_len;
    let body_kind = head.body;
    let mut request = sample_request();
    if let Err(status) = fill_request(&mut head, &mut request, http.discard_unsafe_fields) {
        return ProxiedRequest::Refused(status);
    }
    if let Some(uri) = rewrite {
        request.uri = uri.to_owned();
        request.rewritten = true;
    }
    let mut body = match body_kind {
        unit_http::BodyKind::None => RequestBody::Done,
        unit_http::BodyKind::Length(length) => RequestBody::Length(length),
        unit_http::BodyKind::Chunked => RequestBody::Chunked(ChunkedDecoder::new()),
    };
    let mut upstream_bytes = Vec::new();
    write_request_head(
        &request,
        &body,
        request.wants_upgrade(),
        &mut upstream_bytes,
    );
    let rest = &client[head_len..];
    let mut body_consumed = 0;
    let mut body_done = false;
    let mut malformed = false;
    let mut client_input = Vec::new();
    for piece in rest.chunks(piece_len.max(1)) {
        client_input.extend_from_slice(piece);
        let before = client_input.len();
        let taken = forward_body(&mut body, &mut client_input, &mut upstream_bytes);
        body_consumed += before - client_input.len();
        body_done |= taken.done;
        malformed |= taken.malformed;
        if body_done {
            break;
        }
    }
    if rest.is_empty() {
        // A body of nothing (no body, or a zero length) is done before any byte comes.
        let taken = forward_body(&mut body, &mut client_input, &mut upstream_bytes);
        body_done |= taken.done;
    }
    ProxiedRequest::Forwarded {
        head_len,
        body_consumed,
        body_done,
        malformed,
        upstream_bytes,
        uri: request.uri,
    }
}

/// A request over TCP with a Host, a few fields, a query and cookies, for templates and
/// routes to read.
fn sample_request() -> HttpRequest {
    let header = |name: &str, value: &str| (name.to_owned(), value.as_bytes().to_vec());
    let address = |port: u16| ConnAddr::Inet(SocketAddr::from(([192, 0, 2, 7], port)));
    HttpRequest {
        method: "GET".to_owned(),
        target: "/docs/a%20b.html?x=1&q=a+b&x=2".to_owned(),
        uri: "/docs/a b.html".to_owned(),
        query: "x=1&q=a+b&x=2".to_owned(),
        version_minor: 1,
        headers: vec![
            header("Host", "Example.COM:8080"),
            header("User-Agent", "curl/8.0"),
            header("X-Tag", "first"),
            header("Cookie", "sid=abc; theme=dark"),
        ],
        host: "example.com".to_owned(),
        https: false,
        tls: None,
        remote: address(51000),
        local: address(8080),
        request_line: "GET /docs/a%20b.html?x=1&q=a+b&x=2 HTTP/1.1".to_owned(),
        rewritten: false,
        id: 1,
        arrived: Instant::now(),
    }
}
