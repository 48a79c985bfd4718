//! Proxying a request to an HTTP/1.1 upstream (`proxy` actions and `upstreams`): the
//! request head and body go out as the client sends them, the response comes back as
//! the upstream sends it, neither is buffered whole, and upstream connections are kept
//! alive in a per-worker pool for the next request.

use std::collections::VecDeque;
use std::io;

use mio::{Interest, Registry, Token};
use unit_engine::{HashMap, Stream};
use unit_http::{
    ChunkedDecoder, HeadLimits, ResponseBody, ResponseHeadParsed, encode_chunk, encode_last_chunk,
    parse_response_head_into, reason_phrase,
};

use crate::connection::push_decimal;
use crate::http::HttpRequest;
use crate::routes::ProxyTarget;

/// Buffer at most this much in either direction before waiting for the reader.
const HIGH_WATER: usize = 256 * 1024;
/// The largest response head accepted from an upstream.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Buffers larger than this are freed rather than kept for reuse.
const RECYCLED_BUFFER_LIMIT: usize = 64 * 1024;
/// How many spare buffers a worker keeps.
const SPARE_BUFFERS: usize = 32;
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

/// An upstream connection with the token it stays registered under for its whole life,
/// so reusing it from the pool costs no epoll_ctl calls.
#[derive(Debug)]
struct Upstream {
    stream: Stream,
    token: Token,
}

/// One worker's upstream connections: which client connection each one in use serves,
/// and the idle ones kept alive by target.
///
/// Upstream tokens are odd, above `first_token`; the worker's client connections use
/// the even ones, so a token alone tells which kind an event is for.
#[derive(Debug)]
pub(crate) struct UpstreamPool {
    idle: HashMap<ProxyTarget, Vec<Upstream>>,
    /// Every upstream token in use → the client connection token it serves, or None
    /// while the connection is idle in the pool.
    owners: HashMap<Token, Option<usize>>,
    /// Buffers of finished exchanges, for the next ones.
    spare_buffers: Vec<Vec<u8>>,
    /// Upstream response heads are parsed into this one (a worker runs one exchange
    /// at a time), so parsing reuses its strings.
    response_head: ResponseHeadParsed,
    next_token: usize,
    first_token: usize,
    last_token: usize,
}

impl UpstreamPool {
    /// A pool handing out odd tokens from `first_token | 1` up to `last_token`.
    pub(crate) fn new(first_token: usize, last_token: usize) -> UpstreamPool {
        UpstreamPool {
            idle: HashMap::default(),
            owners: HashMap::default(),
            spare_buffers: Vec::new(),
            response_head: ResponseHeadParsed::default(),
            next_token: first_token | 1,
            first_token: first_token | 1,
            last_token,
        }
    }

    /// The client connection an upstream token serves, if it is in use.
    pub(crate) fn owner(&self, token: Token) -> Option<usize> {
        self.owners.get(&token).copied().flatten()
    }

    /// An idle connection reported readiness. Unless the event is a stale one from its
    /// last exchange, the upstream closed it or spoke out of turn, so it cannot serve
    /// another request: it is dropped (and deregistered).
    pub(crate) fn check_idle(&mut self, registry: &Registry, token: Token) {
        for upstreams in self.idle.values_mut() {
            if let Some(position) = upstreams.iter().position(|idle| idle.token == token) {
                if !upstreams[position].stream.is_quiet() {
                    let mut upstream = upstreams.swap_remove(position);
                    self.owners.remove(&token);
                    let _ = registry.deregister(upstream.stream.source());
                }
                return;
            }
        }
    }

    /// Closes every idle connection (a new configuration may name other upstreams).
    pub(crate) fn clear_idle(&mut self, registry: &Registry) {
        for (_, upstreams) in self.idle.drain() {
            for mut upstream in upstreams {
                self.owners.remove(&upstream.token);
                let _ = registry.deregister(upstream.stream.source());
            }
        }
    }

