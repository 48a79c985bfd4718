//! One proxied exchange with an HTTP/1.1 upstream (`proxy` actions and `upstreams`): the
//! request head and body go out as the client sends them, the answer comes back as the
//! upstream sends it, and neither is buffered whole.
//!
//! The upstream connection comes from the worker's pool (or is opened) and goes back to
//! it when the answer allows another request on it. An application process's connection
//! comes from its lease instead and goes back to it, parked, for the process's next
//! request, whichever worker that comes from. A request that asked to upgrade
//! (`Upgrade`, WebSocket) and is answered `101` ends the exchange with the upstream
//! connection handed over, for the client connection to become a tunnel.
//!
//! What it does not do: pick the upstream (the route did), read or write the client's
//! socket (the connection passes its buffers), or time out (the worker does).

use std::io;

use mio::{Interest, Registry};
use unit_engine::Stream;
use unit_http::{
    AppBody, AppRequestHead, BodyRelay, ChunkedDecoder, ClientFraming, FLAG_TLS, FLAG_UPGRADE,
    HeadLimits, HeadWriter, ResponseHeadParsed, WebSocketLimits, decode_app_response_into,
    encode_chunk, encode_last_chunk, parse_response_head_into,
};

use super::pool::{Parked, Upstream, UpstreamPool, connect};
use crate::http::{ConnAddr, Field, HttpRequest, IpText};
use crate::routes::ProxyTarget;

/// Buffer at most this much in either direction before waiting for the reader.
pub(crate) const HIGH_WATER: usize = 256 * 1024;
/// The largest response head accepted from an upstream.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Hop-by-hop fields, never forwarded (RFC 9110 section 7.6.1), plus the framing
/// fields the exchange sets itself.
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

/// What a step of the exchange came to.
#[derive(Debug)]
pub(crate) enum ExchangeStep {
    /// Waiting for a socket.
    Blocked,
    /// The exchange is complete; the client connection may go on unless `close_client`.
    Done { close_client: bool },
    /// The upstream answered `101` to an upgrade: the connection is the client's to
    /// tunnel through (bytes the upstream sent after the head are in `early`).
    Upgraded { upstream: Upstream, early: Vec<u8> },
    /// The upstream failed before answering: answer the client with this status.
    Failed(u16),
    /// The upstream failed mid-answer: the client connection must be closed.
    Broken,
}

/// The upstream connection an exchange uses.
#[derive(Debug)]
struct Link {
    upstream: Upstream,
    /// It came from the pool (and may turn out closed by the upstream).
    reused: bool,
    /// Its connect has completed.
    connected: bool,
    /// The socket may hold unread bytes (set by readiness events, cleared once a read
    /// drains it).
    readable: bool,
    /// The socket reported a close or an error: it is read until a read shows which,
    /// since a short read does not show a close that came with the data.
    hung_up: bool,
    /// It is registered for writability as well as readability. A parked application
    /// connection is not: a unix socket reports writability each time its peer reads,
    /// which would wake the worker once more per request for nothing.
    watches_writes: bool,
}

impl Link {
    /// A link over `upstream`: a reused connection is connected already, a new one is
    /// connecting. Readiness is awaited either way.
    fn new(upstream: Upstream, reused: bool, watches_writes: bool) -> Link {
        Link {
            upstream,
            reused,
            connected: reused,
            readable: false,
            hung_up: false,
            watches_writes,
        }
    }

