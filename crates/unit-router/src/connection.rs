//! One HTTP/1.1 client connection (RFC 9112): requests are read, answered in order
//! (pipelining), and the connection kept alive until the client or a limit ends it.
//!
//! The connection reads whatever is available through its [`Transport`], handles every
//! complete request in its buffer, writes the answers (file bodies with sendfile where
//! the transport allows), and tells its worker what it waits for next so the right
//! timeout is armed. A proxied request runs as an [`Exchange`] with an upstream; one
//! answered `101 Switching Protocols` turns the connection into a [`Tunnel`]. After a
//! refusal the connection closes lingering, so the client sees the answer.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::Registry;
use mio::event::Source;
use unit_http::{
    BodyKind, ChunkedDecoder, HeadLimits, HeadWriter, HeaderBuffers, RequestHead,
    is_safe_field_name, parse_request_head_into,
};

use crate::applications::{Acquired, AppPool, Lease, Unavailable};
use crate::buffers::SpareBuffers;
use crate::conf::ActiveConf;
use crate::counters::Counters;
use crate::handler::{self, Outcome, Services, error_page};
use crate::http::{Body, ConnAddr, Field, HttpRequest, HttpResponse, RequestIds, Text, TlsDetails};
use crate::routes::ProxyTarget;
use crate::template::ResponseVars;
use crate::transport::{FileSend, Transport};
use crate::tunnel::{Tunnel, TunnelStep};
use crate::upstream::{Exchange, ExchangeStep, HeadFormat, Peer, RequestBody, UpstreamPool};

/// Stop reading ahead once this much unhandled input is buffered.
const MAX_BUFFERED_INPUT: usize = 1024 * 1024;

/// What a connection waits for, which decides its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The rest of a request head.
    Header,
    /// More of a request body.
    Body,
    /// The client to take more of the answer.
    Send,
    /// The next request on a kept-alive connection.
    Idle,
    /// A proxied upstream.
    Upstream,
    /// The client to stop sending after a refusal (a lingering close).
    Linger,
    /// Either side of a tunnel.
    Tunnel,
    /// An application: a process to come free, or its answer (`limits.timeout`).
    Application,
}

/// What the worker should do with the connection after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drive {
    Wait(Wait),
    Close,
}

/// A request body being read (and discarded: no action here consumes bodies).
#[derive(Debug)]
enum BodyState {
    Length(u64),
    Chunked(ChunkedDecoder, u64),
}

/// An application's request waiting for the rest of its chunked body.
#[derive(Debug)]
struct Collecting {
    pool: Arc<AppPool>,
    target: String,
    response_headers: Vec<(String, Option<String>)>,
    /// The body decoded so far.
    body: Vec<u8>,
}

/// What the access log needs once an answer is written.
#[derive(Debug)]
struct Finished {
    request: HttpRequest,
    status: u16,
    body_bytes: u64,
    headers: Vec<Field>,
    started: Instant,
}

impl Finished {
    /// A request passed on, its answer still to come.
    fn awaiting(request: HttpRequest, started: Instant) -> Finished {
        Finished {
            status: 0,
            body_bytes: 0,
            headers: Vec::new(),
            request,
            started,
        }
    }
}

/// An answer waiting for the request body to be read.
#[derive(Debug)]
struct PendingAnswer {
    response: HttpResponse,
    head_only: bool,
}

/// What driving a connection needs from its worker.
pub(crate) struct DriveContext<'a> {
    pub(crate) services: &'a mut Services,
    pub(crate) counters: &'a Counters,
    pub(crate) date: &'a str,
    /// The time of the engine turn this drive runs in.
    pub(crate) now: Instant,
    pub(crate) registry: &'a Registry,
    pub(crate) pool: &'a mut UpstreamPool,
    /// The connection's own token, which its upstream's events are routed back to.
    pub(crate) token: usize,
    pub(crate) request_ids: &'a mut RequestIds,
    /// Where a process for a waiting request is delivered: to this worker, for the
    /// connection with the token, by the sequence number of its request.
    pub(crate) grants: &'a GrantSink,
    /// Which worker thread this is.
    pub(crate) worker: usize,
}

/// Delivers a waiting request's process (or the news that none will come) to the worker
/// the connection lives in: `(token, request sequence, outcome)`.
pub(crate) type GrantSink = Arc<dyn Fn(usize, u64, Result<Lease, Unavailable>) + Send + Sync>;

