//! One control API connection: read one HTTP/1.x request, answer, close
//! (UNIT-COMPAT 2.1, 2.2).

use std::io::{self, Read, Write};
use std::time::SystemTime;

use mio::net::{TcpStream, UnixStream};
use unit_conf::{VERSION, to_pretty_json};
use unit_http::{
    BodyKind, HeadLimits, HttpError, RequestHead, ResponseHead, http_date, parse_request_head,
};

use crate::api::ApiResponse;

/// The request line and headers must fit in this many bytes.
const MAX_HEAD: usize = 1024;
/// The largest body accepted (a configuration of many thousand routes fits easily).
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// A control connection's socket.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Over a unix socket.
    Unix(UnixStream),
    /// Over TCP.
    Tcp(TcpStream),
}

impl Stream {
    pub(crate) fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Unix(stream) => stream,
            Stream::Tcp(stream) => stream,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(stream) => stream.read(buf),
            Stream::Tcp(stream) => stream.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(stream) => stream.write(buf),
            Stream::Tcp(stream) => stream.write(buf),
        }
    }
}

/// A complete request.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) head: RequestHead,
}

/// What reading produced.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// More bytes are needed.
    Incomplete,
    /// A whole request arrived.
    Request(Request),
    /// The request is malformed or too large: answer with this and close.
    Refuse(ApiResponse),
    /// Close without an answer (peer gone, or headers too long as Unit does).
    Close,
}

/// A connection and its progress.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) stream: Stream,
    input: Vec<u8>,
    head: Option<RequestHead>,
    output: Vec<u8>,
    written: usize,
}

impl Connection {
    pub(crate) fn new(stream: Stream) -> Connection {
        Connection {
            stream,
            input: Vec::new(),
            head: None,
            output: Vec::new(),
            written: 0,
        }
    }

    /// Reads what is available and says whether a request is complete.
    pub(crate) fn read_request(&mut self) -> ReadOutcome {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return ReadOutcome::Close,
                Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return ReadOutcome::Close,
            }
        }
        if self.head.is_none() {
            let limits = HeadLimits {
                max_head_bytes: MAX_HEAD,
                max_headers: 64,
            };
            match parse_request_head(&self.input, &limits) {
                Ok(None) => return ReadOutcome::Incomplete,
                Ok(Some(head)) => {
                    self.input.drain(..head.head_len);
                    self.head = Some(head);
                }
                Err(HttpError::HeadTooLarge | HttpError::TooManyHeaders) => {
                    tracing::info!("too long request headers");
                    return ReadOutcome::Close;
                }
                Err(error) => return ReadOutcome::Refuse(bad_request(&error.to_string())),
            }
        }
        let body_len = match self.head.as_ref().map(|head| &head.body) {
            Some(BodyKind::Length(length)) if *length > MAX_BODY => {
                return ReadOutcome::Refuse(ApiResponse::new(
                    413,
                    serde_json::json!({"error": "Request body too large."}),
                ));
            }
            Some(BodyKind::Length(length)) => *length as usize,
            Some(BodyKind::Chunked) => {
                return ReadOutcome::Refuse(ApiResponse::new(
                    411,
                    serde_json::json!({"error": "Chunked request bodies are not supported; send Content-Length."}),
                ));
            }
            _ => 0,
        };
        if self.input.len() < body_len {
            return ReadOutcome::Incomplete;
        }
        match self.head.take() {
            Some(head) => ReadOutcome::Request(Request { head }),
            None => ReadOutcome::Incomplete,
        }
    }

    /// Whether a response is being written (the request has been read).
    pub(crate) fn is_responding(&self) -> bool {
        !self.output.is_empty()
    }

    /// Queues the response to `response`; `head_only` for HEAD requests.
    pub(crate) fn respond(&mut self, response: &ApiResponse) {
        let body = to_pretty_json(&response.body);
        let head = ResponseHead::new(response.status)
            .header("Server", format!("Unit/{VERSION}"))
            .header("Date", http_date(SystemTime::now()))
            .header("Content-Type", "application/json")
            .header("Content-Length", body.len().to_string())
            .header("Connection", "close");
        self.output.clear();
        head.write_to(&mut self.output);
        self.output.extend_from_slice(body.as_bytes());
        self.written = 0;
    }

    /// Writes what it can; `Ok(true)` once everything is written.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => self.written += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(true)
    }
}

fn bad_request(detail: &str) -> ApiResponse {
    ApiResponse::new(
        400,
        serde_json::json!({"error": "Invalid request.", "detail": detail}),
    )
}
