//! Proxying a request to an HTTP/1.1 upstream (`proxy` actions and `upstreams`): the
//! request head and body go out as the client sends them, the response comes back as
//! the upstream sends it, neither is buffered whole, and upstream connections are kept
//! alive in a per-worker pool for the next request.

use std::collections::VecDeque;
use std::io;

use mio::{Interest, Registry, Token};
use unit_engine::{HashMap, Stream};
use unit_http::{
    ChunkedDecoder, HeadLimits, ResponseBody, encode_chunk, encode_last_chunk, parse_response_head,
    reason_phrase,
};

use crate::http::HttpRequest;
use crate::routes::ProxyTarget;

/// Buffer at most this much in either direction before waiting for the reader.
const HIGH_WATER: usize = 256 * 1024;
/// The largest response head accepted from an upstream.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Idle upstream connections kept per target in one worker.
const POOL_PER_TARGET: usize = 64;
/// Hop-by-hop fields, never forwarded (RFC 9110 section 7.6.1), plus the framing
/// fields this module sets itself.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "proxy-authenticate",
];

/// Starts connecting to a proxy target.
fn connect(target: &ProxyTarget) -> io::Result<Stream> {
    match target {
        ProxyTarget::Inet(address) => Stream::connect_tcp(*address),
        ProxyTarget::Unix(path) => Stream::connect_unix(path),
    }
}

/// Idle upstream connections of one worker, by target.
#[derive(Debug, Default)]
pub(crate) struct UpstreamPool {
    idle: HashMap<ProxyTarget, Vec<Stream>>,
}

impl UpstreamPool {
    fn take(&mut self, target: &ProxyTarget) -> Option<Stream> {
        self.idle.get_mut(target)?.pop()
    }

    fn put(&mut self, target: ProxyTarget, stream: Stream) {
        let idle = self.idle.entry(target).or_default();
        if idle.len() < POOL_PER_TARGET {
            idle.push(stream);
        }
    }
}

/// How the client's request body is forwarded.
#[derive(Debug)]
pub(crate) enum RequestBody {
    /// Nothing (left) to send.
    Done,
    /// This many raw bytes still to come.
    Length(u64),
    /// Chunked: decoded and re-encoded, so only well-formed chunks reach the upstream.
    Chunked(ChunkedDecoder),
}

/// Where reading the response is.
#[derive(Debug)]
enum ResponsePhase {
    Head,
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Until the upstream closes; re-chunked for HTTP/1.1 clients.
    UntilClose {
        rechunk: bool,
    },
    Done,
}

/// What a step of proxying came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ProxyStep {
    /// Waiting for a socket.
    Blocked,
    /// The exchange is complete; the client connection may go on unless `close_client`.
    Done { close_client: bool },
    /// The upstream failed before answering: answer the client with this status.
    Failed(u16),
    /// The upstream failed mid-answer: the client connection must be closed.
    Broken,
}

/// One proxied exchange.
#[derive(Debug)]
pub(crate) struct Proxy {
    target: Option<ProxyTarget>,
    candidates: VecDeque<ProxyTarget>,
    stream: Option<Stream>,
    token: Token,
    connected: bool,
    reused: bool,
    /// Whether the upstream socket is registered for writability too.
    watching_writes: bool,
    /// The request head, kept to resend on a fresh connection when a pooled one
    /// turns out to be closed (only for requests without a body).
    head: Vec<u8>,
    out: Vec<u8>,
    out_written: usize,
    request_body: RequestBody,
    body_forwarded: bool,
    request_done: bool,
    inbuf: Vec<u8>,
    phase: ResponsePhase,
    upstream_keep_alive: bool,
    head_request: bool,
    client_http10: bool,
    close_client: bool,
    response_headers: Vec<(String, Option<String>)>,
    /// The status the upstream answered (for the access log).
    pub(crate) status: u16,
    /// Body bytes passed to the client (for the access log).
    pub(crate) body_bytes: u64,
    received_any: bool,
}