/// A request passed to an application.
#[derive(Debug)]
struct AppRequest {
    pool: Arc<AppPool>,
    /// The application target the `pass` named; empty for none.
    target: String,
    /// The WebSocket limits of the configuration it arrived on.
    websocket: unit_http::WebSocketLimits,
    /// The process serving it, once it has one.
    lease: Option<Lease>,
    /// Its place in the pool's queue while it waits.
    ticket: Option<u64>,
    /// Which of the connection's requests this is (a late delivery for an earlier one is
    /// given back).
    seq: u64,
    /// The request body, until the exchange with the process takes it.
    body: Option<RequestBody>,
    response_headers: Vec<(String, Option<String>)>,
    /// When it was passed on: `limits.timeout` runs from here.
    since: Instant,
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct Connection {
    transport: Transport,
    /// The TLS session's details, once its handshake is done.
    tls: Option<TlsDetails>,
    remote: ConnAddr,
    local: ConnAddr,
    listener: Arc<str>,
    conf: Arc<ActiveConf>,
    input: Vec<u8>,
    /// Parsed into for each request; its buffers are reused.
    head: RequestHead,
    /// The last request served, whose buffers the next one reuses.
    recycled: Option<HttpRequest>,
    /// The socket may hold unread bytes (set by readiness events, cleared once a read
    /// drains it), so no read is made that could only return EAGAIN.
    readable: bool,
    /// The socket reported a close or an error: it is read until the read says which,
    /// since a short read does not show a close that came with the last bytes.
    hung_up: bool,
    eof: bool,
    pending: Option<PendingAnswer>,
    exchange: Option<Exchange>,
    /// The connection switched protocols: bytes pass both ways.
    tunnel: Option<Tunnel>,
    /// The request in progress is an application's.
    app: Option<AppRequest>,
    /// An application's request whose chunked body is read whole before it is passed
    /// on (`chunked_transform`, as in Unit).
    collecting: Option<Collecting>,
    /// How many requests have been passed to applications, to tell their deliveries
    /// apart.
    app_seq: u64,
    body: Option<BodyState>,
    /// When the head being read began to arrive: `header_read_timeout` runs from
    /// here, so a client trickling bytes cannot stretch it.
    head_started: Option<Instant>,
    started: Instant,
    output: Vec<u8>,
    written: usize,
    file: Option<FileSend>,
    close_after: bool,
    finished: Option<Finished>,
    requests: u64,
    /// The listener this connection came in on is no longer configured.
    listener_gone: bool,
    /// A request was refused while the client may still be sending: once the answer
    /// is out, the connection shuts its sending side and reads what still comes
    /// before it closes, so the client sees the answer rather than a reset.
    linger_on_close: bool,
    /// When the lingering close began.
    lingering_since: Option<Instant>,
    pub(crate) idle: bool,
}

impl Connection {
    pub(crate) fn new(
        transport: Transport,
        remote: ConnAddr,
        local: ConnAddr,
        listener: Arc<str>,
        conf: Arc<ActiveConf>,
    ) -> Connection {
        Connection {
            transport,
            tls: None,
            remote,
            local,
            listener,
            conf,
            input: Vec::new(),
            head: RequestHead::default(),
            recycled: None,
            readable: true,
            hung_up: false,
            eof: false,
            pending: None,
            exchange: None,
            tunnel: None,
            app: None,
            collecting: None,
            app_seq: 0,
            body: None,
            head_started: None,
            started: Instant::now(),
            output: Vec::new(),
            written: 0,
            file: None,
            close_after: false,
            finished: None,
            requests: 0,
            listener_gone: false,
            linger_on_close: false,
            lingering_since: None,
            idle: false,
        }
    }

    /// Gives the connection buffers again if it handed its own back while idle.
    pub(crate) fn lend_buffers(&mut self, spares: &mut SpareBuffers) {
        spares.lend_to(&mut self.input);
        spares.lend_to(&mut self.output);
    }

    /// Between requests: hands back the input and output buffers, which hold nothing
    /// now, so an idle connection keeps no memory it does not need.
    pub(crate) fn reclaim_buffers(&mut self, spares: &mut SpareBuffers) {
        if self.output_pending() {
            return;
        }
        self.written = 0;
        spares.reclaim(&mut self.input);
        spares.reclaim(&mut self.output);
    }

    /// The client socket, to register with the worker's engine.
    pub(crate) fn source(&mut self) -> &mut dyn Source {
        self.transport.source()
    }

    /// The client socket reported readability, or (`hung_up`) a close or an error.
    pub(crate) fn mark_readable(&mut self, hung_up: bool) {
        self.readable = true;
        self.hung_up |= hung_up;
        if let Some(tunnel) = &mut self.tunnel {
            tunnel.mark_client_readable(hung_up);
        }
    }

    /// The upstream socket of the exchange or tunnel in progress reported readability,
    /// or a close or an error.
    pub(crate) fn mark_upstream_readable(&mut self, hung_up: bool) {
        if let Some(exchange) = &mut self.exchange {
            exchange.mark_readable(hung_up);
        }
        if let Some(tunnel) = &mut self.tunnel {
            tunnel.mark_upstream_readable(hung_up);
        }
    }

    /// The connection is closing: an exchange with an upstream in progress is dropped,
    /// and a tunnel's upstream connection closed.
    pub(crate) fn abandon(&mut self, registry: &Registry, pool: &mut UpstreamPool) {
        if let Some(mut exchange) = self.exchange.take() {
            exchange.abandon(registry, pool);
        }
        if let Some(tunnel) = self.tunnel.take() {
            pool.close(registry, tunnel.upstream);
        }
        if let Some(app) = self.app.take()
            && let Some(ticket) = app.ticket
        {
            app.pool.cancel(ticket);
        }
    }