    /// Registers the connection for writability too, if it is not: from now on a full
    /// socket that drains raises an event.
    fn watch_writes(&mut self, registry: &Registry) -> io::Result<()> {
        if !self.watches_writes {
            registry.reregister(
                self.upstream.stream.source(),
                self.upstream.token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            self.watches_writes = true;
        }
        Ok(())
    }
}

/// The request going out.
#[derive(Debug)]
struct Outgoing {
    /// What goes to the upstream; `written` of it is written. Until body bytes join it,
    /// it holds just the request head, kept after writing so the request can go again on
    /// a fresh connection when a pooled one turns out to be closed.
    bytes: Vec<u8>,
    written: usize,
    body: RequestBody,
    /// Body bytes have gone out: the request can no longer be sent again.
    body_forwarded: bool,
    /// The whole request has been taken from the client.
    done: bool,
}

/// The answer coming back.
#[derive(Debug)]
struct Incoming {
    bytes: Vec<u8>,
    /// `None` while the head is awaited.
    relay: Option<BodyRelay>,
    /// Anything arrived from the upstream on the current link.
    received_any: bool,
    /// The head is in the client's output: a failure from here on can only close the
    /// client connection.
    head_written: bool,
    /// The upstream allows another request on the connection.
    keep_alive: bool,
}

/// What the client asked for that shapes the answer.
#[derive(Debug)]
struct ClientSide {
    head_request: bool,
    version_minor: u8,
    /// The request asked to switch protocols.
    upgrade: bool,
    /// The answer ends with the client connection.
    close: bool,
    /// The action's changes to the answer's fields (already expanded).
    response_headers: Vec<(String, Option<String>)>,
}

/// How the request head goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadFormat<'a> {
    /// An HTTP/1.1 request head, hop-by-hop fields replaced (upstreams, external
    /// applications).
    Http,
    /// The binary frame of a language runner (`unit_http::AppRequestHead`): every
    /// field as the client sent it, with the connection's addresses and the
    /// application target.
    AppFrame {
        /// The target of `applications/<name>/<target>`; empty for none.
        app_target: &'a str,
        /// What the runner enforces should the request upgrade to a WebSocket.
        websocket: WebSocketLimits,
    },
}

/// Whom an exchange is with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// An upstream server (`proxy`, `upstreams`): its connections are kept alive in the
    /// pool, and one that fails before answering is a 502.
    Upstream,
    /// An application process: its one connection is parked with the process between
    /// requests rather than pooled here, and a process that fails before answering is
    /// a 503.
    Application,
}

/// One proxied exchange.
#[derive(Debug)]
pub(crate) struct Exchange {
    peer: Peer,
    target: ProxyTarget,
    /// The client connection's token, which the upstream's events lead back to.
    owner: usize,
    link: Option<Link>,
    /// The link was opened fresh after a pooled one failed; no further retry.
    retried: bool,
    /// An application process's open connection, to use before connecting anew.
    parked: Option<Parked>,
    /// The application connection the finished exchange leaves for the next request.
    kept: Option<Parked>,
    outgoing: Outgoing,
    incoming: Incoming,
    client: ClientSide,
    /// The status the upstream answered (for the access log).
    pub(crate) status: u16,
    /// Body bytes passed to the client (for the access log).
    pub(crate) body_bytes: u64,
    /// The answer's header fields as the client got them, kept when the access log
    /// may show them (`$response_header_*`).
    pub(crate) sent_headers: Option<Vec<Field>>,
    /// The peer is a language runner: its answers start with a head frame
    /// (`unit_http::AppResponseHead`) rather than an HTTP head.
    framed_answers: bool,
}

