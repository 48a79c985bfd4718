//! ASGI (3.0, and 2.0 callables): each serving thread runs an asyncio event loop with
//! the runner's Python server (`runner.py`) on the listening socket. Every target's
//! lifespan startup runs before the first connection is taken, on the first thread's
//! loop, and its shutdown when the process is told to quit.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};
use unit_http::{
    AppBody, AppRequest, AppResponseHead, FLAG_TLS, FLAG_UPGRADE, decode_app_request, encode_chunk,
    encode_last_chunk,
};
use unit_log::alert;

use crate::config::under_prefix;
use crate::interpreter::LoadedApp;
use crate::{ErrorStream, SERVER_SOFTWARE};

/// The ASGI server object of `runner.py`.
pub(crate) struct Asgi {
    server: Py<PyAny>,
    next_thread: AtomicUsize,
}

/// The application could not start; the reason has been logged.
#[derive(Debug)]
pub(crate) struct StartFailed;

impl Asgi {
    /// Makes the server and runs the lifespan startups.
    pub(crate) fn start(app: LoadedApp) -> Result<Asgi, StartFailed> {
        Python::attach(|py| {
            let made = (|| -> PyResult<(Py<PyAny>, bool)> {
                let runner = app.runner.bind(py);
                runner.setattr("error_stream", Py::new(py, ErrorStream::default())?)?;
                runner.setattr("RequestDecoder", py.get_type::<RequestDecoder>())?;
                runner.setattr("Answer", py.get_type::<Answer>())?;
                runner.setattr("encode_head", wrap_pyfunction!(encode_head, py)?)?;
                let targets: Vec<(String, Py<PyAny>, bool, String)> = app
                    .targets
                    .iter()
                    .map(|target| {
                        (
                            target.target.name.clone(),
                            target.callable.clone_ref(py),
                            target.legacy,
                            target.target.prefix.clone(),
                        )
                    })
                    .collect();
                let server = runner
                    .getattr("AsgiServer")?
                    .call1((targets, SERVER_SOFTWARE))?;
                let started: bool = server.call_method0("startup")?.extract()?;
                Ok((server.unbind(), started))
            })();
            match made {
                Ok((server, true)) => Ok(Asgi {
                    server,
                    next_thread: AtomicUsize::new(0),
                }),
                Ok((_, false)) => Err(StartFailed),
                Err(error) => {
                    alert!("Python failed to start the ASGI application");
                    error.print(py);
                    Err(StartFailed)
                }
            }
        })
    }

    /// Runs this thread's event loop on `listener`; returns only if it fails.
    pub(crate) fn serve(&self, listener: &UnixListener) -> io::Result<()> {
        let index = self.next_thread.fetch_add(1, Ordering::Relaxed);
        Python::attach(|py| {
            self.server
                .bind(py)
                .call_method1("serve", (listener.as_raw_fd(), index))
                .map(drop)
                .map_err(|error| {
                    error.print(py);
                    io::Error::other("the ASGI event loop stopped")
                })
        })
    }

    /// Runs the lifespan shutdowns.
    pub(crate) fn shut_down(&self) {
        Python::attach(|py| {
            if let Err(error) = self.server.bind(py).call_method0("shutdown") {
                error.print(py);
            }
        });
    }
}

/// Decodes the router's request frames into ASGI scopes for one server's targets.
#[pyclass(frozen)]
struct RequestDecoder {
    /// Each target's name and prefix, and the prefix as the scope's `root_path`.
    targets: Vec<(Vec<u8>, Vec<u8>, Py<PyString>)>,
}

#[pymethods]
impl RequestDecoder {
    /// `targets`: (name, prefix) of each target, the first the default.
    #[new]
    fn new(py: Python<'_>, targets: Vec<(String, String)>) -> Self {
        let targets = targets
            .into_iter()
            .map(|(name, prefix)| {
                let root_path = PyString::new(py, &prefix).unbind();
                (name.into_bytes(), prefix.into_bytes(), root_path)
            })
            .collect();
        RequestDecoder { targets }
    }

    /// The request frame at the start of `buffer`: `None` until it has arrived whole,
    /// else (scope, target index, body kind (0 none, 1 length, 2 chunked), body length,
    /// is a WebSocket, is HEAD, the WebSocket limits, frame length). A malformed frame
    /// is a `ValueError`.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        buffer: &Bound<'py, PyByteArray>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Some(frame) = whole_frame(buffer) else {
            return Ok(None);
        };
        let (request, length) = match decode_app_request(&frame) {
            Ok(Some(decoded)) => decoded,
            Ok(None) => return Ok(None),
            Err(error) => return Err(PyValueError::new_err(format!("request frame: {error}"))),
        };
        let target = self
            .targets
            .iter()
            .position(|(name, _, _)| name.as_slice() == request.app_target)
            .unwrap_or(0);
        let (scope, websocket) = self.scope(py, &request, target)?;
        let (kind, body_length) = match request.body {
            AppBody::None => (0u8, 0u64),
            AppBody::Length(length) => (1, length),
            AppBody::Chunked => (2, 0),
        };
        let limits = request.websocket;
        let limits = (
            limits.max_frame_size,
            f64::from(limits.read_timeout_ms) / 1000.0,
            f64::from(limits.keepalive_interval_ms) / 1000.0,
        );
        let decoded = (
            scope,
            target,
            kind,
            body_length,
            websocket,
            request.method == b"HEAD",
            limits,
            length,
        )
            .into_pyobject(py)?;
        Ok(Some(decoded))
    }
}