    /// A process (or the news that none will come) for the application request `seq`;
    /// false when the connection no longer waits for it (the lease is given back).
    pub(crate) fn app_delivered(&mut self, seq: u64, outcome: Result<Lease, Unavailable>) -> bool {
        let Some(app) = self
            .app
            .as_mut()
            .filter(|app| app.seq == seq && app.lease.is_none())
        else {
            return false;
        };
        app.ticket = None;
        match outcome {
            Ok(lease) => app.lease = Some(lease),
            Err(Unavailable) => {
                self.app = None;
                self.answer_unavailable();
            }
        }
        true
    }

    /// When the application request in progress was passed on, and how long its
    /// application may take (`None`: no limit).
    pub(crate) fn app_deadline(&self) -> Option<(Instant, Option<Duration>)> {
        self.app
            .as_ref()
            .map(|app| (app.since, app.pool.request_timeout))
    }

    /// The configuration the next request runs on: the worker's newest, if this
    /// connection's listener is still in it.
    pub(crate) fn refresh_conf(&mut self, newest: &Arc<ActiveConf>) {
        // Most events find the newest configuration in use already: checking that first
        // spares the lookup, and the reference count every worker shares.
        if Arc::ptr_eq(&self.conf, newest) {
            return;
        }
        let between_requests = self.pending.is_none()
            && self.exchange.is_none()
            && self.tunnel.is_none()
            && self.app.is_none()
            && self.output.is_empty();
        if between_requests && newest.listener(&self.listener).is_some() {
            self.conf = Arc::clone(newest);
        }
    }

    /// Whether this connection belongs to a listener `newest` no longer has.
    pub(crate) fn listener_removed(&self, newest: &ActiveConf) -> bool {
        newest.listener(&self.listener).is_none()
    }

    /// Its listener is gone: close now when nothing is in progress (true), else after
    /// the request being served, so the listener's socket is released.
    pub(crate) fn retire(&mut self) -> bool {
        self.listener_gone = true;
        let busy = self.pending.is_some()
            || self.exchange.is_some()
            || self.tunnel.is_some()
            || self.app.is_some()
            || self.output_pending()
            || !self.input.is_empty()
            || self.transport.has_unread();
        if busy {
            self.close_after = true;
        }
        !busy
    }

    /// Makes all the progress possible now.
    pub(crate) fn drive(&mut self, context: &mut DriveContext<'_>) -> Drive {
        // TLS records the socket had no room for go first, whatever else waits.
        if self.transport.flush_pending().is_err() {
            return Drive::Close;
        }
        if self.lingering_since.is_some() {
            return self.linger();
        }
        if let Some(tunnel) = &mut self.tunnel {
            return match tunnel.drive(&mut self.transport) {
                TunnelStep::Blocked => Drive::Wait(Wait::Tunnel),
                TunnelStep::Closed => Drive::Close,
            };
        }
        loop {
            if self.output_pending() {
                match self.flush() {
                    Ok(true) if self.exchange.is_none() => {
                        self.finish_response(context.counters);
                        if self.close_after {
                            return self.close_or_linger(context.now);
                        }
                    }
                    Ok(false) if self.exchange.is_none() => return Drive::Wait(Wait::Send),
                    Ok(_) => {}
                    Err(_) => return Drive::Close,
                }
            }
            if self.exchange.is_none() && self.app.is_some() {
                if !self.start_app_exchange(context) {
                    return Drive::Wait(Wait::Application);
                }
                continue;
            }
            if self.exchange.is_some() {
                match self.step_exchange(context) {
                    Some(drive) => return drive,
                    None => continue,
                }
            }
            if self.try_request(context) {
                continue;
            }
            match self.fill() {
                Ok(0) if self.eof => {
                    self.log_abandoned_head(context.counters);
                    return Drive::Close;
                }
                Ok(0) => return Drive::Wait(self.waiting_for(context.now)),
                Ok(_) => {}
                Err(_) => return Drive::Close,
            }
        }
    }

    /// The last answer is out: close, or after a refusal linger first.
    fn close_or_linger(&mut self, now: Instant) -> Drive {
        if !self.linger_on_close || self.eof || self.transport.shutdown_write().is_err() {
            return Drive::Close;
        }
        self.lingering_since = Some(now);
        self.input.clear();
        self.linger()
    }

    /// Reads and drops what the client still sends, until it closes.
    fn linger(&mut self) -> Drive {
        loop {
            self.input.clear();
            match self.fill() {
                Ok(_) if self.eof => return Drive::Close,
                Ok(0) => return Drive::Wait(Wait::Linger),
                Ok(_) => {}
                Err(_) => return Drive::Close,
            }
        }
    }

    /// When the lingering close began (its time limit runs from there).
    pub(crate) fn lingering_since(&self) -> Option<Instant> {
        self.lingering_since
    }

