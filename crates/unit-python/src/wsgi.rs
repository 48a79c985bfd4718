//! WSGI (PEP 3333): `threads` threads each take a connection from the router and serve
//! its requests in turn, calling the application with the environ Unit builds.
//!
//! The GIL is held only while Python runs: reading a request, writing an answer and
//! waiting for a connection happen with it released. A response body is written as the
//! application produces it, with its head in the same write as the first bytes; a
//! body of known length goes out as it is, any other in chunks.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use pyo3::exceptions::{PyIOError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use unit_http::{AppBody, AppRequest, AppResponseHead, FLAG_TLS, decode_app_request, push_decimal};

use crate::config::under_prefix;
use crate::exchange::{Input, take_pipes, write_all_parts};
use crate::interpreter::{LoadedApp, LoadedTarget};
use crate::{ErrorStream, SERVER_SOFTWARE, target_for};

/// The application and what every request's environ starts from.
pub(crate) struct Wsgi {
    app: LoadedApp,
    base_environ: Py<PyDict>,
}

impl Wsgi {
    pub(crate) fn new(py: Python<'_>, app: LoadedApp, threads: usize) -> PyResult<Wsgi> {
        let base = PyDict::new(py);
        base.set_item("SERVER_SOFTWARE", SERVER_SOFTWARE)?;
        base.set_item("wsgi.version", (1, 0))?;
        base.set_item("wsgi.multithread", threads > 1)?;
        base.set_item("wsgi.multiprocess", true)?;
        base.set_item("wsgi.run_once", false)?;
        base.set_item("wsgi.errors", Py::new(py, ErrorStream::default())?)?;
        base.set_item(
            "wsgi.file_wrapper",
            app.runner.bind(py).getattr("FileWrapper")?,
        )?;
        Ok(Wsgi {
            app,
            base_environ: base.unbind(),
        })
    }

    /// Serves the connections of `connections` on this thread until waiting on them
    /// fails.
    pub(crate) fn serve(&self, connections: &Connections) -> io::Result<()> {
        // The thread keeps one Python thread state for its whole life, detached while it
        // waits: attaching a thread that has none creates a state (and maps its frame
        // stack) and destroys it again, on every request.
        Python::attach(|py| py.detach(|| self.serve_detached(connections)))
    }

    fn serve_detached(&self, connections: &Connections) -> io::Result<()> {
        let mut events = vec![EpollEvent::empty(); connections.events_per_wait()];
        loop {
            let ready = match connections
                .epoll
                .wait(&mut events, connections.wait_timeout())
            {
                Ok(ready) => ready,
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
            };
            connections.resume_accepting_when_due()?;
            for event in &events[..ready] {
                let key = event.data();
                if key == LISTENER_KEY {
                    connections.accept()?;
                    continue;
                }
                let Some(shared) = connections.get(key) else {
                    continue;
                };
                match self.serve_ready(&shared) {
                    Ok(true) => connections.rearm(key, &shared)?,
                    Ok(false) => connections.close(key, &shared),
                    Err(error) => {
                        tracing::info!("a connection from the router ended: {error}");
                        connections.close(key, &shared);
                    }
                }
            }
        }
    }

    /// Serves the request that has arrived on a connection (and any buffered behind it);
    /// `Ok(false)` when the connection is over.
    fn serve_ready(&self, shared: &Arc<Shared>) -> io::Result<bool> {
        loop {
            let Some(length) = shared.lock_input().next_frame()? else {
                return Ok(false);
            };
            let keep = Python::attach(|py| self.handle(py, shared, length))?;
            let mut input = shared.lock_input();
            if !keep || (!input.body_done() && input.skip_body().is_err()) {
                return Ok(false);
            }
            if !input.has_buffered() {
                return Ok(true);
            }
        }
    }

