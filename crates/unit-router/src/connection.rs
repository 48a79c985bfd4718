//! One HTTP/1.1 client connection (RFC 9112): requests are read, answered in order
//! (pipelining), and the connection kept alive until the client or a limit ends it.
//!
//! The connection reads whatever is available, handles every complete request in its
//! buffer, writes the answers (file bodies with sendfile), and tells its worker what it
//! waits for next so the right timeout is armed.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use mio::{Registry, Token};
use unit_engine::Stream;
use unit_http::{
    BodyKind, ChunkedDecoder, HeadLimits, RequestHead, is_safe_field_name, normalize_host,
    parse_request_head, reason_phrase,
};

use crate::conf::ActiveConf;
use crate::handler::{self, Outcome, Services, error_page};
use crate::http::{Body, ConnAddr, HttpRequest, HttpResponse, RequestIds};
use crate::proxy::{Proxy, ProxyStep, RequestBody, UpstreamPool};
use crate::router::Counters;
use crate::template::ResponseVars;

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

/// What the access log needs once an answer is written.
#[derive(Debug)]
struct Finished {
    request: HttpRequest,
    status: u16,
    body_bytes: u64,
    headers: Vec<(String, String)>,
    started: Instant,
}

/// An answer waiting for the request body to be read.
#[derive(Debug)]
struct PendingAnswer {
    response: HttpResponse,
    head_only: bool,
}

/// What driving a connection needs from its worker.
pub(crate) struct DriveContext<'a> {
    pub(crate) services: &'a Services,
    pub(crate) counters: &'a Counters,
    pub(crate) date: &'a str,
    pub(crate) registry: &'a Registry,
    pub(crate) pool: &'a mut UpstreamPool,
    /// The token the connection's upstream socket is registered under.
    pub(crate) upstream_token: Token,
    pub(crate) request_ids: &'a mut RequestIds,
}

/// A file body still to send.
#[derive(Debug)]
struct FileSend {
    file: Arc<std::fs::File>,
    offset: i64,
    remaining: u64,
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) stream: Stream,
    remote: ConnAddr,
    local: ConnAddr,
    listener: Arc<str>,
    conf: Arc<ActiveConf>,
    input: Vec<u8>,
    eof: bool,
    pending: Option<PendingAnswer>,
    proxy: Option<Proxy>,
    body: Option<BodyState>,
    started: Instant,
    output: Vec<u8>,
    written: usize,
    file: Option<FileSend>,
    close_after: bool,
    finished: Option<Finished>,
    requests: u64,
    /// The listener this connection came in on is no longer configured.
    listener_gone: bool,
    pub(crate) idle: bool,
}

impl Connection {
    pub(crate) fn new(
        stream: Stream,
        remote: ConnAddr,
        local: ConnAddr,
        listener: Arc<str>,
        conf: Arc<ActiveConf>,
    ) -> Connection {
        Connection {
            stream,
            remote,
            local,
            listener,
            conf,
            input: Vec::new(),
            eof: false,
            pending: None,
            proxy: None,
            body: None,
            started: Instant::now(),
            output: Vec::new(),
            written: 0,
            file: None,
            close_after: false,
            finished: None,
            requests: 0,
            listener_gone: false,
            idle: false,
        }
    }

    /// The configuration the next request runs on: the worker's newest, if this
    /// connection's listener is still in it.
    pub(crate) fn refresh_conf(&mut self, newest: &Arc<ActiveConf>) {
        let between_requests =
            self.pending.is_none() && self.proxy.is_none() && self.output.is_empty();
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
            || self.proxy.is_some()
            || self.output_pending()
            || !self.input.is_empty();
        if busy {
            self.close_after = true;
        }
        !busy
    }

    /// Makes all the progress possible now.
    pub(crate) fn drive(&mut self, context: &mut DriveContext<'_>) -> Drive {
        loop {
            if self.output_pending() {
                match self.flush() {
                    Ok(true) if self.proxy.is_none() => {
                        self.finish_response(context.counters);
                        if self.close_after {
                            return Drive::Close;
                        }
                    }
                    Ok(false) if self.proxy.is_none() => return Drive::Wait(Wait::Send),
                    Ok(_) => {}
                    Err(_) => return Drive::Close,
                }
            }
            if self.proxy.is_some() {
                match self.step_proxy(context) {
                    Some(drive) => return drive,
                    None => continue,
                }
            }
            if self.try_request(context) {
                continue;
            }
            match self.fill() {
                Ok(0) if self.eof => return Drive::Close,
                Ok(0) => return Drive::Wait(self.waiting_for()),
                Ok(_) => {}
                Err(_) => return Drive::Close,
            }
        }
    }