impl RequestDecoder {
    /// The request's ASGI scope, and whether it is a WebSocket handshake.
    fn scope<'py>(
        &self,
        py: Python<'py>,
        request: &AppRequest<'_>,
        target: usize,
    ) -> PyResult<(Bound<'py, PyDict>, bool)> {
        let headers = PyList::empty(py);
        let mut lowered = Vec::with_capacity(64);
        let mut upgrade_to_websocket = false;
        for (name, value) in &request.fields {
            lowered.clear();
            lowered.extend(name.iter().map(u8::to_ascii_lowercase));
            upgrade_to_websocket |=
                lowered == b"upgrade" && value.eq_ignore_ascii_case(b"websocket");
            headers.append((PyBytes::new(py, &lowered), PyBytes::new(py, value)))?;
        }
        let websocket = request.flags & FLAG_UPGRADE != 0 && upgrade_to_websocket;
        let tls = request.flags & FLAG_TLS != 0;
        let scope = PyDict::new(py);
        let kind = if websocket {
            intern!(py, "websocket")
        } else {
            intern!(py, "http")
        };
        scope.set_item(intern!(py, "type"), kind)?;
        let asgi = PyDict::new(py);
        asgi.set_item(intern!(py, "version"), intern!(py, "3.0"))?;
        asgi.set_item(intern!(py, "spec_version"), intern!(py, "2.1"))?;
        scope.set_item(intern!(py, "asgi"), asgi)?;
        let version = if request.version_minor == 0 {
            intern!(py, "1.0")
        } else {
            intern!(py, "1.1")
        };
        scope.set_item(intern!(py, "http_version"), version)?;
        let scheme = match (websocket, tls) {
            (true, true) => intern!(py, "wss"),
            (true, false) => intern!(py, "ws"),
            (false, true) => intern!(py, "https"),
            (false, false) => intern!(py, "http"),
        };
        scope.set_item(intern!(py, "scheme"), scheme)?;
        let path = PyString::new(py, &String::from_utf8_lossy(request.path));
        scope.set_item(intern!(py, "path"), path)?;
        let raw_path = request.target.split(|&byte| byte == b'?').next();
        let raw_path = PyBytes::new(py, raw_path.unwrap_or_default());
        scope.set_item(intern!(py, "raw_path"), raw_path)?;
        scope.set_item(intern!(py, "query_string"), PyBytes::new(py, request.query))?;
        scope.set_item(intern!(py, "headers"), headers)?;
        let client = (text(py, request.remote_addr), request.remote_port);
        scope.set_item(intern!(py, "client"), client)?;
        let server = (text(py, request.local_addr), request.local_port);
        scope.set_item(intern!(py, "server"), server)?;
        if !websocket {
            let method = PyString::intern(py, &String::from_utf8_lossy(request.method));
            scope.set_item(intern!(py, "method"), method)?;
        }
        if let Some((_, prefix, root_path)) = self.targets.get(target)
            && under_prefix(request.path, prefix)
        {
            scope.set_item(intern!(py, "root_path"), root_path.bind(py))?;
        }
        Ok((scope, websocket))
    }
}

fn text<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    PyString::new(py, &String::from_utf8_lossy(bytes))
}

/// An HTTP answer under way: the head `http.response.start` gave, encoded when the
/// first body message decides how the body is delimited, and the body as sent so far.
#[pyclass]
struct Answer {
    status: u16,
    /// The head's fields, names and values one after the other.
    fields: Vec<u8>,
    /// Where each field's name ends and its value ends in `fields`.
    field_ends: Vec<(usize, usize)>,
    /// A valid Content-Length the application gave, or the body's length when the
    /// first body message was also the last.
    content_length: Option<u64>,
    no_body: bool,
    started: bool,
    chunked: bool,
    complete: bool,
    sent: u64,
}

#[pymethods]
impl Answer {
    /// The head of `http.response.start`; `head_request` when the request was HEAD.
    #[new]
    fn new(status: u16, headers: &Bound<'_, PyAny>, head_request: bool) -> PyResult<Self> {
        let mut answer = Answer {
            status,
            fields: Vec::with_capacity(256),
            field_ends: Vec::with_capacity(8),
            content_length: None,
            no_body: head_request || status < 200 || status == 204 || status == 304,
            started: false,
            chunked: false,
            complete: false,
            sent: 0,
        };
        for header in headers.try_iter()? {
            let header = header?;
            let mut pair = header.try_iter()?;
            let (Some(name), Some(value), None) = (pair.next(), pair.next(), pair.next()) else {
                return Err(PyValueError::new_err("a header is a (name, value) pair"));
            };
            let (name, value) = (bytes_of(&name?)?, bytes_of(&value?)?);
            let (name, value) = (name.as_bytes(), value.as_bytes());
            if name.eq_ignore_ascii_case(b"content-length") {
                // One that is not a number is left out, as Unit leaves it.
                let Some(length) = std::str::from_utf8(value)
                    .ok()
                    .and_then(|text| text.trim().parse::<u64>().ok())
                else {
                    continue;
                };
                answer.content_length = Some(length);
            }
            answer.fields.extend_from_slice(name);
            let name_end = answer.fields.len();
            answer.fields.extend_from_slice(value);
            answer.field_ends.push((name_end, answer.fields.len()));
        }
        Ok(answer)
    }