    /// How many upstream connections are idle in the pool.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.values().map(Vec::len).sum()
    }

    /// An empty buffer, reused when one is spare.
    fn buffer(&mut self) -> Vec<u8> {
        self.spare_buffers.pop().unwrap_or_default()
    }

    /// Keeps a buffer for a later exchange; large or surplus ones are freed.
    fn recycle_buffer(&mut self, mut buffer: Vec<u8>) {
        if buffer.capacity() <= RECYCLED_BUFFER_LIMIT && self.spare_buffers.len() < SPARE_BUFFERS {
            buffer.clear();
            self.spare_buffers.push(buffer);
        }
    }

    fn take(&mut self, target: &ProxyTarget, owner: usize) -> Option<Upstream> {
        let upstream = self.idle.get_mut(target)?.pop()?;
        self.owners.insert(upstream.token, Some(owner));
        Some(upstream)
    }

    /// A token for a new upstream connection serving `owner`.
    fn new_token(&mut self, owner: usize) -> Token {
        loop {
            let token = Token(self.next_token);
            self.next_token = if self.next_token >= self.last_token - 2 {
                self.first_token
            } else {
                self.next_token + 2
            };
            if let hashbrown::hash_map::Entry::Vacant(entry) = self.owners.entry(token) {
                entry.insert(Some(owner));
                return token;
            }
        }
    }

    /// Keeps a connection for the next request to `target`, or closes it if enough are kept.
    fn put(&mut self, registry: &Registry, target: ProxyTarget, mut upstream: Upstream) {
        let idle = self.idle.entry(target).or_default();
        if idle.len() < POOL_PER_TARGET {
            self.owners.insert(upstream.token, None);
            idle.push(upstream);
        } else {
            self.owners.remove(&upstream.token);
            let _ = registry.deregister(upstream.stream.source());
        }
    }

    /// Closes a connection that will not be reused.
    fn close(&mut self, registry: &Registry, mut upstream: Upstream) {
        self.owners.remove(&upstream.token);
        let _ = registry.deregister(upstream.stream.source());
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
    /// Chunked: passed on as sent, or decoded (`dechunk`) for an HTTP/1.0 client, whose
    /// answer then ends with the connection.
    Chunked {
        decoder: ChunkedDecoder,
        dechunk: bool,
    },
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
    upstream: Option<Upstream>,
    /// The client connection's token, which the upstream's events lead back to.
    owner: usize,
    connected: bool,
    reused: bool,
    /// The upstream socket may hold unread bytes (set by readiness events, cleared
    /// once a read drains it).
    readable: bool,
    /// The upstream socket reported a close or an error: it is read until a read
    /// shows which, since a short read does not show a close that came with the data.
    hung_up: bool,
    /// What goes to the upstream; `out_written` of it is written. Until body bytes join
    /// it, it holds just the request head, kept after writing so the request can go
    /// again on a fresh connection when a pooled one turns out to be closed.
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
    /// The answer's head is in the client's output: a failure from here on can only
    /// close the client connection.
    client_head_written: bool,
}