    /// Runs one request; `Ok(false)` when the connection cannot carry another.
    fn handle(&self, py: Python<'_>, shared: &Arc<Shared>, length: usize) -> io::Result<bool> {
        let request_number = shared.request.fetch_add(1, Ordering::Relaxed) + 1;
        // The environ is built from the frame where it lies in the input buffer; the
        // input is locked meanwhile, and the application only reads it once called.
        let mut input = shared.lock_input();
        let Ok(Some((request, _))) = decode_app_request(input.frame(length)) else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad frame"));
        };
        let target = target_for(&self.app.targets, request.app_target);
        shared.lock_output().begin(&request);
        let wsgi_input = WsgiInput {
            shared: shared.clone(),
            request: request_number,
        };
        let environ = self.environ(py, &request, target, wsgi_input);
        input.consume_frame(length);
        drop(input);
        let environ = match environ {
            Ok(environ) => environ,
            Err(error) => {
                error.print(py);
                return shared.lock_output().fail(py);
            }
        };
        let start_response = StartResponse {
            shared: shared.clone(),
            request: request_number,
        };
        let result = target
            .callable
            .bind(py)
            .call1((environ, Py::new(py, start_response).map_err(to_io)?));
        let outcome = match result {
            Ok(result) => {
                let sent = self.send_result(py, shared, &result);
                match close_result(py, &result) {
                    Ok(()) => sent,
                    // Both failures are logged, the first one below.
                    Err(close_error) if sent.is_err() => {
                        close_error.print(py);
                        sent
                    }
                    Err(close_error) => Err(close_error),
                }
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => shared.lock_output().finish(py),
            Err(error) => {
                error.print(py);
                shared.lock_output().fail(py)
            }
        }
    }

    /// Writes what the application returned: one write for a one-item list, the
    /// items in turn otherwise.
    fn send_result(
        &self,
        py: Python<'_>,
        shared: &Arc<Shared>,
        result: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if let Ok(list) = result.cast::<PyList>()
            && list.len() == 1
        {
            let item = list.get_item(0)?;
            let bytes = item.cast::<PyBytes>().map_err(|_| not_bytes(&item))?;
            return shared.lock_output().send_only(py, bytes.as_bytes());
        }
        // As Unit: a bytes object is the whole body, not an iterable of its bytes.
        if let Ok(bytes) = result.cast::<PyBytes>() {
            return shared.lock_output().send(py, bytes.as_bytes());
        }
        let items = result.try_iter().inspect_err(|error| {
            if error.is_instance_of::<PyTypeError>(py) {
                tracing::error!("the application returned not an iterable object");
            }
        })?;
        for item in items {
            let item = item?;
            let bytes = item.cast::<PyBytes>().map_err(|_| not_bytes(&item))?;
            shared.lock_output().send(py, bytes.as_bytes())?;
        }
        Ok(())
    }

    fn environ<'py>(
        &self,
        py: Python<'py>,
        request: &AppRequest<'_>,
        target: &LoadedTarget,
        wsgi_input: WsgiInput,
    ) -> PyResult<Bound<'py, PyDict>> {
        let environ = self.base_environ.bind(py).copy()?;
        let text = |bytes: &[u8]| latin1(py, bytes);
        environ.set_item(intern!(py, "REQUEST_METHOD"), text(request.method))?;
        environ.set_item(intern!(py, "REQUEST_URI"), text(request.target))?;
        environ.set_item(intern!(py, "QUERY_STRING"), text(request.query))?;
        let prefix = target.target.prefix.as_bytes();
        let mut path = request.path;
        if under_prefix(path, prefix) {
            environ.set_item(intern!(py, "SCRIPT_NAME"), text(prefix))?;
            path = &path[prefix.len()..];
        }
        environ.set_item(intern!(py, "PATH_INFO"), text(path))?;
        environ.set_item(intern!(py, "REMOTE_ADDR"), text(request.remote_addr))?;
        environ.set_item(intern!(py, "SERVER_ADDR"), text(request.local_addr))?;
        let mut port = Vec::with_capacity(5);
        push_decimal(&mut port, u64::from(request.local_port));
        environ.set_item(intern!(py, "SERVER_PORT"), text(&port))?;
        let https = request.flags & FLAG_TLS != 0;
        environ.set_item(
            intern!(py, "wsgi.url_scheme"),
            if https {
                intern!(py, "https")
            } else {
                intern!(py, "http")
            },
        )?;
        environ.set_item(
            intern!(py, "SERVER_PROTOCOL"),
            if request.version_minor == 0 {
                intern!(py, "HTTP/1.0")
            } else {
                intern!(py, "HTTP/1.1")
            },
        )?;
        environ.set_item(intern!(py, "SERVER_NAME"), text(request.server_name))?;
        let mut key = Vec::with_capacity(64);
        let mut used = vec![false; request.fields.len()];
        for (index, (name, value)) in request.fields.iter().enumerate() {
            if used[index] {
                continue;
            }
            key.clear();
            key.extend_from_slice(b"HTTP_");
            key.extend(name.iter().map(|byte| match byte {
                b'-' => b'_',
                other => other.to_ascii_uppercase(),
            }));
            let mut joined: Option<Vec<u8>> = None;
            for (later, (other, other_value)) in request.fields.iter().enumerate().skip(index + 1) {
                if other.eq_ignore_ascii_case(name) {
                    used[later] = true;
                    let joined = joined.get_or_insert_with(|| value.to_vec());
                    joined.extend_from_slice(b", ");
                    joined.extend_from_slice(other_value);
                }
            }
            let value = joined.as_deref().unwrap_or(value);
            environ.set_item(text(&key), text(value))?;
            if name.eq_ignore_ascii_case(b"content-length") {
                environ.set_item(intern!(py, "CONTENT_LENGTH"), text(value))?;
            } else if name.eq_ignore_ascii_case(b"content-type") {
                environ.set_item(intern!(py, "CONTENT_TYPE"), text(value))?;
            }
        }
        environ.set_item(intern!(py, "wsgi.input"), Py::new(py, wsgi_input)?)?;
        Ok(environ)
    }
}