impl Proxy {
    /// Prepares an exchange with the first of `candidates` that connects; `response_headers`
    /// are the action's changes to the answer (already expanded).
    pub(crate) fn new(
        request: &HttpRequest,
        candidates: Vec<ProxyTarget>,
        request_body: RequestBody,
        response_headers: Vec<(String, Option<String>)>,
        token: Token,
    ) -> Proxy {
        let mut head = Vec::with_capacity(512);
        let target = if request.rewritten {
            match request.query.is_empty() {
                true => request.uri.clone(),
                false => format!("{}?{}", request.uri, request.query),
            }
        } else {
            request.target.clone()
        };
        head.extend_from_slice(format!("{} {target} HTTP/1.1\r\n", request.method).as_bytes());
        for (name, value) in &request.headers {
            if HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop)) {
                continue;
            }
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        match &request_body {
            RequestBody::Length(length) => {
                head.extend_from_slice(format!("Content-Length: {length}\r\n").as_bytes())
            }
            RequestBody::Chunked(_) => head.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            RequestBody::Done => {}
        }
        head.extend_from_slice(b"\r\n");
        Proxy {
            target: None,
            candidates: candidates.into(),
            stream: None,
            token,
            connected: false,
            reused: false,
            watching_writes: false,
            out: head.clone(),
            head,
            out_written: 0,
            request_done: matches!(request_body, RequestBody::Done),
            request_body,
            body_forwarded: false,
            inbuf: Vec::new(),
            phase: ResponsePhase::Head,
            upstream_keep_alive: false,
            head_request: request.method == "HEAD",
            client_http10: request.version_minor == 0,
            close_client: false,
            response_headers,
            status: 0,
            body_bytes: 0,
            received_any: false,
        }
    }

    /// Makes all the progress possible: connects, forwards the request and the client's
    /// body from `client_input`, and writes the answer into `client_output`.
    pub(crate) fn progress(
        &mut self,
        registry: &Registry,
        pool: &mut UpstreamPool,
        client_input: &mut Vec<u8>,
        client_output: &mut Vec<u8>,
        server: &str,
        date: &str,
    ) -> ProxyStep {
        loop {
            if self.stream.is_none() && !self.open(registry, pool) {
                return ProxyStep::Failed(502);
            }
            if !self.connected {
                match self.stream.as_ref().map(Stream::connected) {
                    Some(Ok(true)) => self.connected = true,
                    Some(Ok(false)) => return ProxyStep::Blocked,
                    _ => {
                        self.drop_stream(registry);
                        continue;
                    }
                }
            }
            self.take_request_body(client_input);
            // Writing goes on until the socket is full, so writes alone never call for
            // another round: only moved input can.
            match self.write_out() {
                Ok(true) => {}
                Ok(false) => self.watch_writes(registry),
                Err(_) => return self.upstream_failed(registry),
            }
            let mut progressed = false;
            let mut eof = false;
            if client_output.len() < HIGH_WATER {
                match self.read_in() {
                    Ok((read, at_eof)) => {
                        progressed |= read > 0;
                        eof = at_eof;
                    }
                    Err(_) => return self.upstream_failed(registry),
                }
            }
            // What arrived with the close is passed on before the close is handled.
            match self.pass_response(client_output, server, date) {
                Ok(moved) => progressed |= moved,
                Err(status) => return self.fail(registry, status),
            }
            if eof {
                if !matches!(self.phase, ResponsePhase::Done) {
                    return self.upstream_closed(registry, client_output);
                }
                self.upstream_keep_alive = false;
            }
            if matches!(self.phase, ResponsePhase::Done) && self.request_done && self.out.is_empty()
            {
                self.finish(registry, pool);
                return ProxyStep::Done {
                    close_client: self.close_client,
                };
            }
            if !progressed {
                return ProxyStep::Blocked;
            }
        }
    }

    /// Whether the client's request body is still being forwarded (so the client
    /// connection must be read while the exchange waits).
    pub(crate) fn wants_client_body(&self) -> bool {
        !self.request_done
    }

    /// Takes a pooled connection to the next candidate, or connects; false when none is left.
    fn open(&mut self, registry: &Registry, pool: &mut UpstreamPool) -> bool {
        while let Some(target) = self.candidates.front().cloned() {
            let (stream, reused) = match pool.take(&target) {
                Some(stream) => (Ok(stream), true),
                None => (connect(&target), false),
            };
            match stream {
                Ok(mut stream) => {
                    // A pooled connection is writable at once and the head usually fits the
                    // socket buffer: watch writes only for a connect under way (or later, if
                    // a write blocks), which spares a wakeup per request.
                    let interest = if reused {
                        Interest::READABLE
                    } else {
                        Interest::READABLE | Interest::WRITABLE
                    };
                    if registry
                        .register(stream.source(), self.token, interest)
                        .is_err()
                    {
                        self.candidates.pop_front();
                        continue;
                    }
                    self.stream = Some(stream);
                    self.watching_writes = !reused;
                    self.reused = reused;
                    self.connected = reused;
                    self.target = Some(target);
                    return true;
                }
                Err(_) => {
                    self.candidates.pop_front();
                }
            }
        }
        false
    }

    /// Drops the current connection after a connect failure: the next candidate is tried.
    fn drop_stream(&mut self, registry: &Registry) {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(stream.source());
        }
        if !self.reused {
            self.candidates.pop_front();
        }
        self.connected = false;
        self.reused = false;
    }

    /// A pooled connection that turned out closed is replaced by a fresh one when the
    /// request can be sent again; otherwise the exchange fails.
    fn upstream_failed(&mut self, registry: &Registry) -> ProxyStep {
        let retry = self.reused && !self.received_any && !self.body_forwarded;
        if retry {
            if let Some(mut stream) = self.stream.take() {
                let _ = registry.deregister(stream.source());
            }
            self.connected = false;
            self.reused = false;
            self.out = self.head.clone();
            self.out_written = 0;
            return ProxyStep::Blocked;
        }
        self.fail(registry, 502)
    }

    fn upstream_closed(&mut self, registry: &Registry, client_output: &mut Vec<u8>) -> ProxyStep {
        match &self.phase {
            ResponsePhase::UntilClose { rechunk } => {
                if *rechunk {
                    encode_last_chunk(client_output);
                }
                self.phase = ResponsePhase::Done;
                self.upstream_keep_alive = false;
                if let Some(mut stream) = self.stream.take() {
                    let _ = registry.deregister(stream.source());
                }
                ProxyStep::Done {
                    close_client: self.close_client,
                }
            }
            ResponsePhase::Head => self.upstream_failed(registry),
            _ => self.fail(registry, 502),
        }
    }

    fn fail(&mut self, registry: &Registry, status: u16) -> ProxyStep {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(stream.source());
        }
        if self.received_any && !matches!(self.phase, ResponsePhase::Head) {
            ProxyStep::Broken
        } else {
            ProxyStep::Failed(status)
        }
    }

    /// The exchange is over: a reusable upstream connection goes back to the pool.
    fn finish(&mut self, registry: &Registry, pool: &mut UpstreamPool) {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(stream.source());
            if self.upstream_keep_alive
                && self.inbuf.is_empty()
                && let Some(target) = self.target.take()
            {
                pool.put(target, stream);
            }
        }
    }

    /// Moves the client's body into the outgoing buffer, as far as it has arrived.
    fn take_request_body(&mut self, client_input: &mut Vec<u8>) {
        if self.request_done || self.out.len() - self.out_written >= HIGH_WATER {
            return;
        }
        match &mut self.request_body {
            RequestBody::Done => self.request_done = true,
            RequestBody::Length(remaining) => {
                let taken = (*remaining).min(client_input.len() as u64) as usize;
                self.body_forwarded |= taken > 0;
                self.out.extend_from_slice(&client_input[..taken]);
                client_input.drain(..taken);
                *remaining -= taken as u64;
                if *remaining == 0 {
                    self.request_done = true;
                }
            }
            RequestBody::Chunked(decoder) => {
                let mut decoded = Vec::new();
                let Ok(consumed) = decoder.decode(client_input, &mut decoded) else {
                    // A malformed body: stop forwarding; the upstream sees a truncated
                    // chunked body and the client connection is closed afterwards.
                    self.request_done = true;
                    self.close_client = true;
                    client_input.clear();
                    return;
                };
                client_input.drain(..consumed);
                self.body_forwarded |= consumed > 0;
                encode_chunk(&decoded, &mut self.out);
                if decoder.is_done() {
                    encode_last_chunk(&mut self.out);
                    self.request_done = true;
                }
            }
        }
    }

    /// Writes what it can to the upstream; Ok(true) when nothing is left to write,
    /// Ok(false) when the socket is full.
    fn write_out(&mut self) -> io::Result<bool> {
        let Some(stream) = &mut self.stream else {
            return Ok(true);
        };
        if !stream.write_pending(&self.out, &mut self.out_written)? {
            return Ok(false);
        }
        self.out.clear();
        self.out_written = 0;
        Ok(true)
    }

    /// The upstream socket is full: be woken when it drains.
    fn watch_writes(&mut self, registry: &Registry) {
        if self.watching_writes {
            return;
        }
        if let Some(stream) = &mut self.stream
            && registry
                .reregister(
                    stream.source(),
                    self.token,
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_ok()
        {
            self.watching_writes = true;
        }
    }

    /// Reads what the upstream sent; returns (bytes, eof).
    fn read_in(&mut self) -> io::Result<(usize, bool)> {
        let Some(stream) = &mut self.stream else {
            return Ok((0, false));
        };
        let (read, eof) = stream.read_available(&mut self.inbuf, HIGH_WATER)?;
        self.received_any |= read > 0;
        Ok((read, eof))
    }

    /// Passes the response head and body on to the client as far as they have arrived;
    /// Ok(true) if anything moved, Err(status) on a malformed response.
    fn pass_response(
        &mut self,
        client_output: &mut Vec<u8>,
        server: &str,
        date: &str,
    ) -> Result<bool, u16> {
        let mut moved = false;
        loop {
            match &mut self.phase {
                ResponsePhase::Head => {
                    let limits = HeadLimits {
                        max_head_bytes: MAX_RESPONSE_HEAD,
                        max_headers: 256,
                    };
                    let head = match parse_response_head(&self.inbuf, &limits, self.head_request) {
                        Ok(Some(head)) => head,
                        Ok(None) => return Ok(moved),
                        Err(_) => return Err(502),
                    };
                    self.inbuf.drain(..head.head_len);
                    moved = true;
                    if (100..200).contains(&head.status) {
                        // Interim answers (100 Continue) are the upstream's business.
                        continue;
                    }
                    self.status = head.status;
                    self.upstream_keep_alive = head.keep_alive;
                    let (phase, framing) = match head.body {
                        ResponseBody::None => (ResponsePhase::Done, Framing::None),
                        ResponseBody::Length(length) => {
                            (ResponsePhase::Length(length), Framing::Length(length))
                        }
                        ResponseBody::Chunked => (
                            ResponsePhase::Chunked(ChunkedDecoder::new()),
                            Framing::Chunked,
                        ),
                        ResponseBody::UntilClose if self.client_http10 => {
                            self.close_client = true;
                            (ResponsePhase::UntilClose { rechunk: false }, Framing::Close)
                        }
                        ResponseBody::UntilClose => (
                            ResponsePhase::UntilClose { rechunk: true },
                            Framing::Chunked,
                        ),
                    };
                    self.write_client_head(
                        &head.headers,
                        head.status,
                        framing,
                        client_output,
                        server,
                        date,
                    );
                    self.phase = phase;
                }
                ResponsePhase::Length(remaining) => {
                    let taken = (*remaining).min(self.inbuf.len() as u64) as usize;
                    if taken > 0 {
                        if !self.head_request {
                            client_output.extend_from_slice(&self.inbuf[..taken]);
                        }
                        self.inbuf.drain(..taken);
                        *remaining -= taken as u64;
                        self.body_bytes += taken as u64;
                        moved = true;
                    }
                    if *remaining == 0 {
                        self.phase = ResponsePhase::Done;
                    }
                    return Ok(moved);
                }
                ResponsePhase::Chunked(decoder) => {
                    // The chunks pass through as sent; decoding a copy finds the end.
                    let mut scratch = Vec::new();
                    let consumed = decoder
                        .decode(&self.inbuf, &mut scratch)
                        .map_err(|_| 502u16)?;
                    if consumed > 0 {
                        client_output.extend_from_slice(&self.inbuf[..consumed]);
                        self.inbuf.drain(..consumed);
                        self.body_bytes += scratch.len() as u64;
                        moved = true;
                    }
                    if decoder.is_done() {
                        self.phase = ResponsePhase::Done;
                    }
                    return Ok(moved);
                }
                ResponsePhase::UntilClose { rechunk } => {
                    if !self.inbuf.is_empty() {
                        if *rechunk {
                            encode_chunk(&self.inbuf, client_output);
                        } else {
                            client_output.extend_from_slice(&self.inbuf);
                        }
                        self.body_bytes += self.inbuf.len() as u64;
                        self.inbuf.clear();
                        moved = true;
                    }
                    return Ok(moved);
                }
                ResponsePhase::Done => return Ok(moved),
            }
        }
    }

    fn write_client_head(
        &self,
        headers: &[(String, Vec<u8>)],
        status: u16,
        framing: Framing,
        client_output: &mut Vec<u8>,
        server: &str,
        date: &str,
    ) {
        client_output.extend_from_slice(
            format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).as_bytes(),
        );
        let has = |name: &str| {
            headers
                .iter()
                .any(|(header, _)| header.eq_ignore_ascii_case(name))
        };
        if !has("Server") {
            client_output.extend_from_slice(format!("Server: {server}\r\n").as_bytes());
        }
        if !has("Date") {
            client_output.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
        }
        for (name, value) in headers {
            if HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop))
                || self
                    .response_headers
                    .iter()
                    .any(|(changed, _)| changed.eq_ignore_ascii_case(name))
            {
                continue;
            }
            client_output.extend_from_slice(name.as_bytes());
            client_output.extend_from_slice(b": ");
            client_output.extend_from_slice(value);
            client_output.extend_from_slice(b"\r\n");
        }
        for (name, value) in &self.response_headers {
            if let Some(value) = value {
                client_output.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
        }
        match framing {
            Framing::None => {}
            Framing::Length(length) => {
                client_output.extend_from_slice(format!("Content-Length: {length}\r\n").as_bytes())
            }
            Framing::Chunked => client_output.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            Framing::Close => {}
        }
        if self.close_client {
            client_output.extend_from_slice(b"Connection: close\r\n");
        }
        client_output.extend_from_slice(b"\r\n");
    }
}

/// How the answer to the client is framed.
#[derive(Debug, Clone, Copy)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}
