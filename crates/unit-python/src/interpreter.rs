//! Starting the embedded interpreter as Unit does, and loading the application's
//! entry points.
//!
//! With `home`, the interpreter is configured in isolation: a virtual environment
//! (a `pyvenv.cfg` in it) is found through a program name inside it, so its
//! `site-packages` are used with the base installation's standard library; any other
//! `home` is the Python home. Without it, the interpreter starts as a plain embedded
//! one. Either way no signal handlers are installed: the runner handles signals.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyModule};

use crate::config::{AppConfig, Protocol, Target};

/// The Python helpers the runner runs inside the interpreter: protocol detection and
/// the ASGI server.
const RUNNER_SOURCE: &CStr = c_str_from_source();

const fn c_str_from_source() -> &'static CStr {
    match CStr::from_bytes_with_nul(concat!(include_str!("runner.py"), "\0").as_bytes()) {
        Ok(source) => source,
        Err(_) => panic!("runner.py holds a NUL byte"),
    }
}

/// Why the application cannot start; the message is the alert line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("Python failed to initialize the interpreter: {0}")]
    Initialize(String),
    #[error("Python failed to import module \"{0}\"")]
    Import(String),
    #[error("Python failed to get \"{callable}\" from module \"{module}\"")]
    MissingCallable { callable: String, module: String },
    #[error("factory \"{callable}\" in module \"{module}\" can not be called to fetch callable")]
    FactoryNotCallable { callable: String, module: String },
    #[error("factory \"{callable}\" in module \"{module}\" did not return callable object")]
    FactoryResult { callable: String, module: String },
    #[error("\"{callable}\" in module \"{module}\" is not a callable object")]
    NotCallable { callable: String, module: String },
    #[error("A mix of ASGI & WSGI targets is forbidden, specify protocol in config if incorrect")]
    MixedProtocols,
    #[error("Python failed to {0}")]
    Setup(&'static str),
}

/// The version of the libpython this runner loaded, e.g. `3.11.2`.
#[allow(unsafe_code)]
pub(crate) fn python_version() -> String {
    // SAFETY: Py_GetVersion returns a static NUL-terminated string and may be called
    // before the interpreter is initialized.
    let version = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) };
    let version = version.to_string_lossy();
    version
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Initializes the interpreter for `home` and gives up the GIL, so that any thread
/// can take it with `Python::attach`.
#[allow(unsafe_code)]
pub(crate) fn initialize(home: Option<&Path>) -> Result<(), StartError> {
    match home {
        None => {
            // SAFETY: called once, before any other Python API, on the only thread.
            unsafe { ffi::Py_InitializeEx(0) };
        }
        Some(home) => initialize_isolated(home)?,
    }
    // SAFETY: the interpreter is initialized and this thread holds the GIL, which
    // it gives up for good; the thread state it returns is not needed again.
    unsafe { ffi::PyEval_SaveThread() };
    Ok(())
}

#[allow(unsafe_code)]
fn initialize_isolated(home: &Path) -> Result<(), StartError> {
    let virtual_environment = home.join("pyvenv.cfg").is_file();
    let setting = if virtual_environment {
        home.join("bin/python")
    } else {
        home.to_path_buf()
    };
    let setting = CString::new(setting.as_os_str().as_bytes())
        .map_err(|_| StartError::Initialize("home holds a NUL byte".to_owned()))?;
    let failed = |status: ffi::PyStatus| {
        // SAFETY: `err_msg` is NULL or a static NUL-terminated string.
        let message = unsafe { status.err_msg.as_ref() }
            .map(|message| {
                // SAFETY: see above.
                unsafe { CStr::from_ptr(message) }
                    .to_string_lossy()
                    .into_owned()
            })
            .unwrap_or_else(|| "unknown error".to_owned());
        StartError::Initialize(message)
    };
    // SAFETY: the configuration structures are initialized by their Init functions
    // before use and cleared after; every call happens once, before any other Python
    // API, on the only thread; `setting` outlives the calls that read it.
    unsafe {
        let mut preconfig = std::mem::MaybeUninit::<ffi::PyPreConfig>::uninit();
        ffi::PyPreConfig_InitIsolatedConfig(preconfig.as_mut_ptr());
        let mut preconfig = preconfig.assume_init();
        // As Unit: UTF-8 mode follows the locale.
        preconfig.utf8_mode = -1;
        let status = ffi::Py_PreInitialize(&preconfig);
        if ffi::PyStatus_Exception(status) != 0 {
            return Err(failed(status));
        }
        let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::uninit();
        ffi::PyConfig_InitIsolatedConfig(config.as_mut_ptr());
        let mut config = config.assume_init();
        let field = if virtual_environment {
            &raw mut config.program_name
        } else {
            &raw mut config.home
        };
        let status = ffi::PyConfig_SetBytesString(&mut config, field, setting.as_ptr());
        if ffi::PyStatus_Exception(status) != 0 {
            ffi::PyConfig_Clear(&mut config);
            return Err(failed(status));
        }
        let status = ffi::Py_InitializeFromConfig(&config);
        ffi::PyConfig_Clear(&mut config);
        if ffi::PyStatus_Exception(status) != 0 {
            return Err(failed(status));
        }
    }
    Ok(())
}