    /// One step of a proxied exchange; `Some` when the connection must wait or close.
    fn step_exchange(&mut self, context: &mut DriveContext<'_>) -> Option<Drive> {
        let exchange = self.exchange.as_mut()?;
        let step = exchange.progress(
            context.registry,
            context.pool,
            &mut self.input,
            &mut self.output,
            &self.conf.http.server,
            context.date,
        );
        match step {
            ExchangeStep::Blocked => {
                // What the upstream sent so far goes out now, not with its next bytes
                // (the client socket raises no event while it has room).
                if self.output_pending() {
                    match self.flush() {
                        Ok(true) => return None,
                        Ok(false) => {}
                        Err(_) => return Some(Drive::Close),
                    }
                }
                let wait = if self.output_pending() {
                    Wait::Send
                } else if self.app.is_some() {
                    Wait::Application
                } else {
                    Wait::Upstream
                };
                // Without a body still to forward the client is not read now: pipelined
                // requests wait in the socket until this exchange is done.
                if !self
                    .exchange
                    .as_ref()
                    .is_some_and(Exchange::wants_client_body)
                {
                    return Some(Drive::Wait(wait));
                }
                match self.fill() {
                    Ok(0) if self.eof => Some(Drive::Close),
                    // The client owes more body: `body_read_timeout` runs, as in Unit.
                    Ok(0) if wait != Wait::Send => Some(Drive::Wait(Wait::Body)),
                    Ok(0) => Some(Drive::Wait(wait)),
                    Ok(_) => None,
                    Err(_) => Some(Drive::Close),
                }
            }
            ExchangeStep::Done { close_client } => {
                if let Some(lease) = self.app.as_mut().and_then(|app| app.lease.as_mut()) {
                    lease.mark_served();
                    if let Some(connection) = self
                        .exchange
                        .as_mut()
                        .and_then(Exchange::take_kept_connection)
                    {
                        lease.keep_connection(connection);
                    }
                }
                self.end_exchange(context.pool);
                self.app = None;
                self.close_after |= close_client;
                if !self.output_pending() {
                    self.finish_response(context.counters);
                    if self.close_after {
                        return Some(Drive::Close);
                    }
                }
                None
            }
            ExchangeStep::Upgraded { upstream, early } => {
                self.end_exchange(context.pool);
                // The process stays leased while the tunnel lives (`app` is kept).
                // The 101 head is in the output; it goes out first, then the tunnel runs.
                let mut to_client = std::mem::take(&mut self.output);
                to_client.drain(..self.written);
                to_client.extend_from_slice(&early);
                self.written = 0;
                let to_upstream = std::mem::take(&mut self.input);
                self.finish_response(context.counters);
                self.tunnel = Some(Tunnel::new(upstream, to_upstream, to_client));
                Some(self.drive(context))
            }
            ExchangeStep::Failed(status) => {
                if let Some(exchange) = self.exchange.take() {
                    exchange.recycle(context.pool);
                }
                self.app = None;
                if let Some(finished) = self.finished.as_mut() {
                    finished.status = status;
                }
                let head_only = self
                    .finished
                    .as_ref()
                    .is_some_and(|finished| finished.request.method == "HEAD");
                self.queue_response(error_page(status), head_only, context.date);
                None
            }
            ExchangeStep::Broken => {
                // What the upstream sent before it failed still goes out, then the
                // connection closes: the client sees an answer cut short.
                self.end_exchange(context.pool);
                self.app = None;
                self.close_after = true;
                if self.output_pending() {
                    None
                } else {
                    self.finish_response(context.counters);
                    Some(Drive::Close)
                }
            }
        }
    }

    /// Asks the application's pool for a process; the request waits for one when all
    /// are busy, and is answered 503 when none can serve.
    fn pass_to_application(
        &mut self,
        pool: Arc<AppPool>,
        target: String,
        body: RequestBody,
        response_headers: Vec<(String, Option<String>)>,
        context: &mut DriveContext<'_>,
    ) {
        self.app_seq += 1;
        let seq = self.app_seq;
        let token = context.token;
        let grants = Arc::clone(context.grants);
        let acquired = pool.acquire(context.worker, move |outcome| grants(token, seq, outcome));
        let mut app = AppRequest {
            pool,
            target,
            websocket: self.conf.http.websocket,
            lease: None,
            ticket: None,
            seq,
            body: Some(body),
            response_headers,
            since: context.now,
        };
        match acquired {
            Acquired::Now(lease) => app.lease = Some(lease),
            Acquired::Waiting(ticket) => app.ticket = Some(ticket),
            Acquired::Unavailable => return self.answer_unavailable(),
        }
        self.app = Some(app);
    }

    /// Starts the exchange with the leased process; false while the request still
    /// waits for one.
    fn start_app_exchange(&mut self, context: &mut DriveContext<'_>) -> bool {
        let Some(app) = &mut self.app else {
            return false;
        };
        let (Some(lease), Some(finished)) = (&mut app.lease, &self.finished) else {
            return false;
        };
        let body = app.body.take().unwrap_or(RequestBody::Done);
        let format = if lease.speaks_frames() {
            HeadFormat::AppFrame {
                app_target: &app.target,
                websocket: app.websocket,
            }
        } else {
            HeadFormat::Http
        };
        let mut exchange = Exchange::new(
            &finished.request,
            Peer::Application,
            format,
            ProxyTarget::Unix(Arc::clone(lease.socket())),
            body,
            std::mem::take(&mut app.response_headers),
            context.token,
            context.pool,
        );
        if let Some(connection) = lease.take_connection() {
            exchange.offer_connection(connection);
        }
        if self.close_after {
            exchange.close_after_answer();
        }
        if self.conf.access_log.is_some() {
            exchange.keep_sent_headers();
        }
        self.exchange = Some(exchange);
        true
    }