/// Bytes as a native string, as PEP 3333 says: each byte one character.
pub(crate) fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    match std::str::from_utf8(bytes) {
        Ok(text) if bytes.is_ascii() => PyString::new(py, text),
        _ => {
            let text: String = bytes.iter().map(|byte| char::from(*byte)).collect();
            PyString::new(py, &text)
        }
    }
}

/// A native string as bytes, as PEP 3333 says: each character one byte (Latin-1);
/// text with characters beyond that goes out as UTF-8.
fn push_native(out: &mut Vec<u8>, text: &str) {
    if text.chars().all(|character| u32::from(character) < 256) {
        out.extend(text.chars().map(|character| character as u8));
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

fn not_bytes(item: &Bound<'_, PyAny>) -> PyErr {
    let type_name = item
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_default();
    PyTypeError::new_err(format!(
        "the application returned a {type_name} where bytes are expected"
    ))
}

/// Calls the result's `close()`, if it has one, as PEP 3333 asks. A plain list or
/// tuple has none, which is known without the attribute error a look-up would raise.
fn close_result(py: Python<'_>, result: &Bound<'_, PyAny>) -> PyResult<()> {
    if result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>() {
        return Ok(());
    }
    if result.hasattr(intern!(py, "close"))? {
        result.call_method0("close")?;
    }
    Ok(())
}

fn to_io(error: PyErr) -> io::Error {
    io::Error::other(error.to_string())
}

/// The key the listening socket is registered under (connections use their
/// descriptor's number).
const LISTENER_KEY: u64 = u64::MAX;
/// How many ready connections one thread takes from a wait when it serves alone.
const EVENTS_PER_WAIT: usize = 64;
/// How long accepting stops when the process is out of descriptors or memory, as the
/// router's accept back-off: no spinning, and little waiting once some are free.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// At most one log line about it per this long, whatever the number of threads.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// The router's connections to this process, served by the WSGI threads from one
/// epoll instance. The router may send a request on one connection while the process
/// is still answering another, so a thread goes from one answer to the next request
/// without sleeping in between.
pub(crate) struct Connections {
    listener: UnixListener,
    epoll: Epoll,
    /// The open connections, by descriptor number.
    open: Mutex<Vec<Option<Arc<Shared>>>>,
    /// Several threads serve: a ready connection goes to one of them, and is watched
    /// again once its request has been answered (`EPOLLONESHOT`).
    one_shot: bool,
    /// Accepting failed for want of descriptors or memory: the listener is not watched
    /// until then, while the open connections are served.
    accept_paused_until: Mutex<Option<Instant>>,
    /// When that was last logged.
    accept_failure_logged: Mutex<Option<Instant>>,
    /// Descriptors held for a new connection's pipes, which arrive after it is
    /// accepted: a connection is accepted only when they are held, so the pipes are
    /// never lost for want of room.
    reserve: Mutex<Vec<OwnedFd>>,
}

/// A new connection's pipes: two descriptors.
const RESERVED_DESCRIPTORS: usize = 2;

impl Connections {
    pub(crate) fn new(listener: UnixListener, threads: usize) -> io::Result<Connections> {
        listener.set_nonblocking(true)?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(
            &listener,
            EpollEvent::new(EpollFlags::EPOLLIN, LISTENER_KEY),
        )?;
        Ok(Connections {
            listener,
            epoll,
            open: Mutex::new(Vec::new()),
            one_shot: threads > 1,
            accept_paused_until: Mutex::new(None),
            accept_failure_logged: Mutex::new(None),
            reserve: Mutex::new(Vec::with_capacity(RESERVED_DESCRIPTORS)),
        })
    }

    fn events_per_wait(&self) -> usize {
        if self.one_shot { 1 } else { EVENTS_PER_WAIT }
    }

    fn watched(&self) -> EpollFlags {
        if self.one_shot {
            EpollFlags::EPOLLIN | EpollFlags::EPOLLONESHOT
        } else {
            EpollFlags::EPOLLIN
        }
    }

    fn lock_open(&self) -> MutexGuard<'_, Vec<Option<Arc<Shared>>>> {
        lock(&self.open)
    }

    /// Takes the connections waiting on the listener; an error only when accepting
    /// fails for a reason other than a race with another thread or a lack of
    /// descriptors or memory, which pauses accepting.
    fn accept(&self) -> io::Result<()> {
        loop {
            let mut reserve = lock(&self.reserve);
            while reserve.len() < RESERVED_DESCRIPTORS {
                match self.listener.as_fd().try_clone_to_owned() {
                    Ok(held) => reserve.push(held),
                    Err(error) if is_out_of_resources(&error) => {
                        self.pause_accepting(&error)?;
                        return Ok(());
                    }
                    Err(error) => return Err(error),
                }
            }
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if is_out_of_resources(&error) => {
                    self.pause_accepting(&error)?;
                    return Ok(());
                }
                Err(error) => return Err(error),
            };
            // Their places are the pipes'; the reserve stays locked until they are in.
            reserve.clear();
            if let Err(error) = self.add(stream) {
                tracing::warn!("taking a connection from the router failed: {error}");
            }
        }
    }

    fn add(&self, socket: UnixStream) -> io::Result<()> {
        // The pipes came with the connection, which the router has closed already; they
        // are read and written with blocking I/O once ready.
        socket.set_nonblocking(false)?;
        let (requests, answers) = take_pipes(&socket)?;
        drop(socket);
        let slot = usize::try_from(requests.as_raw_fd()).map_err(io::Error::other)?;
        let key = slot as u64;
        let shared = Arc::new(Shared {
            output: Mutex::new(Output::new(answers)),
            input: Mutex::new(Input::new(requests)),
            request: AtomicU64::new(0),
        });
        {
            let mut open = self.lock_open();
            if open.len() <= slot {
                open.resize(slot + 1, None);
            }
            open[slot] = Some(Arc::clone(&shared));
        }
        // Watched only once it can be found: another thread may take its first request
        // at once.
        let watched = self.epoll.add(
            shared.lock_input().stream(),
            EpollEvent::new(self.watched(), key),
        );
        if let Err(errno) = watched {
            self.close(key, &shared);
            return Err(errno.into());
        }
        Ok(())
    }

    fn pause_accepting(&self, error: &io::Error) -> io::Result<()> {
        let now = Instant::now();
        {
            let mut logged = lock(&self.accept_failure_logged);
            if logged.is_none_or(|at| now.saturating_duration_since(at) >= ACCEPT_LOG_INTERVAL) {
                *logged = Some(now);
                tracing::error!(
                    "accepting a connection failed: {error}; accepting pauses for {} ms",
                    ACCEPT_PAUSE.as_millis()
                );
            }
        }
        self.epoll.modify(
            &self.listener,
            &mut EpollEvent::new(EpollFlags::empty(), LISTENER_KEY),
        )?;
        *lock(&self.accept_paused_until) = Some(now + ACCEPT_PAUSE);
        Ok(())
    }

    /// How long a thread may wait for readiness: until a pause in accepting ends.
    fn wait_timeout(&self) -> EpollTimeout {
        match *lock(&self.accept_paused_until) {
            None => EpollTimeout::NONE,
            Some(until) => {
                let left = until.saturating_duration_since(Instant::now()).as_millis();
                EpollTimeout::from(u16::try_from(left).unwrap_or(u16::MAX))
            }
        }
    }

    /// Watches the listener again once a pause in accepting is over.
    fn resume_accepting_when_due(&self) -> io::Result<()> {
        let mut paused = lock(&self.accept_paused_until);
        if paused.is_some_and(|until| Instant::now() >= until) {
            *paused = None;
            self.epoll.modify(
                &self.listener,
                &mut EpollEvent::new(EpollFlags::EPOLLIN, LISTENER_KEY),
            )?;
        }
        Ok(())
    }

    fn get(&self, key: u64) -> Option<Arc<Shared>> {
        self.lock_open().get(usize::try_from(key).ok()?)?.clone()
    }

    /// Watches a served connection for its next request.
    fn rearm(&self, key: u64, shared: &Shared) -> io::Result<()> {
        if self.one_shot {
            let input = shared.lock_input();
            self.epoll.modify(
                input.stream().as_fd(),
                &mut EpollEvent::new(self.watched(), key),
            )?;
        }
        Ok(())
    }

    /// Ends a connection. The application may hold on to its request's objects (a
    /// reference cycle lives until the collector runs), and with them the socket: it
    /// pipe is closed here, so the router sees the connection end now.
    fn close(&self, key: u64, shared: &Shared) {
        if let Ok(slot) = usize::try_from(key)
            && let Some(entry) = self.lock_open().get_mut(slot)
        {
            *entry = None;
        }
        let _ = self.epoll.delete(shared.lock_input().stream());
        shared.lock_output().stream = None;
    }
}