impl Exchange {
    /// Prepares an exchange of `request` with `target`; `response_headers` are the
    /// action's changes to the answer (already expanded).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        request: &HttpRequest,
        peer: Peer,
        format: HeadFormat<'_>,
        target: ProxyTarget,
        body: RequestBody,
        response_headers: Vec<(String, Option<String>)>,
        owner: usize,
        pool: &mut UpstreamPool,
    ) -> Exchange {
        let upgrade = request.wants_upgrade();
        let mut head = pool.buffer();
        match format {
            HeadFormat::Http => write_request_head(request, &body, upgrade, &mut head),
            HeadFormat::AppFrame {
                app_target,
                websocket,
            } => write_app_frame(request, &body, upgrade, app_target, websocket, &mut head),
        }
        Exchange {
            peer,
            target,
            owner,
            link: None,
            retried: false,
            parked: None,
            kept: None,
            outgoing: Outgoing {
                bytes: head,
                written: 0,
                done: matches!(body, RequestBody::Done),
                body,
                body_forwarded: false,
            },
            incoming: Incoming {
                bytes: pool.buffer(),
                relay: None,
                received_any: false,
                head_written: false,
                keep_alive: false,
            },
            client: ClientSide {
                head_request: request.method == "HEAD",
                version_minor: request.version_minor,
                upgrade,
                close: false,
                response_headers,
            },
            status: 0,
            body_bytes: 0,
            sent_headers: None,
            framed_answers: matches!(format, HeadFormat::AppFrame { .. }),
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
    ) -> ExchangeStep {
        loop {
            let unreachable = self.unreachable_status();
            if self.link.is_none() && !self.open(registry, pool) {
                return ExchangeStep::Failed(unreachable);
            }
            let Some(link) = &mut self.link else {
                return ExchangeStep::Failed(unreachable);
            };
            if !link.connected {
                match link.upstream.stream.connected() {
                    Ok(true) => link.connected = true,
                    Ok(false) => return ExchangeStep::Blocked,
                    Err(_) => return self.fail(registry, pool, unreachable),
                }
            }
            self.take_request_body(client_input);
            // Writing goes on until the socket is full (its writability then raises an
            // event), so writes alone never call for another round: only moved input can.
            if self.write_out(registry).is_err() {
                match self.link_failed(registry, pool) {
                    Some(step) => return step,
                    None => continue,
                }
            }
            // A write that emptied a full buffer makes room for body the client sent
            // meanwhile: it is taken now, since no event will say so (the client's
            // bytes are read already, and the upstream socket has room).
            let waiting_input = client_input.len();
            self.take_request_body(client_input);
            let mut progressed = client_input.len() != waiting_input;
            let mut eof = false;
            if client_output.len() < HIGH_WATER {
                match self.read_in() {
                    Ok((read, at_eof)) => {
                        progressed |= read > 0;
                        eof = at_eof;
                    }
                    Err(_) => match self.link_failed(registry, pool) {
                        Some(step) => return step,
                        None => continue,
                    },
                }
            }
            // What arrived with the close is passed on before the close is handled.
            match self.pass_response(&mut pool.response_head, client_output, server, date) {
                Ok(Passed::Moved(moved)) => progressed |= moved,
                Ok(Passed::Upgraded) => return self.upgraded(registry),
                Err(status) => return self.fail(registry, pool, status),
            }
            if eof {
                match self.incoming.relay.as_mut() {
                    None => match self.link_failed(registry, pool) {
                        Some(step) => return step,
                        None => continue,
                    },
                    Some(relay) => {
                        if relay.upstream_closed(client_output).is_err() {
                            return self.fail(registry, pool, 502);
                        }
                        self.incoming.keep_alive = false;
                    }
                }
            }
            let answered = self.incoming.relay.as_ref().is_some_and(BodyRelay::is_done);
            if answered && self.outgoing.done && self.sent_all() {
                self.finish(registry, pool);
                return ExchangeStep::Done {
                    close_client: self.client.close,
                };
            }
            if !progressed {
                return ExchangeStep::Blocked;
            }
        }
    }

    /// Offers an application process's open connection for the request.
    pub(crate) fn offer_connection(&mut self, connection: Parked) {
        self.parked = Some(connection);
    }

    /// The application connection a finished exchange leaves reusable.
    pub(crate) fn take_kept_connection(&mut self) -> Option<Parked> {
        self.kept.take()
    }

    /// Keeps the answer's header fields for the access log.
    pub(crate) fn keep_sent_headers(&mut self) {
        self.sent_headers = Some(Vec::new());
    }

    /// The client connection closes after this answer: its head says so.
    pub(crate) fn close_after_answer(&mut self) {
        self.client.close = true;
    }

    /// Whether the answer's head has gone to the client's output.
    pub(crate) fn answer_started(&self) -> bool {
        self.incoming.head_written
    }

    /// Whether the client's request body is still being forwarded (so the client
    /// connection must be read while the exchange waits).
    pub(crate) fn wants_client_body(&self) -> bool {
        !self.outgoing.done
    }

    /// The upstream socket reported readability, or (`hung_up`) a close or an error.
    pub(crate) fn mark_readable(&mut self, hung_up: bool) {
        if let Some(link) = &mut self.link {
            link.readable = true;
            link.hung_up |= hung_up;
        }
    }

    /// The exchange is over: its buffers go back to the pool for the next one.
    pub(crate) fn recycle(self, pool: &mut UpstreamPool) {
        pool.recycle_buffer(self.outgoing.bytes);
        pool.recycle_buffer(self.incoming.bytes);
    }

    /// The client connection is going away mid-exchange: the upstream connection is
    /// closed, since the answer it is sending has nowhere to go.
    pub(crate) fn abandon(&mut self, registry: &Registry, pool: &mut UpstreamPool) {
        self.close_link(registry, pool);
    }

    fn close_link(&mut self, registry: &Registry, pool: &mut UpstreamPool) {
        if let Some(link) = self.link.take() {
            pool.close(registry, link.upstream);
        }
    }

    /// What the client is answered when the peer cannot be reached or fails before it
    /// answers.
    fn unreachable_status(&self) -> u16 {
        match self.peer {
            Peer::Upstream => 502,
            Peer::Application => 503,
        }
    }

    /// Takes a pooled connection to the target, or connects; false when neither works.
    fn open(&mut self, registry: &Registry, pool: &mut UpstreamPool) -> bool {
        if !self.retried
            && self.peer == Peer::Upstream
            && let Some(upstream) = pool.take(&self.target, self.owner)
        {
            // Still registered from its first use; an idle connection that had anything
            // to say was dropped from the pool, so nothing waits unread.
            self.link = Some(Link::new(upstream, true, true));
            return true;
        }
        if self.peer == Peer::Application {
            return self.open_application(registry, pool);
        }
        let Ok(mut stream) = connect(&self.target) else {
            return false;
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
            return false;
        }
        self.link = Some(Link::new(Upstream { stream, token }, false, true));
        true
    }

    /// Takes the process's parked connection, or connects to its socket.
    fn open_application(&mut self, registry: &Registry, pool: &mut UpstreamPool) -> bool {
        // One that hung up or spoke while parked is not used: its events went unheeded.
        // One that stays quiet reports whatever comes next as new readiness. A language
        // runner never speaks unasked, and a request without a body that finds its
        // connection closed goes again on a new one (`link_failed`), so that case
        // spares the look.
        let check_quiet = !self.framed_answers || !self.outgoing.done;
        if let Some(parked) = self
            .parked
            .take()
            .filter(|parked| !check_quiet || parked.is_quiet())
            && let Some(upstream) = pool.claim_app(registry, parked, self.owner)
        {
            self.link = Some(Link::new(upstream, true, false));
            return true;
        }
        // A language runner (framed answers) is spoken to through pipes.
        let stream = match &self.target {
            ProxyTarget::Unix(path) if self.framed_answers => Stream::connect_runner(path),
            target => connect(target),
        };
        let Ok(stream) = stream else {
            return false;
        };
        let Ok(upstream) = pool.register_app(registry, stream, self.owner) else {
            return false;
        };
        // A new connection is watched for writability until its first park, since its
        // connect may complete later.
        self.link = Some(Link::new(upstream, false, true));
        true
    }

    /// A pooled connection that turned out closed is replaced by a fresh one when the
    /// request can be sent again (None: go on, the request goes out again); otherwise
    /// the exchange fails.
    fn link_failed(
        &mut self,
        registry: &Registry,
        pool: &mut UpstreamPool,
    ) -> Option<ExchangeStep> {
        let reused = self.link.as_ref().is_some_and(|link| link.reused);
        if reused && !self.incoming.received_any && !self.outgoing.body_forwarded {
            self.close_link(registry, pool);
            self.retried = true;
            // No body went out, so what was written is the head alone.
            self.outgoing.written = 0;
            return None;
        }
        let status = self.unreachable_status();
        Some(self.fail(registry, pool, status))
    }

    fn fail(&mut self, registry: &Registry, pool: &mut UpstreamPool, status: u16) -> ExchangeStep {
        self.close_link(registry, pool);
        if self.incoming.head_written {
            ExchangeStep::Broken
        } else {
            ExchangeStep::Failed(status)
        }
    }

    /// The answer is out: a reusable upstream connection goes back to the pool.
    fn finish(&mut self, registry: &Registry, pool: &mut UpstreamPool) {
        let Some(link) = self.link.take() else {
            return;
        };
        if !self.incoming.keep_alive || !self.incoming.bytes.is_empty() {
            pool.close(registry, link.upstream);
            return;
        }
        match self.peer {
            Peer::Upstream => pool.put(registry, self.target.clone(), link.upstream),
            Peer::Application => {
                let mut upstream = link.upstream;
                if link.watches_writes
                    && registry
                        .reregister(upstream.stream.source(), upstream.token, Interest::READABLE)
                        .is_err()
                {
                    pool.close(registry, upstream);
                    return;
                }
                self.kept = Some(pool.park_app(upstream));
            }
        }
    }

    /// The upstream switched protocols: its connection goes to the client's tunnel,
    /// which waits for its writability as well.
    fn upgraded(&mut self, registry: &Registry) -> ExchangeStep {
        let Some(mut link) = self.link.take() else {
            return ExchangeStep::Broken;
        };
        if link.watch_writes(registry).is_err() {
            return ExchangeStep::Broken;
        }
        ExchangeStep::Upgraded {
            upstream: link.upstream,
            early: std::mem::take(&mut self.incoming.bytes),
        }
    }

    /// Moves the client's body into the outgoing buffer, as far as it has arrived.
    fn take_request_body(&mut self, client_input: &mut Vec<u8>) {
        let outgoing = &mut self.outgoing;
        if outgoing.done || outgoing.bytes.len() - outgoing.written >= HIGH_WATER {
            return;
        }
        let taken = forward_body(&mut outgoing.body, client_input, &mut outgoing.bytes);
        outgoing.body_forwarded |= taken.forwarded;
        outgoing.done |= taken.done;
        if taken.malformed {
            self.client.close = true;
        }
    }

    /// Writes what it can to the upstream; Ok(true) when nothing is left to write,
    /// Ok(false) when the socket is full.
    fn write_out(&mut self, registry: &Registry) -> io::Result<bool> {
        let Some(link) = &mut self.link else {
            return Ok(true);
        };
        let outgoing = &mut self.outgoing;
        if !link
            .upstream
            .stream
            .write_pending(&outgoing.bytes, &mut outgoing.written)?
        {
            link.watch_writes(registry)?;
            return Ok(false);
        }
        // The head alone stays for a resend; written body bytes are done with.
        if outgoing.body_forwarded {
            outgoing.bytes.clear();
            outgoing.written = 0;
        }
        Ok(true)
    }

    /// Whether everything taken for the upstream has been written.
    fn sent_all(&self) -> bool {
        self.outgoing.written == self.outgoing.bytes.len()
    }

    /// Reads what the upstream sent; returns (bytes, eof).
    fn read_in(&mut self) -> io::Result<(usize, bool)> {
        let Some(link) = &mut self.link else {
            return Ok((0, false));
        };
        if !link.readable {
            return Ok((0, false));
        }
        let outcome = link
            .upstream
            .stream
            .read_available(&mut self.incoming.bytes, HIGH_WATER)?;
        link.readable = !outcome.drained || (link.hung_up && !outcome.eof);
        self.incoming.received_any |= outcome.read > 0;
        Ok((outcome.read, outcome.eof))
    }

    /// Passes the response head and body on to the client as far as they have arrived.
    /// A head and a malformed body that arrive together are refused whole (nothing has
    /// gone to the client yet, so it gets an error answer instead of a cut-off one, as
    /// in Unit).
    fn pass_response(
        &mut self,
        head: &mut ResponseHeadParsed,
        client_output: &mut Vec<u8>,
        server: &str,
        date: &str,
    ) -> Result<Passed, u16> {
        let head_start = client_output.len();
        let had_head = self.incoming.head_written;
        let passed = self.pass_response_parts(head, client_output, server, date);
        if passed.is_err() && !had_head && self.incoming.head_written {
            client_output.truncate(head_start);
            self.incoming.head_written = false;
        }
        passed
    }

    fn pass_response_parts(
        &mut self,
        head: &mut ResponseHeadParsed,
        client_output: &mut Vec<u8>,
        server: &str,
        date: &str,
    ) -> Result<Passed, u16> {
        let mut moved = false;
        if self.incoming.relay.is_none() {
            loop {
                let limits = HeadLimits {
                    max_head_bytes: MAX_RESPONSE_HEAD,
                    max_headers: 256,
                };
                let parsed = if self.framed_answers {
                    decode_app_response_into(&self.incoming.bytes, self.client.head_request, head)
                } else {
                    parse_response_head_into(
                        &self.incoming.bytes,
                        &limits,
                        self.client.head_request,
                        head,
                    )
                };
                match parsed {
                    Ok(true) => {}
                    Ok(false) => return Ok(Passed::Moved(moved)),
                    Err(_) => return Err(502),
                }
                self.incoming.bytes.drain(..head.head_len);
                moved = true;
                if head.status == 101 && self.client.upgrade {
                    self.status = 101;
                    self.write_client_head(head, ClientFraming::None, client_output, server, date);
                    return Ok(Passed::Upgraded);
                }
                // Other interim answers (100 Continue) are the upstream's business.
                if !(100..200).contains(&head.status) {
                    break;
                }
            }
            self.status = head.status;
            self.incoming.keep_alive = head.keep_alive;
            let (relay, framing) = BodyRelay::new(head.body, self.client.version_minor);
            if framing == ClientFraming::Close {
                self.client.close = true;
            }
            self.write_client_head(head, framing, client_output, server, date);
            self.incoming.head_written = true;
            self.incoming.relay = Some(relay);
        }
        let Some(relay) = &mut self.incoming.relay else {
            return Ok(Passed::Moved(moved));
        };
        let relayed = relay
            .relay(
                &self.incoming.bytes,
                client_output,
                self.client.head_request,
            )
            .map_err(|_| 502u16)?;
        if relayed.consumed > 0 {
            self.incoming.bytes.drain(..relayed.consumed);
            self.body_bytes += relayed.body_bytes;
            moved = true;
        }
        Ok(Passed::Moved(moved))
    }

    fn write_client_head(
        &mut self,
        head: &ResponseHeadParsed,
        framing: ClientFraming,
        client_output: &mut Vec<u8>,
        server: &str,
        date: &str,
    ) {
        let head_start = client_output.len();
        let switching = head.status == 101;
        let has = |name: &str| {
            head.headers
                .iter()
                .any(|(field, _)| field.eq_ignore_ascii_case(name))
        };
        let mut out = HeadWriter::start(client_output, head.status);
        if !has("Server") {
            out.field("Server", server.as_bytes());
        }
        if !has("Date") {
            out.field("Date", date.as_bytes());
        }
        // As in Unit, `response_headers` change only successful and redirecting answers.
        let changes: &[(String, Option<String>)] = if (200..400).contains(&head.status) {
            &self.client.response_headers
        } else {
            &[]
        };
        for (name, value) in &head.headers {
            let hop_by_hop = HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop));
            // A switch of protocols keeps the fields that say what it switches to.
            let switch_field = switching
                && (name.eq_ignore_ascii_case("upgrade")
                    || name.eq_ignore_ascii_case("connection"));
            let changed = changes
                .iter()
                .any(|(changed, _)| changed.eq_ignore_ascii_case(name));
            if (hop_by_hop && !switch_field) || changed {
                continue;
            }
            out.field(name, value);
        }
        for (name, value) in changes {
            if let Some(value) = value {
                out.field(name, value.as_bytes());
            }
        }
        match framing {
            ClientFraming::None | ClientFraming::Close => {}
            // Spelled as the upstream spelled it (ASGI applications send lowercase).
            ClientFraming::Length(length) => {
                let name = head
                    .headers
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .find(|name| name.eq_ignore_ascii_case("content-length"))
                    .unwrap_or("Content-Length");
                out.decimal_field(name, length)
            }
            ClientFraming::Chunked => out.field("Transfer-Encoding", b"chunked"),
        }
        // HTTP/1.0 closes unless told otherwise, so only HTTP/1.1 is told.
        if self.client.close && !switching && self.client.version_minor == 1 {
            out.field("Connection", b"close");
        }
        out.finish();
        if let Some(sent) = &mut self.sent_headers {
            record_fields(&client_output[head_start..], sent);
        }
    }
}

