//! `cargo xtask bench`: runs a benchmark suite.
//!
//! Each suite is its own submodule behind one variant of [`Suite`]: `criterion` (every
//! crate's `benches/`), which also runs when no suite is named, `http` (a release unitd
//! against nginx under wrk load), `app` (an application through unitd against the
//! same application reached directly), `python` (WSGI and ASGI hello worlds through
//! unitd against granian, gunicorn and uvicorn) and `idle` (many idle keep-alive
//! connections held by a release unitd).
//! Suites report their own results; this module only dispatches.

mod criterion;
mod http;

pub(crate) use http::soak::{SoakArgs, run as soak};

use anyhow::Result;
use clap::{Args, Subcommand};

/// Arguments of `cargo xtask bench`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct BenchArgs {
    /// The suite to run; the criterion benches when omitted.
    #[command(subcommand)]
    suite: Option<Suite>,
    /// Extra arguments for `cargo bench` (after `--`) when no suite is named.
    #[arg(last = true)]
    cargo_bench_args: Vec<String>,
}

/// The benchmark suites.
#[derive(Subcommand)]
enum Suite {
    /// The criterion micro-benchmarks of every workspace crate (`cargo bench --workspace`).
    Criterion {
        /// Extra arguments for `cargo bench`, after `--`.
        #[arg(last = true)]
        cargo_bench_args: Vec<String>,
    },
    /// Load-test a release unitd against nginx with wrk on loopback (installs both if needed).
    Http(http::HttpArgs),
    /// Load-test an application through a release unitd against the same application
    /// hit directly, and unitd's proxy path to it.
    App(http::app::AppArgs),
    /// Load-test WSGI and ASGI hello worlds through a release unitd against granian,
    /// gunicorn and uvicorn (installed from PyPI into a virtual environment under target/).
    Python(http::python::PythonArgs),
    /// Hold many idle keep-alive connections on a release unitd: the router's RSS per
    /// idle connection, wrk's p99 meanwhile, and whether every one is closed at its
    /// `idle_timeout`.
    Idle(http::idle::IdleArgs),
}

/// Runs the chosen suite.
pub(crate) fn run(bench_args: BenchArgs) -> Result<()> {
    match bench_args.suite {
        None => criterion::run(&bench_args.cargo_bench_args),
        Some(Suite::Criterion { cargo_bench_args }) => criterion::run(&cargo_bench_args),
        Some(Suite::Http(http_args)) => http::run(http_args),
        Some(Suite::App(app_args)) => http::app::run(app_args),
        Some(Suite::Python(python_args)) => http::python::run(python_args),
        Some(Suite::Idle(idle_args)) => http::idle::run(idle_args),
    }
}