/// What the Python objects of one connection share with its thread.
struct Shared {
    input: Mutex<Input>,
    output: Mutex<Output>,
    /// The number of the request being served; objects of an earlier one are stale.
    request: AtomicU64,
}

impl Shared {
    fn lock_input(&self) -> MutexGuard<'_, Input> {
        self.input
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_output(&self) -> MutexGuard<'_, Output> {
        self.output
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_current(&self, request: u64) -> bool {
        self.request.load(Ordering::Relaxed) == request
    }
}

/// The answer being written.
struct Output {
    /// The answers' pipe; `None` once the connection has ended.
    stream: Option<File>,
    /// The status code and the header fields (name, value), once `start_response` ran.
    status: Option<u16>,
    fields: Vec<(Vec<u8>, Vec<u8>)>,
    content_length: Option<u64>,
    head_sent: bool,
    /// The body goes out in chunks (no length was given).
    chunked: bool,
    /// HEAD, or a status without a body: body bytes are dropped.
    no_body: bool,
    head_request: bool,
    sent: u64,
    scratch: Vec<u8>,
}

impl Output {
    fn new(stream: File) -> Output {
        Output {
            stream: Some(stream),
            status: None,
            fields: Vec::with_capacity(16),
            content_length: None,
            head_sent: false,
            chunked: false,
            no_body: false,
            head_request: false,
            sent: 0,
            scratch: Vec::with_capacity(1024),
        }
    }