/// What passing the answer on did.
#[derive(Debug)]
enum Passed {
    /// Bytes moved (or not).
    Moved(bool),
    /// The upstream switched protocols.
    Upgraded,
}

/// What one [`forward_body`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BodyTaken {
    /// Body bytes left the client's input.
    pub(crate) forwarded: bool,
    /// The whole body has been taken (or, when `malformed`, forwarding stopped).
    pub(crate) done: bool,
    /// The chunked body is malformed: the upstream sees it cut short, and the client
    /// connection must close after the answer.
    pub(crate) malformed: bool,
}

/// Moves what has arrived of the request body from `client_input` to `out`, the bytes
/// for the upstream: a length-framed body as it is, a chunked one decoded and encoded
/// again, so only well-formed chunks reach the upstream.
pub(crate) fn forward_body(
    body: &mut RequestBody,
    client_input: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> BodyTaken {
    let mut taken = BodyTaken::default();
    match body {
        RequestBody::Done => taken.done = true,
        RequestBody::Length(remaining) => {
            let n_taken = (*remaining).min(client_input.len() as u64) as usize;
            taken.forwarded = n_taken > 0;
            out.extend_from_slice(&client_input[..n_taken]);
            client_input.drain(..n_taken);
            *remaining -= n_taken as u64;
            taken.done = *remaining == 0;
        }
        RequestBody::Chunked(decoder) => {
            let mut decoded = Vec::new();
            let Ok(consumed) = decoder.decode(client_input, &mut decoded) else {
                // A malformed body: stop forwarding; the upstream sees a truncated
                // chunked body and the client connection is closed afterwards.
                taken.done = true;
                taken.malformed = true;
                client_input.clear();
                return taken;
            };
            client_input.drain(..consumed);
            taken.forwarded = consumed > 0;
            encode_chunk(&decoded, out);
            if decoder.is_done() {
                encode_last_chunk(out);
                taken.done = true;
            }
        }
    }
    taken
}

/// Writes the request line and fields that go to the upstream.
pub(crate) fn write_request_head(
    request: &HttpRequest,
    body: &RequestBody,
    upgrade: bool,
    head: &mut Vec<u8>,
) {
    head.extend_from_slice(request.method.as_bytes());
    head.push(b' ');
    if request.rewritten {
        // `$uri` is decoded: encoded again, nothing in it can bend the request line.
        unit_http::percent_encode(request.uri.as_bytes(), unit_http::is_path_byte, |byte| {
            head.push(byte)
        });
        if !request.query.is_empty() {
            head.push(b'?');
            push_target_text(head, &request.query);
        }
    } else {
        push_target_text(head, &request.target);
    }
    head.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &request.headers {
        let keep_upgrade = upgrade && name.eq_ignore_ascii_case("upgrade");
        if !keep_upgrade && HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop)) {
            continue;
        }
        push_field(head, name, value);
    }
    if upgrade {
        head.extend_from_slice(b"Connection: upgrade\r\n");
    }
    match body {
        RequestBody::Length(length) => {
            head.extend_from_slice(b"Content-Length: ");
            unit_http::push_decimal(head, *length);
            head.extend_from_slice(b"\r\n");
        }
        RequestBody::Chunked(_) => head.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        RequestBody::Done => {}
    }
    head.extend_from_slice(b"\r\n");
}