/// An entry point, loaded.
pub(crate) struct LoadedTarget {
    pub(crate) target: Target,
    pub(crate) callable: Py<PyAny>,
    /// An ASGI 2.0 callable: called with the scope, its result awaited with
    /// `receive` and `send`.
    pub(crate) legacy: bool,
}

/// The application, ready to serve.
pub(crate) struct LoadedApp {
    pub(crate) protocol: Protocol,
    pub(crate) targets: Vec<LoadedTarget>,
    /// The runner's Python helpers (`runner.py`).
    pub(crate) runner: Py<PyModule>,
}

/// The application could not be loaded; why has been logged, with the Python
/// traceback when there was one.
#[derive(Debug)]
pub(crate) struct LoadFailed;

/// A start error and the Python exception behind it, if any.
type Failure = Box<(StartError, Option<PyErr>)>;

fn failure(error: StartError, exception: Option<PyErr>) -> Failure {
    Box::new((error, exception))
}

/// Sets up `sys.path` and `sys.argv`, imports every target and decides the protocol.
/// A failure is logged as Unit logs it: the alert line, then the traceback.
pub(crate) fn load(py: Python<'_>, conf: &AppConfig) -> Result<LoadedApp, LoadFailed> {
    load_app(py, conf).map_err(|failed| {
        let (error, exception) = *failed;
        unit_log::alert!("{error}");
        if let Some(exception) = exception {
            exception.print(py);
        }
        LoadFailed
    })
}

fn load_app(py: Python<'_>, conf: &AppConfig) -> Result<LoadedApp, Failure> {
    let setup =
        |what: &'static str| move |error: PyErr| failure(StartError::Setup(what), Some(error));
    let sys = py.import("sys").map_err(setup("import \"sys\""))?;
    // The variables meant for the runner alone are not the application's.
    let environ = py
        .import("os")
        .and_then(|os| os.getattr("environ"))
        .map_err(setup("get \"os.environ\""))?;
    for name in [crate::config::CONF_ENV, crate::READY_FD_ENV] {
        environ
            .call_method1("pop", (name, py.None()))
            .map_err(setup("clean \"os.environ\""))?;
    }
    let sys_path = sys
        .getattr("path")
        .and_then(|path| Ok(path.cast_into::<PyList>()?))
        .map_err(setup("get \"sys.path\""))?;
    for (index, path) in conf.path.iter().enumerate() {
        sys_path
            .insert(index, path)
            .map_err(setup("insert into \"sys.path\""))?;
    }
    sys.setattr("argv", vec!["unit"])
        .map_err(setup("set the \"sys.argv\" list"))?;
    let runner = PyModule::from_code(py, RUNNER_SOURCE, c"unit_runner.py", c"unit_runner")
        .map_err(setup("load the runner's helpers"))?;
    let mut targets = Vec::with_capacity(conf.targets.len());
    for target in &conf.targets {
        targets.push(load_target(py, target)?);
    }
    let detect = |callable: &Py<PyAny>| -> Result<(bool, bool), Failure> {
        runner
            .call_method1("inspect_callable", (callable.bind(py),))
            .and_then(|found| found.extract::<(bool, bool)>())
            .map_err(setup("inspect the application callable"))
    };
    let mut detected = None;
    for target in &mut targets {
        let (asgi, coroutine) = detect(&target.callable)?;
        target.legacy = !coroutine;
        let protocol = if asgi { Protocol::Asgi } else { Protocol::Wsgi };
        if conf.protocol.is_none() && detected.is_some_and(|seen| seen != protocol) {
            return Err(failure(StartError::MixedProtocols, None));
        }
        detected.get_or_insert(protocol);
    }
    let protocol = conf.protocol.or(detected).unwrap_or(Protocol::Wsgi);
    Ok(LoadedApp {
        protocol,
        targets,
        runner: runner.unbind(),
    })
}

fn load_target(py: Python<'_>, target: &Target) -> Result<LoadedTarget, Failure> {
    let module = py
        .import(target.module.as_str())
        .map_err(|error| failure(StartError::Import(target.module.clone()), Some(error)))?;
    let callable = || target.callable.clone();
    let module_name = || target.module.clone();
    let found = module
        .dict()
        .get_item(target.callable.as_str())
        .ok()
        .flatten()
        .ok_or_else(|| {
            let error = StartError::MissingCallable {
                callable: callable(),
                module: module_name(),
            };
            failure(error, None)
        })?;
    let callable = if target.factory {
        if !found.is_callable() {
            let error = StartError::FactoryNotCallable {
                callable: callable(),
                module: module_name(),
            };
            return Err(failure(error, None));
        }
        let factory_failed = || StartError::FactoryResult {
            callable: callable(),
            module: module_name(),
        };
        let made = found
            .call0()
            .map_err(|error| failure(factory_failed(), Some(error)))?;
        if !made.is_callable() {
            return Err(failure(factory_failed(), None));
        }
        made
    } else {
        if !found.is_callable() {
            let error = StartError::NotCallable {
                callable: callable(),
                module: module_name(),
            };
            return Err(failure(error, None));
        }
        found
    };
    Ok(LoadedTarget {
        target: target.clone(),
        callable: callable.unbind(),
        legacy: false,
    })
}