    /// The request's body as an exchange forwards it (what is left of it to read).
    fn forwarded_body(&mut self) -> RequestBody {
        match self.body.take() {
            None => RequestBody::Done,
            Some(BodyState::Length(length)) => RequestBody::Length(length),
            Some(BodyState::Chunked(decoder, _)) => RequestBody::Chunked(decoder),
        }
    }

    /// No process can serve the request: 503.
    fn answer_unavailable(&mut self) {
        if let Some(finished) = self.finished.as_mut() {
            finished.status = 503;
        }
        let head_only = self
            .finished
            .as_ref()
            .is_some_and(|finished| finished.request.method == "HEAD");
        let date = unit_http::http_date(std::time::SystemTime::now());
        self.queue_response(error_page(503), head_only, &date);
    }

    /// The exchange is over: its figures go to the access log and its buffers back to
    /// the pool.
    fn end_exchange(&mut self, pool: &mut UpstreamPool) {
        if let Some(mut exchange) = self.exchange.take() {
            if let Some(finished) = self.finished.as_mut() {
                finished.status = exchange.status;
                finished.body_bytes = exchange.body_bytes;
                if let Some(sent) = exchange.sent_headers.take() {
                    finished.headers = sent;
                }
            }
            exchange.recycle(pool);
        }
    }

    /// What the connection waits for when there is nothing to do. A connection with
    /// no bytes of a request yet is idle, a new one too (as in Unit, `idle_timeout`
    /// applies until the first byte).
    fn waiting_for(&mut self, now: Instant) -> Wait {
        if self.pending.is_some() || self.collecting.is_some() {
            Wait::Body
        } else if self.input.is_empty() && !self.transport.is_handshaking() {
            Wait::Idle
        } else {
            self.head_started.get_or_insert(now);
            Wait::Header
        }
    }

    /// When the head being read began to arrive (for its timeout).
    pub(crate) fn head_started(&self) -> Option<Instant> {
        self.head_started
    }

    /// A read timeout passed while the connection waited for `wait`. As in Unit, the
    /// client is answered 408 before the connection closes: with the error page when a
    /// request was under way, with an empty answer when it was idle. Nothing is sent
    /// when part of an answer is out already. True when the connection should be driven
    /// on to send the answer and linger, so that what the client still sends does not
    /// reset the connection before the answer is read; false when it closes now.
    pub(crate) fn time_out(&mut self, wait: Wait, date: &str) -> bool {
        // A TLS handshake that did not finish has no one to answer.
        if self.transport.is_handshaking() {
            return false;
        }
        let response = match wait {
            Wait::Header | Wait::Body => error_page(408),
            Wait::Idle => HttpResponse::empty(408),
            // As in Unit, an application that takes too long is answered for: 503.
            Wait::Application => error_page(503),
            Wait::Send | Wait::Upstream | Wait::Linger | Wait::Tunnel => return false,
        };
        let answering = self.exchange.as_ref().is_some_and(Exchange::answer_started);
        if self.output_pending() || answering || self.tunnel.is_some() {
            return false;
        }
        self.refuse(response, date);
        // Only a client that was sending a head or body may still be sending.
        let lingers = matches!(wait, Wait::Header | Wait::Body)
            && self.exchange.is_none()
            && self.app.is_none();
        if !lingers {
            let _ = self.flush();
        }
        lingers
    }

    fn output_pending(&self) -> bool {
        self.written < self.output.len() || self.file.is_some()
    }

    /// Reads until the socket is drained (or enough is buffered); returns bytes read.
    fn fill(&mut self) -> io::Result<usize> {
        if !self.readable {
            return Ok(0);
        }
        let outcome = self
            .transport
            .read_available(&mut self.input, MAX_BUFFERED_INPUT)?;
        self.eof |= outcome.eof;
        self.readable = !outcome.drained || (self.hung_up && !outcome.eof);
        Ok(outcome.read)
    }