    /// One step of a proxied exchange; `Some` when the connection must wait or close.
    fn step_proxy(&mut self, context: &mut DriveContext<'_>) -> Option<Drive> {
        let proxy = self.proxy.as_mut()?;
        let step = proxy.progress(
            context.registry,
            context.pool,
            &mut self.input,
            &mut self.output,
            &self.conf.http.server,
            context.date,
        );
        match step {
            // Without a body still to forward the client is not read now: pipelined
            // requests wait in the socket until this exchange is done.
            ProxyStep::Blocked if !self.proxy.as_ref().is_some_and(Proxy::wants_client_body) => {
                Some(Drive::Wait(if self.output_pending() {
                    Wait::Send
                } else {
                    Wait::Upstream
                }))
            }
            ProxyStep::Blocked => match self.fill() {
                Ok(0) if self.eof => Some(Drive::Close),
                Ok(0) if self.output_pending() => Some(Drive::Wait(Wait::Send)),
                Ok(0) => Some(Drive::Wait(Wait::Upstream)),
                Ok(_) => None,
                Err(_) => Some(Drive::Close),
            },
            ProxyStep::Done { close_client } => {
                if let (Some(proxy), Some(finished)) = (self.proxy.take(), self.finished.as_mut()) {
                    finished.status = proxy.status;
                    finished.body_bytes = proxy.body_bytes;
                }
                self.close_after |= close_client;
                if !self.output_pending() {
                    self.finish_response(context.counters);
                    if self.close_after {
                        return Some(Drive::Close);
                    }
                }
                None
            }
            ProxyStep::Failed(status) => {
                self.proxy = None;
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
            ProxyStep::Broken => Some(Drive::Close),
        }
    }

    fn waiting_for(&self) -> Wait {
        if self.pending.is_some() {
            Wait::Body
        } else if self.input.is_empty() && self.requests > 0 {
            Wait::Idle
        } else {
            Wait::Header
        }
    }

    fn output_pending(&self) -> bool {
        self.written < self.output.len() || self.file.is_some()
    }

    /// Reads until the socket is drained (or enough is buffered); returns bytes read.
    fn fill(&mut self) -> io::Result<usize> {
        let (read, eof) = self
            .stream
            .read_available(&mut self.input, MAX_BUFFERED_INPUT)?;
        self.eof |= eof;
        Ok(read)
    }

    /// Starts or completes one request from the buffer; true if it made progress.
    fn try_request(&mut self, context: &mut DriveContext<'_>) -> bool {
        if self.pending.is_none() {
            if self.input.is_empty() {
                return false;
            }
            let limits = HeadLimits {
                max_head_bytes: self.conf.http.max_head_bytes(),
                max_headers: 256,
            };
            let head = match parse_request_head(&self.input, &limits) {
                Ok(None) => return false,
                Ok(Some(head)) => head,
                Err(error) => {
                    self.refuse_status(error.status(), context.date);
                    return true;
                }
            };
            self.started = Instant::now();
            self.input.drain(..head.head_len);
            self.body = match head.body {
                BodyKind::None => None,
                BodyKind::Length(length) if length > self.conf.http.max_body_size => {
                    self.refuse_status(413, context.date);
                    return true;
                }
                BodyKind::Length(length) => Some(BodyState::Length(length)),
                BodyKind::Chunked => Some(BodyState::Chunked(ChunkedDecoder::new(), 0)),
            };
            if head.expect_continue && self.body.is_some() && self.input.is_empty() {
                // Best effort: the client sends the body anyway after a while.
                let _ = self.stream.write(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let keep_alive = head.keep_alive;
            let mut request = match self.build_request(head, context.request_ids.next_id()) {
                Ok(request) => request,
                Err(status) => {
                    self.refuse_status(status, context.date);
                    return true;
                }
            };
            let conf = Arc::clone(&self.conf);
            let outcome = match conf.listener(&self.listener) {
                Some(listener) => handler::handle(&conf, listener, &mut request, context.services),
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
                    candidates,
                    response_headers,
                } => {
                    let body = match self.body.take() {
                        None => RequestBody::Done,
                        Some(BodyState::Length(length)) => RequestBody::Length(length),
                        Some(BodyState::Chunked(decoder, _)) => RequestBody::Chunked(decoder),
                    };
                    let proxy = Proxy::new(
                        &request,
                        candidates,
                        body,
                        response_headers,
                        context.upstream_token,
                    );
                    self.proxy = Some(proxy);
                    self.finished = Some(Finished {
                        status: 0,
                        body_bytes: 0,
                        headers: Vec::new(),
                        request,
                        started: self.started,
                    });
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
        self.pending = None;
        self.proxy = None;
        self.finished = None;
        self.body = None;
        self.input.clear();
        self.close_after = true;
        self.queue_response(error_page(status), false, date);
    }

    /// The router's view of a parsed request head.
    fn build_request(&self, head: RequestHead, request_id: u128) -> Result<HttpRequest, u16> {
        let (raw_path, query) = unit_http::split_target(&head.target);
        let uri = unit_http::normalize_path(raw_path.as_bytes()).map_err(|error| error.status())?;
        if head.version_minor == 1 && head.host().is_none() {
            return Err(400);
        }
        let query = query.unwrap_or("").to_owned();
        let host = head.host().map(normalize_host).unwrap_or_default();
        let request_line = head.request_line();
        let mut headers = head.headers;
        if self.conf.http.discard_unsafe_fields {
            headers.retain(|(name, _)| is_safe_field_name(name));
        }
        Ok(HttpRequest {
            method: head.method,
            request_line,
            target: head.target,
            uri: String::from_utf8_lossy(&uri).into_owned(),
            query,
            version_minor: head.version_minor,
            host,
            headers,
            https: false,
            remote: self.remote.clone(),
            local: self.local.clone(),
            rewritten: false,
            id: request_id,
        })
    }

    /// Writes the status line, headers and body (or queues the file) into the output.
    fn queue_response(&mut self, response: HttpResponse, head_only: bool, date: &str) {
        if self.written >= self.output.len() {
            self.output.clear();
            self.written = 0;
        }
        // Straight into the buffer: no per-header allocation on the hot path. Header
        // values come from the configuration or our own code, never raw from a client,
        // but control bytes are still replaced so no value can end the head early.
        let output = &mut self.output;
        let _ = write!(
            output,
            "HTTP/1.1 {} {}\r\nServer: {}\r\nDate: {date}\r\n",
            response.status,
            reason_phrase(response.status),
            self.conf.http.server
        );
        for (name, value) in &response.headers {
            output.extend_from_slice(name.as_bytes());
            output.extend_from_slice(b": ");
            output.extend(
                value
                    .bytes()
                    .map(|byte| if byte.is_ascii_control() { b' ' } else { byte }),
            );
            output.extend_from_slice(b"\r\n");
        }
        if !matches!(response.status, 100..=199 | 204 | 304) {
            let _ = write!(output, "Content-Length: {}\r\n", response.body.len());
        }
        if self.close_after {
            output.extend_from_slice(b"Connection: close\r\n");
        }
        output.extend_from_slice(b"\r\n");
        if head_only {
            return;
        }
        match response.body {
            Body::Empty => {}
            Body::Bytes(bytes) => self.output.extend_from_slice(&bytes),
            Body::File { file, offset, len } => {
                self.file = Some(FileSend {
                    file,
                    offset: offset as i64,
                    remaining: len,
                });
            }
        }
    }

    /// Writes the queued answer; Ok(true) once all of it is out.
    fn flush(&mut self) -> io::Result<bool> {
        let wrote_all = if self.file.is_some() {
            self.stream
                .write_pending_more(&self.output, &mut self.written)?
        } else {
            self.stream.write_pending(&self.output, &mut self.written)?
        };
        if !wrote_all {
            return Ok(false);
        }
        while let Some(file_send) = &mut self.file {
            if file_send.remaining == 0 {
                self.file = None;
                break;
            }
            let count = usize::try_from(file_send.remaining.min(1 << 30)).unwrap_or(1 << 30);
            let file = Arc::clone(&file_send.file);
            match nix::sys::sendfile::sendfile(
                self.stream.as_fd(),
                &*file,
                Some(&mut file_send.offset),
                count,
            )
            .map_err(io::Error::from)
            {
                // The file shrank under us: what was promised cannot be sent.
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(n) => file_send.remaining -= n as u64,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        self.output.clear();
        self.written = 0;
        Ok(true)
    }

    /// An answer is out: count it and log it.
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
    }
}