impl Proxy {
    /// Prepares an exchange with the first of `candidates` that connects; `response_headers`
    /// are the action's changes to the answer (already expanded).
    pub(crate) fn new(
        request: &HttpRequest,
        candidates: Vec<ProxyTarget>,
        request_body: RequestBody,
        response_headers: Vec<(String, Option<String>)>,
        owner: usize,
        pool: &mut UpstreamPool,
    ) -> Proxy {
        let mut head = pool.buffer();
        head.extend_from_slice(request.method.as_bytes());
        head.push(b' ');
        if request.rewritten {
            // `$uri` is decoded: encoded again, nothing in it can bend the request line.
            unit_http::percent_encode(request.uri.as_bytes(), unit_http::is_path_byte, |byte| {
                head.push(byte)
            });
            if !request.query.is_empty() {
                head.push(b'?');
                head.extend_from_slice(request.query.as_bytes());
            }
        } else {
            head.extend_from_slice(request.target.as_bytes());
        }
        head.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in &request.headers {
            if HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop)) {
                continue;
            }
            push_field(&mut head, name, value);
        }
        match &request_body {
            RequestBody::Length(length) => {
                head.extend_from_slice(b"Content-Length: ");
                push_decimal(&mut head, *length);
                head.extend_from_slice(b"\r\n");
            }
            RequestBody::Chunked(_) => head.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            RequestBody::Done => {}
        }
        head.extend_from_slice(b"\r\n");
        Proxy {
            target: None,
            candidates: candidates.into(),
            upstream: None,
            owner,
            connected: false,
            reused: false,
            readable: false,
            hung_up: false,
            out: head,
            out_written: 0,
            request_done: matches!(request_body, RequestBody::Done),
            request_body,
            body_forwarded: false,
            inbuf: pool.buffer(),
            phase: ResponsePhase::Head,
            upstream_keep_alive: false,
            head_request: request.method == "HEAD",
            client_http10: request.version_minor == 0,
            close_client: false,
            response_headers,
            status: 0,
            body_bytes: 0,
            received_any: false,
            client_head_written: false,
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
            if self.upstream.is_none() && !self.open(registry, pool) {
                return ProxyStep::Failed(502);
            }
            if !self.connected {
                match self
                    .upstream
                    .as_ref()
                    .map(|upstream| upstream.stream.connected())
                {
                    Some(Ok(true)) => self.connected = true,
                    Some(Ok(false)) => return ProxyStep::Blocked,
                    _ => {
                        self.drop_stream(registry, pool);
                        continue;
                    }
                }
            }
            self.take_request_body(client_input);
            // Writing goes on until the socket is full (its writability then raises an
            // event), so writes alone never call for another round: only moved input can.
            if self.write_out().is_err() {
                match self.upstream_failed(registry, pool) {
                    Some(step) => return step,
                    None => continue,
                }
            }
            let mut progressed = false;
            let mut eof = false;
            if client_output.len() < HIGH_WATER {
                match self.read_in() {
                    Ok((read, at_eof)) => {
                        progressed |= read > 0;
                        eof = at_eof;
                    }
                    Err(_) => match self.upstream_failed(registry, pool) {
                        Some(step) => return step,
                        None => continue,
                    },
                }
            }
            // What arrived with the close is passed on before the close is handled.
            match self.pass_response(&mut pool.response_head, client_output, server, date) {
                Ok(moved) => progressed |= moved,
                Err(status) => return self.fail(registry, pool, status),
            }
            if eof {
                if !matches!(self.phase, ResponsePhase::Done) {
                    match self.upstream_closed(registry, pool, client_output) {
                        Some(step) => return step,
                        None => continue,
                    }
                }
                self.upstream_keep_alive = false;
            }
            if matches!(self.phase, ResponsePhase::Done) && self.request_done && self.sent_all() {
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

    /// The upstream socket reported readability, or (`hung_up`) a close or an error.
    pub(crate) fn mark_readable(&mut self, hung_up: bool) {
        self.readable = true;
        self.hung_up |= hung_up;
    }

    /// The exchange is over: its buffers go back to the pool for the next one.
    pub(crate) fn recycle(self, pool: &mut UpstreamPool) {
        pool.recycle_buffer(self.out);
        pool.recycle_buffer(self.inbuf);
    }

    /// The client connection is going away mid-exchange: the upstream connection is
    /// closed, since the answer it is sending has nowhere to go.
    pub(crate) fn abandon(&mut self, registry: &Registry, pool: &mut UpstreamPool) {
        self.close_upstream(registry, pool);
    }

    /// Closes the current upstream connection, if any, for good.
    fn close_upstream(&mut self, registry: &Registry, pool: &mut UpstreamPool) {
        if let Some(upstream) = self.upstream.take() {
            pool.close(registry, upstream);
        }
    }

    /// Takes a pooled connection to the next candidate, or connects; false when none is left.
    fn open(&mut self, registry: &Registry, pool: &mut UpstreamPool) -> bool {
        while let Some(target) = self.candidates.front().cloned() {
            if let Some(upstream) = pool.take(&target, self.owner) {
                // Still registered from its first use; an idle connection that had
                // anything to say was dropped from the pool, so nothing waits unread.
                self.upstream = Some(upstream);
                self.reused = true;
                self.connected = true;
                self.readable = false;
                self.hung_up = false;
                self.target = Some(target);
                return true;
            }
            let Ok(mut stream) = connect(&target) else {
                self.candidates.pop_front();
                continue;
            };
            let token = pool.new_token(self.owner);
            // Writability shows when the connect completes, and later when a full socket
            // drains; a registration for both lasts the connection's whole life.
            if registry
                .register(
                    stream.source(),
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                pool.close(registry, Upstream { stream, token });
                self.candidates.pop_front();
                continue;
            }
            self.upstream = Some(Upstream { stream, token });
            self.reused = false;
            self.connected = false;
            self.readable = false;
            self.hung_up = false;
            self.target = Some(target);
            return true;
        }
        false
    }

    /// Drops the current connection after a connect failure: the next candidate is tried.
    fn drop_stream(&mut self, registry: &Registry, pool: &mut UpstreamPool) {
        self.close_upstream(registry, pool);
        if !self.reused {
            self.candidates.pop_front();
        }
        self.connected = false;
        self.reused = false;
    }

    /// A pooled connection that turned out closed is replaced by a fresh one when the
    /// request can be sent again (None: go on, the request goes out again); otherwise
    /// the exchange fails.
    fn upstream_failed(
        &mut self,
        registry: &Registry,
        pool: &mut UpstreamPool,
    ) -> Option<ProxyStep> {
        let retry = self.reused && !self.received_any && !self.body_forwarded;
        if retry {
            self.close_upstream(registry, pool);
            self.connected = false;
            self.reused = false;
            // No body went out, so what was written is the head alone.
            self.out_written = 0;
            return None;
        }
        Some(self.fail(registry, pool, 502))
    }

    /// The upstream closed its connection: the end of an answer framed by the close,
    /// or a failure (None: the request goes out again on a fresh connection).
    fn upstream_closed(
        &mut self,
        registry: &Registry,
        pool: &mut UpstreamPool,
        client_output: &mut Vec<u8>,
    ) -> Option<ProxyStep> {
        match &self.phase {
            ResponsePhase::UntilClose { rechunk } => {
                if *rechunk {
                    encode_last_chunk(client_output);
                }
                self.phase = ResponsePhase::Done;
                self.upstream_keep_alive = false;
                self.close_upstream(registry, pool);
                Some(ProxyStep::Done {
                    close_client: self.close_client,
                })
            }
            ResponsePhase::Head => self.upstream_failed(registry, pool),
            _ => Some(self.fail(registry, pool, 502)),
        }
    }

    fn fail(&mut self, registry: &Registry, pool: &mut UpstreamPool, status: u16) -> ProxyStep {
        self.close_upstream(registry, pool);
        if self.client_head_written {
            ProxyStep::Broken
        } else {
            ProxyStep::Failed(status)
        }
    }

    /// The exchange is over: a reusable upstream connection goes back to the pool.
    fn finish(&mut self, registry: &Registry, pool: &mut UpstreamPool) {
        let Some(upstream) = self.upstream.take() else {
            return;
        };
        match self.target.take() {
            Some(target) if self.upstream_keep_alive && self.inbuf.is_empty() => {
                pool.put(registry, target, upstream)
            }
            _ => pool.close(registry, upstream),
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
        let Some(upstream) = &mut self.upstream else {
            return Ok(true);
        };
        if !upstream
            .stream
            .write_pending(&self.out, &mut self.out_written)?
        {
            return Ok(false);
        }
        // The head alone stays for a resend; written body bytes are done with.
        if self.body_forwarded {
            self.out.clear();
            self.out_written = 0;
        }
        Ok(true)
    }

    /// Whether everything taken for the upstream has been written.
    fn sent_all(&self) -> bool {
        self.out_written == self.out.len()
    }

    /// Reads what the upstream sent; returns (bytes, eof).
    fn read_in(&mut self) -> io::Result<(usize, bool)> {
        let Some(upstream) = &mut self.upstream else {
            return Ok((0, false));
        };
        if !self.readable {
            return Ok((0, false));
        }
        let outcome = upstream
            .stream
            .read_available(&mut self.inbuf, HIGH_WATER)?;
        self.readable = !outcome.drained || (self.hung_up && !outcome.eof);
        self.received_any |= outcome.read > 0;
        Ok((outcome.read, outcome.eof))
    }

    /// Passes the response head and body on to the client as far as they have arrived;
    /// Ok(true) if anything moved, Err(status) on a malformed response.
    fn pass_response(
        &mut self,
        head: &mut ResponseHeadParsed,
        client_output: &mut Vec<u8>,
        server: &str,
        date: &str,
    ) -> Result<bool, u16> {
        let head_start = client_output.len();
        let had_head = self.client_head_written;
        let passed = self.pass_response_parts(head, client_output, server, date);
        if passed.is_err() && !had_head && self.client_head_written {
            // The head and a malformed body arrived together: nothing has gone to the
            // client yet, so it gets an error answer instead of a cut-off one, as in Unit.
            client_output.truncate(head_start);
            self.client_head_written = false;
        }
        passed
    }

    fn pass_response_parts(
        &mut self,
        head: &mut ResponseHeadParsed,
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
                    match parse_response_head_into(&self.inbuf, &limits, self.head_request, head) {
                        Ok(true) => {}
                        Ok(false) => return Ok(moved),
                        Err(_) => return Err(502),
                    }
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
                        ResponseBody::Chunked if self.client_http10 => {
                            self.close_client = true;
                            let phase = ResponsePhase::Chunked {
                                decoder: ChunkedDecoder::new(),
                                dechunk: true,
                            };
                            (phase, Framing::Close)
                        }
                        ResponseBody::Chunked => {
                            let phase = ResponsePhase::Chunked {
                                decoder: ChunkedDecoder::new(),
                                dechunk: false,
                            };
                            (phase, Framing::Chunked)
                        }
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
                    self.client_head_written = true;
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
                ResponsePhase::Chunked { decoder, dechunk } => {
                    let before = client_output.len();
                    let consumed = if *dechunk {
                        decoder
                            .decode(&self.inbuf, client_output)
                            .map_err(|_| 502u16)?
                    } else {
                        // The chunks pass through as sent; decoding a copy finds the end.
                        let mut scratch = Vec::new();
                        let consumed = decoder
                            .decode(&self.inbuf, &mut scratch)
                            .map_err(|_| 502u16)?;
                        client_output.extend_from_slice(&self.inbuf[..consumed]);
                        self.body_bytes += scratch.len() as u64;
                        consumed
                    };
                    if *dechunk {
                        self.body_bytes += (client_output.len() - before) as u64;
                    }
                    if consumed > 0 {
                        self.inbuf.drain(..consumed);
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
        client_output.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(client_output, u64::from(status));
        client_output.push(b' ');
        client_output.extend_from_slice(reason_phrase(status).as_bytes());
        client_output.extend_from_slice(b"\r\n");
        let has = |name: &str| {
            headers
                .iter()
                .any(|(header, _)| header.eq_ignore_ascii_case(name))
        };
        if !has("Server") {
            push_field(client_output, "Server", server.as_bytes());
        }
        if !has("Date") {
            push_field(client_output, "Date", date.as_bytes());
        }
        // As in Unit, `response_headers` change only successful and redirecting answers.
        let changes: &[(String, Option<String>)] = if (200..400).contains(&status) {
            &self.response_headers
        } else {
            &[]
        };
        for (name, value) in headers {
            if HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop))
                || changes
                    .iter()
                    .any(|(changed, _)| changed.eq_ignore_ascii_case(name))
            {
                continue;
            }
            push_field(client_output, name, value);
        }
        for (name, value) in changes {
            if let Some(value) = value {
                push_field(client_output, name, value.as_bytes());
            }
        }
        match framing {
            Framing::None => {}
            Framing::Length(length) => {
                client_output.extend_from_slice(b"Content-Length: ");
                push_decimal(client_output, length);
                client_output.extend_from_slice(b"\r\n");
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

/// Appends one `name: value` header line.
fn push_field(output: &mut Vec<u8>, name: &str, value: &[u8]) {
    output.extend_from_slice(name.as_bytes());
    output.extend_from_slice(b": ");
    output.extend_from_slice(value);
    output.extend_from_slice(b"\r\n");
}

/// How the answer to the client is framed.
#[derive(Debug, Clone, Copy)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;

    use super::*;

    fn connected_upstream(listener: &TcpListener, registry: &Registry, token: Token) -> Upstream {
        let address = listener.local_addr().expect("address");
        let mut stream = Stream::connect_tcp(address).expect("connect");
        registry
            .register(stream.source(), token, Interest::READABLE)
            .expect("register");
        Upstream { stream, token }
    }

    #[test]
    fn pooled_connections_keep_their_tokens_and_owners() {
        let poll = mio::Poll::new().expect("poll");
        let registry = poll.registry();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = ProxyTarget::Inet(listener.local_addr().expect("address"));
        let mut pool = UpstreamPool::new(1000, 1010);

        let first = pool.new_token(7);
        let second = pool.new_token(8);
        assert_eq!((first, second), (Token(1001), Token(1003)), "odd tokens");
        assert_eq!(pool.owner(first), Some(7));

        let upstream = connected_upstream(&listener, registry, first);
        pool.put(registry, target.clone(), upstream);
        assert_eq!(pool.owner(first), None, "an idle connection serves nobody");
        assert_eq!(pool.idle_count(), 1);

        let reused = pool.take(&target, 9).expect("the idle connection");
        assert_eq!(reused.token, first, "reuse keeps the token");
        assert_eq!(pool.owner(first), Some(9));
        pool.close(registry, reused);
        assert_eq!(pool.owner(first), None);
        assert_eq!(pool.idle_count(), 0);

        // Tokens wrap around, skipping the ones still in use.
        let tokens: Vec<Token> = (0..4).map(|owner| pool.new_token(owner)).collect();
        assert_eq!(tokens, [Token(1005), Token(1007), Token(1009), Token(1001)]);
        pool.owners.remove(&Token(1007));
        assert_eq!(pool.new_token(5), Token(1007), "1003 and 1005 are in use");

        // A connection idle in the pool keeps its token as well.
        pool.owners.remove(&Token(1005));
        pool.owners.remove(&Token(1009));
        let idle = connected_upstream(&listener, registry, Token(1009));
        pool.put(registry, target.clone(), idle);
        assert_eq!(pool.owner(Token(1009)), None);
        assert_eq!(
            pool.new_token(6),
            Token(1005),
            "1009 is idle, 1001 and 1003 in use"
        );
    }

    #[test]
    fn an_idle_connection_that_speaks_is_dropped() {
        let poll = mio::Poll::new().expect("poll");
        let registry = poll.registry();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = ProxyTarget::Inet(listener.local_addr().expect("address"));
        let mut pool = UpstreamPool::new(1000, 1 << 20);
        let token = pool.new_token(1);
        let upstream = connected_upstream(&listener, registry, token);
        let (mut server_side, _) = listener.accept().expect("accept");
        pool.put(registry, target.clone(), upstream);

        pool.check_idle(registry, token);
        assert_eq!(
            pool.idle_count(),
            1,
            "a stale event keeps a quiet connection"
        );

        server_side.write_all(b"unasked").expect("write");
        let speaks = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            pool.check_idle(registry, token);
            pool.idle_count() == 0
        });
        assert!(speaks, "a connection with unread bytes is dropped");
        assert!(pool.take(&target, 2).is_none());
    }
}
