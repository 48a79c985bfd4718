//! One control API connection: read one HTTP/1.x request, answer, close
//! (UNIT-COMPAT 2.1, 2.2).

use std::io;
use std::time::{Duration, SystemTime};

use unit_conf::{VERSION, to_pretty_json};
use unit_engine::{Stream, TimerId};
use unit_http::{
    BodyKind, HeadLimits, HttpError, RequestHead, ResponseHead, http_date, parse_request_head,
};

use crate::api::{ApiRequest, ApiResponse};

/// The request line and headers must fit in this many bytes.
const MAX_HEAD: usize = 1024;
/// The largest body accepted (a configuration of many thousand routes fits easily).
const MAX_BODY: u64 = 32 * 1024 * 1024;
/// How many header lines a control request may have.
const MAX_HEADERS: usize = 64;

/// How long a client may take: to send its headers, between reads of its body, and
/// between writes of the answer (Unit's values unless `UNITD_CONTROL_TIMEOUT` sets all
/// three, in seconds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) header: Duration,
    pub(crate) body: Duration,
    pub(crate) send: Duration,
}

impl Timeouts {
    /// The environment variable that overrides every control connection timeout.
    const ENV: &'static str = "UNITD_CONTROL_TIMEOUT";

    pub(crate) fn from_env() -> Timeouts {
        let seconds = std::env::var(Timeouts::ENV)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
            .filter(|seconds| *seconds > 0);
        match seconds {
            Some(seconds) => Timeouts {
                header: Duration::from_secs(seconds),
                body: Duration::from_secs(seconds),
                send: Duration::from_secs(seconds),
            },
            None => Timeouts {
                header: Duration::from_secs(300),
                body: Duration::from_secs(60),
                send: Duration::from_secs(60),
            },
        }
    }
}

/// A complete request.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) head: RequestHead,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The parts the API looks at.
    pub(crate) fn api_request(&self) -> ApiRequest<'_> {
        ApiRequest {
            method: &self.head.method,
            target: &self.head.target,
            body: &self.body,
            if_match: self.head.header("If-Match"),
        }
    }
}

/// What reading produced.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// More bytes are needed; `progress` says whether any arrived.
    Incomplete { head_done: bool },
    /// A whole request arrived.
    Request(Request),
    /// The request is malformed or too large: answer with this and close.
    Refuse(ApiResponse),
    /// Close without an answer (the peer is gone).
    Close,
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Reading the request.
    Reading,
    /// The request is complete and waits for its answer.
    Waiting,
    /// Writing the answer.
    Writing,
}

/// A connection and its progress.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) stream: Stream,
    pub(crate) phase: Phase,
    pub(crate) timer: Option<TimerId>,
    input: Vec<u8>,
    head: Option<RequestHead>,
    output: Vec<u8>,
    written: usize,
}

impl Connection {
    pub(crate) fn new(stream: Stream) -> Connection {
        Connection {
            stream,
            phase: Phase::Reading,
            timer: None,
            input: Vec::new(),
            head: None,
            output: Vec::new(),
            written: 0,
        }
    }

    /// Reads what is available and says whether a request is complete.
    pub(crate) fn read_request(&mut self) -> ReadOutcome {
        match self
            .stream
            .read_available(&mut self.input, MAX_HEAD + MAX_BODY as usize)
        {
            Ok(read) if !read.eof => {}
            Ok(_) | Err(_) => return ReadOutcome::Close,
        }
        if self.head.is_none() {
            let limits = HeadLimits {
                max_head_bytes: MAX_HEAD,
                max_headers: MAX_HEADERS,
            };
            match parse_request_head(&self.input, &limits) {
                Ok(None) => return ReadOutcome::Incomplete { head_done: false },
                Ok(Some(head)) => {
                    self.input.drain(..head.head_len);
                    self.head = Some(head);
                }
                Err(HttpError::HeadTooLarge | HttpError::TooManyHeaders) => {
                    tracing::info!("too long request headers");
                    return ReadOutcome::Refuse(ApiResponse::error(
                        431,
                        "Request headers are too large.",
                    ));
                }
                Err(error) => {
                    return ReadOutcome::Refuse(ApiResponse::error_with_detail(
                        400,
                        "Invalid request.",
                        &error.to_string(),
                    ));
                }
            }
        }
        let body_len = match self.head.as_ref().map(|head| &head.body) {
            Some(BodyKind::Length(length)) if *length > MAX_BODY => {
                return ReadOutcome::Refuse(ApiResponse::error(413, "Request body is too large."));
            }
            Some(BodyKind::Length(length)) => *length as usize,
            Some(BodyKind::Chunked) => {
                return ReadOutcome::Refuse(ApiResponse::error(
                    411,
                    "A Content-Length is required.",
                ));
            }
            _ => 0,
        };
        if self.input.len() < body_len {
            return ReadOutcome::Incomplete { head_done: true };
        }
        match self.head.take() {
            Some(head) => {
                self.input.truncate(body_len);
                ReadOutcome::Request(Request {
                    head,
                    body: std::mem::take(&mut self.input),
                })
            }
            None => ReadOutcome::Incomplete { head_done: false },
        }
    }

    /// Queues the answer (UNIT-COMPAT 2.2 headers, plus `ETag` on reads of the tree).
    pub(crate) fn respond(&mut self, response: &ApiResponse) {
        let body = to_pretty_json(&response.body);
        let mut head = ResponseHead::new(response.status)
            .header("Server", format!("Unit/{VERSION}"))
            .header("Date", http_date(SystemTime::now()))
            .header("Content-Type", "application/json")
            .header("Content-Length", body.len().to_string());
        if let Some(etag) = &response.etag {
            head.push("ETag", etag.clone());
        }
        head.push("Connection", "close");
        self.output.clear();
        head.write_to(&mut self.output);
        self.output.extend_from_slice(body.as_bytes());
        self.written = 0;
        self.phase = Phase::Writing;
    }

    /// Writes what it can; `Ok(true)` once everything is written.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        self.stream.write_pending(&self.output, &mut self.written)
    }
}