    fn begin(&mut self, request: &AppRequest<'_>) {
        self.status = None;
        self.fields.clear();
        self.content_length = None;
        self.head_sent = false;
        self.chunked = false;
        self.head_request = request.method == b"HEAD";
        self.no_body = self.head_request;
        self.sent = 0;
    }

    /// Records `start_response`'s status and fields.
    fn start(&mut self, status: &str, headers: &Bound<'_, PyAny>) -> PyResult<()> {
        let code = status
            .get(..3)
            .filter(|digits| digits.bytes().all(|byte| byte.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u16>().ok())
            .filter(|code| (100..1000).contains(code))
            .ok_or_else(|| PyValueError::new_err(format!("invalid status \"{status}\"")))?;
        self.fields.clear();
        self.content_length = None;
        for header in headers.try_iter()? {
            let header = header?;
            let pair = header
                .cast::<PyTuple>()
                .map_err(|_| PyTypeError::new_err("a header must be a (name, value) tuple"))?;
            if pair.len() != 2 {
                return Err(PyTypeError::new_err(
                    "a header must be a (name, value) tuple",
                ));
            }
            let name_object = pair.get_item(0)?;
            let name = name_object
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("a header name must be a string"))?
                .to_str()?;
            let value_object = pair.get_item(1)?;
            let value = value_object
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("a header value must be a string"))?
                .to_str()?;
            if name.eq_ignore_ascii_case("content-length") {
                // One that is not a number is left out, as Unit leaves it.
                match value.trim().parse() {
                    Ok(length) => self.content_length = Some(length),
                    Err(_) => continue,
                }
            }
            let mut name_bytes = Vec::with_capacity(name.len());
            push_native(&mut name_bytes, name);
            let mut value_bytes = Vec::with_capacity(value.len());
            push_native(&mut value_bytes, value);
            self.fields.push((name_bytes, value_bytes));
        }
        self.status = Some(code);
        self.no_body = self.head_request || matches!(code, 100..=199 | 204 | 304);
        Ok(())
    }

    /// The head frame for a body of `known_length` bytes when it is known up front.
    fn head(&mut self, known_length: Option<u64>) -> PyResult<Vec<u8>> {
        let Some(code) = self.status else {
            return Err(PyRuntimeError::new_err(
                "the application did not call start_response()",
            ));
        };
        let body = if self.no_body {
            AppBody::None
        } else if let Some(length) = self.content_length {
            AppBody::Length(length)
        } else if let Some(length) = known_length {
            self.content_length = Some(length);
            AppBody::Length(length)
        } else {
            self.chunked = true;
            AppBody::Chunked
        };
        let mut head = std::mem::take(&mut self.scratch);
        head.clear();
        let frame = AppResponseHead {
            status: code,
            body,
            flags: 0,
        };
        let fields = self
            .fields
            .iter()
            .map(|(name, value)| (name.as_slice(), value.as_slice()));
        frame.encode(fields, &mut head);
        self.head_sent = true;
        Ok(head)
    }

    /// The part of `data` the declared length still has room for.
    fn fitting<'d>(&self, data: &'d [u8]) -> &'d [u8] {
        if self.no_body {
            return &[];
        }
        match self.content_length {
            Some(length) => {
                let room = length.saturating_sub(self.sent);
                &data[..data.len().min(room as usize)]
            }
            None => data,
        }
    }

    /// The whole body at once: one write with its head when its length was given
    /// (without one the body goes in chunks, as Unit sends it).
    fn send_only(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        if self.head_sent || self.content_length.is_none() {
            return self.send(py, data);
        }
        let head = self.head(Some(data.len() as u64))?;
        let body = self.fitting(data);
        self.sent += body.len() as u64;
        let result = py.detach(|| write_all_parts(&mut self.stream, &[&head, body]));
        self.scratch = head;
        result.map_err(io_error)
    }

    /// More body bytes; the head goes with the first non-empty ones.
    fn send(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        if data.is_empty() {
            return Ok(());
        }
        let head = if self.head_sent {
            Vec::new()
        } else {
            self.head(None)?
        };
        let body = self.fitting(data);
        self.sent += body.len() as u64;
        let mut size_line = Vec::new();
        let mut trailer: &[u8] = &[];
        if self.chunked && !body.is_empty() {
            size_line = format!("{:x}\r\n", body.len()).into_bytes();
            trailer = b"\r\n";
        }
        let result =
            py.detach(|| write_all_parts(&mut self.stream, &[&head, &size_line, body, trailer]));
        if !head.is_empty() {
            self.scratch = head;
        }
        result.map_err(io_error)
    }

    /// Ends the answer; true when the connection can carry another request.
    fn finish(&mut self, py: Python<'_>) -> io::Result<bool> {
        let mut parts: Vec<u8> = Vec::new();
        if !self.head_sent {
            // No body at all: without a length it is an empty chunked one, as in Unit.
            match self.head(None) {
                Ok(head) => parts = head,
                Err(error) => {
                    error.print(py);
                    return self.fail(py);
                }
            }
        }
        if self.chunked {
            parts.extend_from_slice(b"0\r\n\r\n");
        }
        if !parts.is_empty() {
            py.detach(|| write_all_parts(&mut self.stream, &[&parts]))?;
        }
        // A body shorter than its declared length leaves the router waiting for
        // the rest; closing the connection tells it the answer has ended.
        Ok(self.no_body
            || self.content_length.is_none_or(|length| length == self.sent)
            || self.chunked)
    }

    /// The application failed: a 503 if nothing was sent (as Unit answers), else the
    /// connection closes.
    fn fail(&mut self, py: Python<'_>) -> io::Result<bool> {
        if self.head_sent {
            return Ok(false);
        }
        self.head_sent = true;
        let mut answer = Vec::new();
        AppResponseHead {
            status: 503,
            body: AppBody::Length(0),
            flags: 0,
        }
        .encode(std::iter::empty(), &mut answer);
        py.detach(|| write_all_parts(&mut self.stream, &[&answer]))?;
        Ok(true)
    }
}

