//! ASGI (3.0, and 2.0 callables): each serving thread runs an asyncio event loop with
//! the runner's Python server (`runner.py`) on the listening socket. Every target's
//! lifespan startup runs before the first connection is taken, on the first thread's
//! loop, and its shutdown when the process is told to quit.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::prelude::*;
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