/// Appends target text as the client sent it, but for its spaces: a target taken with
/// spaces in it (`GET /a b HTTP/1.1`, as Unit takes it) goes on with them encoded, so the
/// upstream reads the whole target the router routed rather than a shorter one or a bad
/// request line.
fn push_target_text(head: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        if byte == b' ' {
            head.extend_from_slice(b"%20");
        } else {
            head.push(byte);
        }
    }
}

/// Appends the frame a language runner reads the request from.
fn write_app_frame(
    request: &HttpRequest,
    body: &RequestBody,
    upgrade: bool,
    app_target: &str,
    websocket: WebSocketLimits,
    head: &mut Vec<u8>,
) {
    let address = |address: &ConnAddr| match address {
        ConnAddr::Inet(address) => (IpText::new(address.ip()), address.port()),
        ConnAddr::Unix => (IpText::empty(), 0),
    };
    let (remote_addr, remote_port) = address(&request.remote);
    let (local_addr, local_port) = address(&request.local);
    let mut flags = 0;
    if request.https {
        flags |= FLAG_TLS;
    }
    if upgrade {
        flags |= FLAG_UPGRADE;
    }
    let frame = AppRequestHead {
        method: &request.method,
        target: &request.target,
        path: &request.uri,
        query: &request.query,
        version_minor: request.version_minor,
        flags,
        body: match body {
            RequestBody::Done => AppBody::None,
            RequestBody::Length(length) => AppBody::Length(*length),
            RequestBody::Chunked(_) => AppBody::Chunked,
        },
        remote_addr: remote_addr.as_str(),
        remote_port,
        local_addr: local_addr.as_str(),
        local_port,
        // As Unit: the host the request names, or `localhost` without one.
        server_name: if request.host.is_empty() {
            "localhost"
        } else {
            &request.host
        },
        app_target,
        websocket,
    };
    let fields = request
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_slice()));
    frame.encode(fields, head);
}