    /// What goes to the router for the body message `body`: the head first, the first
    /// time, and the bytes framed as the head said. The last message (`more` false)
    /// completes the answer.
    fn frame<'py>(
        &mut self,
        py: Python<'py>,
        body: &Bound<'py, PyAny>,
        more: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        if self.complete {
            return Err(PyRuntimeError::new_err(
                "http.response.body after the last one",
            ));
        }
        let body = bytes_of(body)?;
        let whole = body.as_bytes();
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let framing = if self.no_body {
                AppBody::None
            } else if let Some(length) = self.content_length {
                AppBody::Length(length)
            } else if more {
                self.chunked = true;
                AppBody::Chunked
            } else {
                self.content_length = Some(whole.len() as u64);
                AppBody::Length(whole.len() as u64)
            };
            out.reserve(64 + self.fields.len() + whole.len());
            let mut start = 0;
            let fields = self.field_ends.iter().map(|&(name_end, value_end)| {
                let field = (
                    &self.fields[start..name_end],
                    &self.fields[name_end..value_end],
                );
                start = value_end;
                field
            });
            AppResponseHead {
                status: self.status,
                body: framing,
                flags: 0,
            }
            .encode(fields, &mut out);
        }
        let mut data = if self.no_body { &[][..] } else { whole };
        if let Some(length) = self.content_length {
            let room = length.saturating_sub(self.sent);
            data = &data[..data.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        }
        self.sent += data.len() as u64;
        self.complete = !more;
        if self.chunked {
            encode_chunk(data, &mut out);
            if !more {
                encode_last_chunk(&mut out);
            }
        } else if out.is_empty() && data.len() == whole.len() {
            // The body alone, as the application gave it: not copied.
            return Ok(body.into_any());
        } else {
            out.extend_from_slice(data);
        }
        Ok(PyBytes::new(py, &out).into_any())
    }

    /// Whether the head has gone out.
    #[getter]
    fn started(&self) -> bool {
        self.started
    }

    /// Whether the answer is complete and whole, so the connection may take another
    /// request.
    #[getter]
    fn whole(&self) -> bool {
        self.complete && (self.no_body || self.chunked || self.content_length == Some(self.sent))
    }
}

/// `value` as bytes: itself when it is, else what `bytes(value)` makes of it.
fn bytes_of<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    match value.cast::<PyBytes>() {
        Ok(bytes) => Ok(bytes.clone()),
        Err(_) => Ok(value
            .py()
            .get_type::<PyBytes>()
            .call1((value,))?
            .cast_into::<PyBytes>()?),
    }
}

/// The response head frame for the ASGI server: `status`, the body's `kind` (0 none, 1
/// `length` bytes, 2 chunked) and `fields`, a list of (name, value) bytes, which the
/// router relays as they are.
#[pyfunction]
#[pyo3(signature = (status, fields, kind = 0, length = 0))]
fn encode_head<'py>(
    py: Python<'py>,
    status: u16,
    fields: &Bound<'py, PyList>,
    kind: u8,
    length: u64,
) -> PyResult<Bound<'py, PyBytes>> {
    let body = match kind {
        0 => AppBody::None,
        1 => AppBody::Length(length),
        _ => AppBody::Chunked,
    };
    let mut pairs = Vec::with_capacity(fields.len());
    for field in fields.iter() {
        let (name, value): (Bound<'py, PyBytes>, Bound<'py, PyBytes>) = field.extract()?;
        pairs.push((name, value));
    }
    let mut frame = Vec::with_capacity(64);
    AppResponseHead {
        status,
        body,
        flags: 0,
    }
    .encode(
        pairs
            .iter()
            .map(|(name, value)| (name.as_bytes(), value.as_bytes())),
        &mut frame,
    );
    Ok(PyBytes::new(py, &frame))
}

/// A copy of the frame at the start of `buffer`, once all of it is there.
#[allow(unsafe_code)]
fn whole_frame(buffer: &Bound<'_, PyByteArray>) -> Option<Vec<u8>> {
    // SAFETY: the GIL is held and no Python code runs while `bytes` is borrowed (it is
    // only read and copied), so nothing can resize or free the bytearray meanwhile.
    let bytes = unsafe { buffer.as_bytes() };
    let length = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    bytes.get(..length.checked_add(4)?).map(<[u8]>::to_vec)
}
