//! ASGI (3.0, and 2.0 callables): each serving thread runs an asyncio event loop with
//! the runner's Python server (`runner.py`) on the listening socket. Every target's
//! lifespan startup runs before the first connection is taken, on the first thread's
//! loop, and its shutdown when the process is told to quit.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyTuple};
use unit_http::{AppBody, AppResponseHead, decode_app_request};
use unit_log::alert;

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
                runner.setattr("decode_frame", wrap_pyfunction!(decode_frame, py)?)?;
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

/// The request frame at the start of `buffer`, for the ASGI server: `None` until it has
/// arrived whole, else the arguments of its `Request` (the header names lowercased, as
/// ASGI has them) and the frame's length. A malformed frame is a `ValueError`.
#[pyfunction]
fn decode_frame<'py>(
    py: Python<'py>,
    buffer: &Bound<'py, PyByteArray>,
) -> PyResult<Option<(Bound<'py, PyTuple>, usize)>> {
    let Some(frame) = whole_frame(buffer) else {
        return Ok(None);
    };
    let (request, length) = match decode_app_request(&frame) {
        Ok(Some(decoded)) => decoded,
        Ok(None) => return Ok(None),
        Err(error) => return Err(PyValueError::new_err(format!("request frame: {error}"))),
    };
    let texts = PyList::new(
        py,
        [
            request.method,
            request.target,
            request.path,
            request.query,
            request.remote_addr,
            request.local_addr,
            request.server_name,
            request.app_target,
        ]
        .map(|text| PyBytes::new(py, text)),
    )?;
    let mut lowered = Vec::with_capacity(64);
    let fields = PyList::empty(py);
    for (name, value) in &request.fields {
        lowered.clear();
        lowered.extend(name.iter().map(u8::to_ascii_lowercase));
        fields.append((PyBytes::new(py, &lowered), PyBytes::new(py, value)))?;
    }
    let (kind, body_length) = match request.body {
        AppBody::None => (0u8, 0u64),
        AppBody::Length(length) => (1, length),
        AppBody::Chunked => (2, 0),
    };
    let limits = request.websocket;
    let websocket = (
        limits.max_frame_size,
        f64::from(limits.read_timeout_ms) / 1000.0,
        f64::from(limits.keepalive_interval_ms) / 1000.0,
    );
    let arguments = (
        request.version_minor,
        request.flags,
        kind,
        body_length,
        request.local_port,
        request.remote_port,
        texts,
        fields,
        websocket,
    )
        .into_pyobject(py)?;
    Ok(Some((arguments, length)))
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