/// The fields of a response head just written, for the access log.
fn record_fields(head: &[u8], sent: &mut Vec<Field>) {
    sent.clear();
    let text = String::from_utf8_lossy(head);
    for line in text.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            sent.push((name.to_owned().into(), value.trim().to_owned().into()));
        }
    }
}

/// Appends one `name: value` request field (as the client sent it; httparse checked it).
fn push_field(output: &mut Vec<u8>, name: &str, value: &[u8]) {
    output.extend_from_slice(name.as_bytes());
    output.extend_from_slice(b": ");
    output.extend_from_slice(value);
    output.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::{RequestBody, write_request_head};
    use crate::template::tests::sample_request;

    /// Found by fuzzing (`proxy-framing`): a target with spaces, which the router takes,
    /// went to the upstream as it came, so a strict upstream refused the request line
    /// and a lenient one could read a shorter target than the one that was routed.
    #[test]
    fn a_target_with_spaces_goes_out_encoded() {
        let mut request = sample_request();
        request.target = "/c dex.html?x=1 2".to_owned();
        request.headers = vec![("Host".to_owned(), b"a".to_vec())];
        let mut head = Vec::new();
        write_request_head(&request, &RequestBody::Done, false, &mut head);
        assert_eq!(
            String::from_utf8_lossy(&head),
            "GET /c%20dex.html?x=1%202 HTTP/1.1\r\nHost: a\r\n\r\n"
        );
        // So does the query after a `rewrite`.
        request.uri = "/new path".to_owned();
        request.query = "x=1 GET /".to_owned();
        request.rewritten = true;
        head.clear();
        write_request_head(&request, &RequestBody::Done, false, &mut head);
        assert_eq!(
            String::from_utf8_lossy(&head),
            "GET /new%20path?x=1%20GET%20/ HTTP/1.1\r\nHost: a\r\n\r\n"
        );
    }
}