    /// Reads the body of an application's request; once it is whole, the request goes
    /// on with the body in front of the input (decoded, with a `Content-Length` in
    /// place of `Transfer-Encoding`, when it was chunked). True if it made progress.
    fn collect_body(&mut self, context: &mut DriveContext<'_>) -> bool {
        let max_body = self.conf.http.max_body_size;
        let Some(collecting) = &mut self.collecting else {
            return false;
        };
        let (consumed, done, chunked) = match &mut self.body {
            Some(BodyState::Length(remaining)) => {
                let taken = (*remaining).min(self.input.len() as u64) as usize;
                collecting.body.extend_from_slice(&self.input[..taken]);
                *remaining -= taken as u64;
                (taken, *remaining == 0, false)
            }
            Some(BodyState::Chunked(decoder, _)) => {
                match decoder.decode(&self.input, &mut collecting.body) {
                    Ok(consumed) => (consumed, decoder.is_done(), true),
                    Err(error) => {
                        self.collecting = None;
                        self.refuse_status(error.status(), context.date);
                        return true;
                    }
                }
            }
            None => (0, true, false),
        };
        self.input.drain(..consumed);
        if collecting.body.len() as u64 > max_body {
            self.collecting = None;
            self.refuse_status(413, context.date);
            return true;
        }
        if !done {
            return consumed > 0;
        }
        let Some(collecting) = self.collecting.take() else {
            return false;
        };
        self.body = None;
        let length = collecting.body.len() as u64;
        if chunked && let Some(finished) = self.finished.as_mut() {
            let headers = &mut finished.request.headers;
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case("transfer-encoding"));
            headers.push(("Content-Length".to_owned(), length.to_string().into_bytes()));
        }
        self.input.splice(..0, collecting.body);
        self.pass_to_application(
            collecting.pool,
            collecting.target,
            if length == 0 {
                RequestBody::Done
            } else {
                RequestBody::Length(length)
            },
            collecting.response_headers,
            context,
        );
        true
    }