fn io_error(error: io::Error) -> PyErr {
    PyIOError::new_err(error.to_string())
}

/// `start_response(status, response_headers, exc_info=None)`.
#[pyclass(frozen)]
struct StartResponse {
    shared: Arc<Shared>,
    request: u64,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Write> {
        if !self.shared.is_current(self.request) {
            return Err(PyRuntimeError::new_err(
                "start_response() of an ended request",
            ));
        }
        let mut output = self.shared.lock_output();
        let exc_info = exc_info.filter(|info| !info.is_none());
        if output.head_sent {
            if let Some(info) = exc_info {
                // PEP 3333: with the head gone, the error can only be raised again.
                let error = info.get_item(1)?;
                return Err(PyErr::from_value(error));
            }
            return Err(PyRuntimeError::new_err(
                "start_response() called again after the head was sent",
            ));
        }
        if output.status.is_some() && exc_info.is_none() {
            return Err(PyRuntimeError::new_err(
                "start_response() called twice without exc_info",
            ));
        }
        let status = status
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("the status must be a string"))?
            .to_str()?;
        output.start(status, headers)?;
        drop(output);
        let _ = py;
        Ok(Write {
            shared: self.shared.clone(),
            request: self.request,
        })
    }
}

/// The `write(data)` callable `start_response` returns.
#[pyclass(frozen)]
struct Write {
    shared: Arc<Shared>,
    request: u64,
}