    /// Starts or completes one request from the buffer; true if it made progress.
    fn try_request(&mut self, context: &mut DriveContext<'_>) -> bool {
        if self.collecting.is_some() {
            return self.collect_body(context);
        }
        if self.pending.is_none() {
            if self.input.is_empty() {
                return false;
            }
            let buffers = self.conf.http.header_buffers();
            match read_head(&self.input, &buffers, &mut self.head) {
                Ok(true) => {}
                Ok(false) => return false,
                Err(status) => {
                    self.refuse_status(status, context.date);
                    return true;
                }
            }
            // `$request_time` runs from the head's first byte, as in Unit.
            self.started = self.head_started.take().unwrap_or(context.now);
            self.input.drain(..self.head.head_len);
            self.body = match self.head.body {
                BodyKind::None => None,
                BodyKind::Length(length) if length > self.conf.http.max_body_size => {
                    self.refuse_status(413, context.date);
                    return true;
                }
                BodyKind::Length(length) => Some(BodyState::Length(length)),
                BodyKind::Chunked => Some(BodyState::Chunked(ChunkedDecoder::new(), 0)),
            };
            if self.head.expect_continue && self.body.is_some() && self.input.is_empty() {
                // Best effort: the client sends the body anyway after a while.
                let _ = self.transport.write_now(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let keep_alive = self.head.keep_alive;
            let mut request = match self.build_request(context.request_ids.next_id()) {
                Ok(request) => request,
                Err(status) => {
                    self.refuse_status(status, context.date);
                    return true;
                }
            };
            if let Some(status) = request.refused_websocket_handshake() {
                let mut response = error_page(status);
                if status == 426 {
                    response
                        .headers
                        .push(("Sec-WebSocket-Version".into(), "13".into()));
                }
                self.refuse(response, context.date);
                return true;
            }
            let conf = &*self.conf;
            let outcome = match conf.listener(&self.listener) {
                Some(listener) => handler::handle(conf, listener, &mut request, context.services),
                None => Outcome::Respond(error_page(503)),
            };
            self.close_after = !keep_alive || self.eof || self.listener_gone;
            let head_only = request.method == "HEAD";
            match outcome {
                Outcome::Respond(response) => {
                    self.finished = Some(Finished {
                        status: response.status,
                        body_bytes: if head_only { 0 } else { response.body.len() },
                        // Kept only for $response_header_* in the access log.
                        headers: if conf.access_log.is_some() {
                            response.headers.clone()
                        } else {
                            Vec::new()
                        },
                        request,
                        started: self.started,
                    });
                    self.pending = Some(PendingAnswer {
                        response,
                        head_only,
                    });
                }
                Outcome::Proxy {
                    target,
                    response_headers,
                } => {
                    let body = self.forwarded_body();
                    let mut exchange = Exchange::new(
                        &request,
                        Peer::Upstream,
                        HeadFormat::Http,
                        target,
                        body,
                        response_headers,
                        context.token,
                        context.pool,
                    );
                    if self.close_after {
                        exchange.close_after_answer();
                    }
                    if self.conf.access_log.is_some() {
                        exchange.keep_sent_headers();
                    }
                    self.exchange = Some(exchange);
                    self.finished = Some(Finished::awaiting(request, self.started));
                    return true;
                }
                Outcome::Application {
                    pool,
                    target,
                    response_headers,
                } => {
                    self.finished = Some(Finished::awaiting(request, self.started));
                    // As Unit: an application gets its request once the body is whole.
                    if self.body.is_some() {
                        self.collecting = Some(Collecting {
                            pool,
                            target,
                            response_headers,
                            body: Vec::new(),
                        });
                        return self.collect_body(context);
                    }
                    let body = self.forwarded_body();
                    self.pass_to_application(pool, target, body, response_headers, context);
                    return true;
                }
            }
        }
        // The answer is ready; the request body is read (and dropped) before it goes out,
        // so the next pipelined request starts where it should.
        match self.consume_body() {
            Ok(true) => {}
            Ok(false) => return false,
            Err(status) => {
                self.refuse_status(status, context.date);
                return true;
            }
        }
        let Some(pending) = self.pending.take() else {
            return false;
        };
        self.queue_response(pending.response, pending.head_only, context.date);
        true
    }

    /// Reads (and drops) the request body; Ok(true) once it is complete.
    fn consume_body(&mut self) -> Result<bool, u16> {
        let max_body = self.conf.http.max_body_size;
        match &mut self.body {
            None => Ok(true),
            Some(BodyState::Length(remaining)) => {
                let taken = (*remaining).min(self.input.len() as u64);
                self.input.drain(..taken as usize);
                *remaining -= taken;
                if *remaining == 0 {
                    self.body = None;
                    Ok(true)
                } else {
                    Ok(false)
                }
            }
            Some(BodyState::Chunked(decoder, received)) => {
                let mut sink = Vec::new();
                let consumed = decoder
                    .decode(&self.input, &mut sink)
                    .map_err(|error| error.status())?;
                self.input.drain(..consumed);
                *received += sink.len() as u64;
                if *received > max_body {
                    return Err(413);
                }
                if decoder.is_done() {
                    self.body = None;
                    Ok(true)
                } else {
                    Ok(false)
                }
            }
        }
    }

    /// Answers a request that cannot be served with an error, then closes.
    fn refuse_status(&mut self, status: u16, date: &str) {
        self.refuse(error_page(status), date);
    }

    /// Drops whatever request is under way and answers `response`, then closes (after
    /// a lingering close, as the client may still be sending).
    fn refuse(&mut self, response: HttpResponse, date: &str) {
        // A refused request is logged and counted as Unit does; a connection that was
        // merely idle has none.
        let request = match self.finished.take() {
            Some(finished) => Some(finished.request),
            None if self.head_started.is_some() || !self.input.is_empty() => Some(
                HttpRequest::empty(self.remote.clone(), self.local.clone(), self.started),
            ),
            None => None,
        };
        self.finished = request.map(|request| Finished {
            status: response.status,
            body_bytes: response.body.len(),
            headers: Vec::new(),
            request,
            started: self.started,
        });
        self.linger_on_close = true;
        self.pending = None;
        self.collecting = None;
        self.body = None;
        self.input.clear();
        self.close_after = true;
        self.queue_response(response, false, date);
    }

    /// The router's view of the parsed request head. It takes the head's strings, and
    /// the head takes those of the last request, so neither allocates once warm.
    fn build_request(&mut self, request_id: u128) -> Result<HttpRequest, u16> {
        let mut request = self.recycled.take().unwrap_or_else(|| {
            HttpRequest::empty(self.remote.clone(), self.local.clone(), self.started)
        });
        request.arrived = self.started;
        fill_request(
            &mut self.head,
            &mut request,
            self.conf.http.discard_unsafe_fields,
        )?;
        // `client_ip` may have replaced the address for the last request.
        request.remote.clone_from(&self.remote);
        request.https = self.transport.is_tls();
        if self.tls.is_none()
            && let Some((protocol, server_name)) = self.transport.tls_details()
        {
            self.tls = Some(TlsDetails {
                protocol,
                server_name: server_name.map(Arc::from),
            });
        }
        request.tls.clone_from(&self.tls);
        request.rewritten = false;
        request.id = request_id;
        Ok(request)
    }

    /// Writes the status line, headers and body (or queues the file) into the output.
    fn queue_response(&mut self, response: HttpResponse, head_only: bool, date: &str) {
        if self.written >= self.output.len() {
            self.output.clear();
            self.written = 0;
        }
        // As in Unit: an HTTP/1.1 answer says when it closes, an HTTP/1.0 one when it
        // does not.
        let http11 = self.head.version_minor != 0;
        let connection: Option<&'static str> = if http11 && self.close_after {
            Some("close")
        } else if !http11 && !self.close_after {
            Some("keep-alive")
        } else {
            None
        };
        let content_length =
            (!matches!(response.status, 100..=199 | 204 | 304)).then(|| response.body.len());
        // Straight into the buffer: no per-header allocation on the hot path.
        let mut head = HeadWriter::start(&mut self.output, response.status);
        head.field("Server", self.conf.http.server.as_bytes());
        head.field("Date", date.as_bytes());
        for (name, value) in &response.headers {
            head.field(name, value.as_bytes());
        }
        if let Some(length) = content_length {
            head.decimal_field("Content-Length", length);
        }
        if let Some(connection) = connection {
            head.field("Connection", connection.as_bytes());
        }
        head.finish();
        if self.conf.access_log.is_some()
            && let Some(finished) = &mut self.finished
        {
            // `$response_header_*` sees the fields the connection adds too.
            let added = &mut finished.headers;
            added.push((
                "Server".into(),
                Text::Shared(Arc::clone(&self.conf.http.server)),
            ));
            added.push(("Date".into(), date.to_owned().into()));
            if let Some(length) = content_length {
                added.push(("Content-Length".into(), length.to_string().into()));
            }
            if let Some(connection) = connection {
                added.push(("Connection".into(), connection.into()));
            }
        }
        if head_only {
            return;
        }
        match response.body {
            Body::Empty => {}
            Body::Bytes(bytes) => self.output.extend_from_slice(&bytes),
            Body::File { file, offset, len } => {
                self.file = Some(FileSend::new(file, offset, len));
            }
        }
    }

    /// Writes the queued answer; Ok(true) once all of it is out.
    fn flush(&mut self) -> io::Result<bool> {
        let more = self.file.is_some();
        if !self
            .transport
            .write_pending(&self.output, &mut self.written, more)?
        {
            return Ok(false);
        }
        if let Some(file) = &mut self.file {
            if !self.transport.send_file(file)? {
                return Ok(false);
            }
            self.file = None;
        }
        self.output.clear();
        self.written = 0;
        Ok(true)
    }

    /// An answer is out: count it and log it.
    /// The client closed in the middle of a head: logged as Unit logs it, a 400 with
    /// no request line.
    fn log_abandoned_head(&mut self, counters: &Counters) {
        let in_request = self.exchange.is_some()
            || self.app.is_some()
            || self.pending.is_some()
            || self.collecting.is_some()
            || self.finished.is_some();
        if self.input.is_empty() || in_request {
            return;
        }
        self.finished = Some(Finished {
            status: 400,
            body_bytes: 0,
            headers: Vec::new(),
            request: HttpRequest::empty(self.remote.clone(), self.local.clone(), self.started),
            started: self.started,
        });
        self.finish_response(counters);
    }

    fn finish_response(&mut self, counters: &Counters) {
        let Some(finished) = self.finished.take() else {
            return;
        };
        self.requests += 1;
        counters.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(access_log) = &self.conf.access_log {
            let time_local = chrono::Local::now()
                .format("%d/%b/%Y:%H:%M:%S %z")
                .to_string();
            let vars = ResponseVars {
                status: finished.status,
                body_bytes_sent: finished.body_bytes,
                request_time: finished.started.elapsed(),
                request_id: "",
                time_local: &time_local,
                response_headers: &finished.headers,
            };
            access_log.log(&finished.request, &vars);
        }
        // Its buffers serve the next request.
        self.recycled = Some(finished.request);
    }
}

/// Fills `request` with what the parsed `head` says: the path as `$uri` (decoded and
/// normalized; a path that does not normalize is the status to refuse it with), the
/// query, the host, the request line, and the method, target and fields, taken from the
/// head (which gets the request's old strings back). With `discard_unsafe_fields`, fields
/// whose names are not safe are dropped.
pub(crate) fn fill_request(
    head: &mut RequestHead,
    request: &mut HttpRequest,
    discard_unsafe_fields: bool,
) -> Result<(), u16> {
    // Unit serves an HTTP/1.1 request without a Host (`$host` is then empty).
    let (raw_path, query) = unit_http::split_target(&head.target);
    request.uri.clear();
    if unit_http::is_normal_path(raw_path.as_bytes()) {
        request.uri.push_str(raw_path);
    } else {
        let uri = unit_http::normalize_path(raw_path.as_bytes()).map_err(|error| error.status())?;
        request.uri.push_str(&String::from_utf8_lossy(&uri));
    }
    request.query.clear();
    request.query.push_str(query.unwrap_or(""));
    request.host.clear();
    if let Some(host) = head.host() {
        request.host.push_str(unit_http::host_name(host));
        request.host.make_ascii_lowercase();
    }
    request.request_line.clear();
    let line = &mut request.request_line;
    line.push_str(&head.method);
    line.push(' ');
    line.push_str(&head.target);
    line.push_str(if head.version_minor == 0 {
        " HTTP/1.0"
    } else {
        " HTTP/1.1"
    });
    std::mem::swap(&mut request.method, &mut head.method);
    std::mem::swap(&mut request.target, &mut head.target);
    std::mem::swap(&mut request.headers, &mut head.headers);
    if discard_unsafe_fields {
        request.headers.retain(|(name, _)| is_safe_field_name(name));
    }
    request.version_minor = head.version_minor;
    Ok(())
}

/// Parses the request head at the start of `input` as a connection does: `Ok(true)` once
/// it is whole in `head`, `Ok(false)` while more is to come, or the status to refuse it
/// with (431 when it does not fit `buffers`; a head whose version is unknown is refused
/// as HTTP/1.1).
pub(crate) fn read_head(
    input: &[u8],
    buffers: &HeaderBuffers,
    head: &mut RequestHead,
) -> Result<bool, u16> {
    let limits = HeadLimits {
        max_head_bytes: buffers.max_head_bytes(),
        max_headers: 256,
    };
    let complete = match parse_request_head_into(input, &limits, head) {
        Ok(complete) => complete,
        Err(error) => {
            // The version is unknown: the refusal is answered as HTTP/1.1.
            head.version_minor = 1;
            return Err(error.status());
        }
    };
    let head_len = if complete { head.head_len } else { input.len() };
    if !buffers.fits(&input[..head_len]) {
        return Err(431);
    }
    Ok(complete)
}