#[pymethods]
impl Write {
    fn __call__(&self, py: Python<'_>, data: &Bound<'_, PyBytes>) -> PyResult<()> {
        if !self.shared.is_current(self.request) {
            return Err(PyRuntimeError::new_err("write() of an ended request"));
        }
        self.shared.lock_output().send(py, data.as_bytes())
    }
}

/// `wsgi.input`: the request body, read as the application asks.
#[pyclass(frozen)]
struct WsgiInput {
    shared: Arc<Shared>,
    request: u64,
}

impl WsgiInput {
    /// Runs `read` on the input with the GIL released; a stale object reads nothing.
    fn with_input(
        &self,
        py: Python<'_>,
        read: impl FnOnce(&mut Input, &mut Vec<u8>) -> io::Result<()> + Send,
    ) -> PyResult<Vec<u8>> {
        let mut out = Vec::new();
        if !self.shared.is_current(self.request) {
            return Ok(out);
        }
        let shared = &self.shared;
        py.detach(|| read(&mut shared.lock_input(), &mut out))
            .map_err(io_error)?;
        Ok(out)
    }
}

/// A size argument: negative or `None` for no limit.
fn limit(size: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let Some(size) = size.filter(|size| !size.is_none()) else {
        return Ok(usize::MAX);
    };
    let size: i64 = size
        .extract()
        .map_err(|_| PyTypeError::new_err("the size must be an integer"))?;
    Ok(usize::try_from(size).unwrap_or(usize::MAX))
}

#[pymethods]
impl WsgiInput {
    #[pyo3(signature = (size=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let limit = limit(size)?;
        let bytes = self.with_input(py, |input, out| {
            if let Some(remaining) = input.body_remaining() {
                out.reserve(limit.min(remaining as usize));
            }
            while out.len() < limit {
                if input.read_body(limit - out.len(), out)? == 0 {
                    break;
                }
            }
            Ok(())
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(
        &self,
        py: Python<'py>,
        size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let limit = limit(size)?;
        let line = self.with_input(py, |input, out| input.read_line(limit, out).map(drop))?;
        Ok(PyBytes::new(py, &line))
    }

    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(
        &self,
        py: Python<'py>,
        hint: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let hint = limit(hint)?;
        let lines = PyList::empty(py);
        let mut total = 0;
        loop {
            let line =
                self.with_input(py, |input, out| input.read_line(usize::MAX, out).map(drop))?;
            if line.is_empty() {
                break;
            }
            total += line.len();
            lines.append(PyBytes::new(py, &line))?;
            if total >= hint {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.with_input(py, |input, out| input.read_line(usize::MAX, out).map(drop))?;
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
    }
}

/// Locks a mutex whose data stays good if a thread panicked holding it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether an accept failed for want of descriptors or memory, so that it would fail
/// again until some are freed (the router's `unit_engine::is_out_of_resources`).
fn is_out_of_resources(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
