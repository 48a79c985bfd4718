//! `cargo xtask bench http`: load-tests a release unitd against nginx on loopback.
//!
//! Both servers get equivalent configurations (`return 200`, static files, a reverse proxy,
//! and over TLS, on one self-signed ECDSA certificate, `return 200`, a static file and a
//! handshake per request) and the same wrk loads, one after another in the same run, in
//! rounds: every round runs every load on every server, the server going first
//! alternating between rounds. For each load the task reports throughput, latency,
//! errors, memory and the servers' CPU time per request (all processes of a server, read
//! from `/proc`) over the rounds, then checks the project's performance targets.
//!
//! The run is a measurement: missed targets and loads a server cannot serve yet are
//! reported, not treated as errors. It fails only when nothing could be measured, when the
//! tools are missing and cannot be installed, or when unitd does not build.
//! Submodules: `tools` (wrk, nginx and openssl), `servers` (configs, start and stop),
//! `wrk` (running and parsing it), `procfs` (process trees and groups) and `report`
//! (tables and targets); `app` is the application suite (`cargo xtask bench app`) and
//! `python` the Python servers' (`cargo xtask bench python`) and `idle` many idle
//! keep-alive connections (`cargo xtask bench idle`), built on the same parts.

pub(super) mod app;
pub(super) mod idle;
mod procfs;
pub(super) mod python;
mod report;
mod servers;
pub(super) mod soak;
mod tools;
mod wrk;

use std::path::Path;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use self::report::{IdleRss, LoadResult, Measurement, Rounds};
use self::servers::{Kind, Ports, Server, WorkDir};
use crate::cmd::{cargo, run_step, target_dir};

/// Seconds of the unmeasured run before each measured one.
const WARM_UP_SECONDS: u64 = 1;

/// What every load suite is asked: how long and how often to measure, which unitd,
/// and whether to keep the work directory.
#[derive(Args)]
pub(super) struct RunArgs {
    /// Seconds each measured wrk run lasts.
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
    /// Rounds, each measuring every load on every server. Five by default: CPU per
    /// request varies by about a tenth from one run to the next, and the median of five
    /// moves less than that of three.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// One round of short runs (3 s each) for a quick look; overrides --duration and --rounds.
    #[arg(long)]
    quick: bool,
    /// Keep the temporary work directory (configs, logs) and print its path.
    #[arg(long)]
    keep: bool,
    /// Measure this unitd binary instead of building one (an older build, to compare
    /// its ratios with the current build's).
    #[arg(long, value_name = "PATH")]
    unitd: Option<std::path::PathBuf>,
}

impl RunArgs {
    /// Seconds per measured run and the number of rounds.
    fn seconds_and_rounds(&self) -> (u64, u32) {
        if self.quick {
            (3, 1)
        } else {
            (self.duration, self.rounds)
        }
    }

    /// The unitd binary to measure: the one given, or a release build made now.
    fn unitd_binary(&self) -> Result<std::path::PathBuf> {
        unitd_binary(self.unitd.as_deref())
    }
}

/// The unitd binary to measure: `given`, or a release build made now.
fn unitd_binary(given: Option<&Path>) -> Result<std::path::PathBuf> {
    let binary = given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| target_dir().join("release").join("unitd"));
    if given.is_none() {
        run_step(&mut cargo(&["build", "--release", "-p", "unitd"]))?;
    }
    if !binary.is_file() {
        bail!("{} is missing", binary.display());
    }
    Ok(binary)
}

/// Arguments of `cargo xtask bench http`.
#[derive(Args)]
pub(super) struct HttpArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Which servers to run.
    #[arg(long, value_enum, default_value_t = Servers::Both)]
    server: Servers,
}

/// The choice of servers.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Servers {
    /// Only unitd.
    Unitd,
    /// Only nginx.
    Nginx,
    /// unitd and nginx, for comparison.
    Both,
}

impl Servers {
    /// Whether `kind` takes part.
    fn includes(self, kind: Kind) -> bool {
        match self {
            Servers::Both => true,
            Servers::Unitd => kind == Kind::Unitd,
            Servers::Nginx => kind == Kind::Nginx,
        }
    }
}

/// The loads, each run against every server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Load {
    /// An empty 200 from the server itself.
    Return200,
    /// A 1 KiB file.
    Static1k,
    /// A 1 MiB file.
    Static1m,
    /// An empty 200 through the server's reverse proxy, from its own backend listener.
    Proxy,
    /// An empty 200 over TLS, on kept-alive connections.
    TlsReturn200,
    /// The 1 KiB file over TLS, on kept-alive connections.
    TlsStatic1k,
    /// An empty 200 over TLS with `Connection: close`, so every request pays for a new
    /// connection and a full handshake.
    TlsHandshakes,
}

impl Load {
    /// Every load, in running order.
    const ALL: [Load; 7] = [
        Load::Return200,
        Load::Static1k,
        Load::Static1m,
        Load::Proxy,
        Load::TlsReturn200,
        Load::TlsStatic1k,
        Load::TlsHandshakes,
    ];

    /// The load's name in tables.
    pub(super) fn title(self) -> &'static str {
        match self {
            Load::Return200 => "return 200",
            Load::Static1k => "1 KiB static",
            Load::Static1m => "1 MiB static",
            Load::Proxy => "proxy",
            Load::TlsReturn200 => "TLS return 200",
            Load::TlsStatic1k => "TLS 1 KiB static",
            Load::TlsHandshakes => "TLS handshakes",
        }
    }

    /// The listener the load goes to.
    fn port(self, ports: &Ports) -> u16 {
        match self {
            Load::Return200 => ports.ret,
            Load::Static1k | Load::Static1m => ports.static_files,
            Load::Proxy => ports.proxy,
            Load::TlsReturn200 => ports.tls_ret,
            Load::TlsStatic1k => ports.tls_static_files,
            Load::TlsHandshakes => ports.tls_handshakes,
        }
    }

    /// The request path.
    fn path(self) -> &'static str {
        match self {
            Load::Return200 | Load::Proxy | Load::TlsReturn200 | Load::TlsHandshakes => "/",
            Load::Static1k | Load::TlsStatic1k => "/1k.bin",
            Load::Static1m => "/1m.bin",
        }
    }

    /// Whether the load speaks TLS.
    fn is_tls(self) -> bool {
        matches!(
            self,
            Load::TlsReturn200 | Load::TlsStatic1k | Load::TlsHandshakes
        )
    }

    /// The URL wrk requests.
    fn url(self, ports: &Ports) -> String {
        let scheme = if self.is_tls() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{}", self.port(ports), self.path())
    }

    /// Header lines wrk adds to every request.
    fn headers(self) -> &'static [&'static str] {
        match self {
            // wrk reconnects after every answer to a request asking for the close.
            Load::TlsHandshakes => &["Connection: close"],
            _ => &[],
        }
    }
}

/// A server that was meant to run: started, or the reason it is not running.
type Slot = Option<Result<Server, String>>;

/// Runs the benchmark and prints its report.
pub(super) fn run(args: HttpArgs) -> Result<()> {
    let (seconds, rounds) = args.run.seconds_and_rounds();
    let with_unitd = args.server.includes(Kind::Unitd);
    let with_nginx = args.server.includes(Kind::Nginx);

    let tools = tools::ensure(with_nginx)?;
    let openssl = tools::openssl()?;
    let unitd_binary = if with_unitd {
        args.run.unitd_binary()?
    } else {
        std::path::PathBuf::new()
    };
    let ticks_per_second = procfs::clock_ticks_per_second();

    // Declared before the servers so it is dropped (removed) after they have stopped.
    let work = WorkDir::create(args.run.keep)?;
    println!("work directory: {}", work.path().display());
    work.make_certificate(&openssl)?;
    let mut port_sets = Ports::free(2)?.into_iter();
    let (Some(unitd_ports), Some(nginx_ports)) = (port_sets.next(), port_sets.next()) else {
        bail!("could not choose free ports");
    };

    let mut unitd: Slot = with_unitd.then(|| {
        println!("starting unitd");
        Server::start_unitd(&unitd_binary, &work, unitd_ports).map_err(|error| format!("{error:#}"))
    });
    let mut nginx: Slot = tools.nginx.as_deref().map(|nginx_binary| {
        println!("starting nginx");
        Server::start_nginx(nginx_binary, &work, nginx_ports).map_err(|error| format!("{error:#}"))
    });
    for slot in [&unitd, &nginx] {
        if let Some(Err(reason)) = slot {
            eprintln!("warning: {reason}");
        }
    }

    let idle_of = |slot: &Slot| match slot {
        Some(Ok(server)) => {
            let usage = procfs::usage(server.pid());
            Some((usage.rss_kib, usage.processes))
        }
        _ => None,
    };
    let idle = IdleRss {
        unitd: idle_of(&unitd),
        nginx: idle_of(&nginx),
    };
    println!();
    print!("{}", report::idle_table(&idle));

    let context = Context {
        wrk: &tools.wrk,
        seconds,
        ticks_per_second,
    };
    let mut results: Vec<LoadResult> = Load::ALL
        .iter()
        .map(|&load| LoadResult {
            load,
            unitd: with_unitd.then(|| Ok(Rounds::default())),
            nginx: with_nginx.then(|| Ok(Rounds::default())),
        })
        .collect();
    for round in 1..=rounds {
        // Alternating which server goes first cancels any advantage of going first.
        let unitd_first = round % 2 == 1;
        for result in &mut results {
            let mut runs = [
                (&mut unitd, &unitd_ports, &mut result.unitd),
                (&mut nginx, &nginx_ports, &mut result.nginx),
            ];
            if !unitd_first {
                runs.reverse();
            }
            for (slot, ports, outcome) in runs {
                // Servers not taking part, and loads that already failed on one, are skipped.
                let Some(Ok(measured_rounds)) = outcome else {
                    continue;
                };
                print!("round {round}/{rounds}: ");
                match context.measure(slot, ports, result.load) {
                    Ok(measurement) => measured_rounds.push(measurement),
                    Err(reason) => *outcome = Some(Err(reason)),
                }
            }
        }
    }
    for result in &results {
        let load = result.load;
        let scheme = if load.is_tls() { "https " } else { "" };
        let headers: String = load
            .headers()
            .iter()
            .map(|header| format!(", {header}"))
            .collect();
        let heading = format!(
            "{} (GET {scheme}{}{headers}, {rounds} x {seconds} s, wrk -t1 -c32; medians over \
             the rounds)",
            load.title(),
            load.path()
        );
        println!();
        print!("{}", report::load_table(result, &heading));
    }

    println!();
    print!(
        "{}",
        report::targets_table(&report::targets(&results, &idle))
    );

    // Stop the servers before the work directory goes away.
    drop(unitd);
    drop(nginx);
    drop(work);

    let measured_any = results.iter().any(|result| {
        [&result.unitd, &result.nginx]
            .into_iter()
            .any(|outcome| matches!(outcome, Some(Ok(rounds)) if !rounds.is_empty()))
    });
    if !measured_any {
        bail!("no load could be measured on any server");
    }
    Ok(())
}

/// What every measurement needs.
struct Context<'a> {
    wrk: &'a Path,
    seconds: u64,
    ticks_per_second: u64,
}

impl Context<'_> {
    /// Warms the server up with `load`, then measures it; a server found dead is marked so
    /// for the loads after this one.
    fn measure(&self, slot: &mut Slot, ports: &Ports, load: Load) -> Result<Measurement, String> {
        let server = match slot {
            Some(Ok(server)) => server,
            Some(Err(reason)) => return Err(format!("not running: {}", first_line(reason))),
            None => return Err("not part of this run".to_owned()),
        };
        let name = server.kind().name();
        println!("measuring {} on {name}", load.title());
        let outcome = self.measure_running(server, ports, load);
        if let Some(status) = server.exited() {
            let reason = format!(
                "{name} exited during {} ({status}){}",
                load.title(),
                server.log_tail()
            );
            eprintln!("warning: {reason}");
            *slot = Some(Err(reason.clone()));
            return outcome.and(Err(reason));
        }
        outcome
    }

    /// The measurement proper on a running server.
    fn measure_running(
        &self,
        server: &Server,
        ports: &Ports,
        load: Load,
    ) -> Result<Measurement, String> {
        if load.is_tls()
            && let Some(reason) = &server.tls_unavailable
        {
            return Err(format!("no TLS listeners: {}", first_line(reason)));
        }
        let port = load.port(ports);
        if server.dead_ports.contains(&port) {
            return Err(format!(
                "listener 127.0.0.1:{port} never accepted connections"
            ));
        }
        let url = load.url(ports);
        let run = |seconds, latency| {
            wrk::run_with_headers(
                self.wrk,
                &url,
                seconds,
                latency,
                wrk::CONNECTIONS,
                load.headers(),
            )
        };
        // A TLS warm-up is checked, so it needs the report's latency lines to be parsed.
        let warm_up = run(WARM_UP_SECONDS, load.is_tls());
        if load.is_tls() {
            check_tls_warm_up(warm_up)?;
        }
        // Otherwise the warm-up's result does not matter: the measured run reports any
        // trouble.

        let before = procfs::usage(server.pid());
        let output = run(self.seconds, true).map_err(|error| format!("{error:#}"))?;
        let after = procfs::usage(server.pid());

        let report = wrk::parse(&output).map_err(|error| format!("{error:#}"))?;
        if let Some(reason) = report.failure() {
            return Err(reason);
        }
        let cpu_seconds =
            after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / self.ticks_per_second as f64;
        Ok(Measurement {
            wrk: report,
            rss_kib: after.rss_kib,
            cpu_us_per_request: cpu_seconds * 1e6 / report.requests as f64,
        })
    }
}

/// Fails unless a TLS warm-up completed requests: a wrk built without TLS, or a handshake
/// that fails, would otherwise pass for a server that serves nothing.
fn check_tls_warm_up(warm_up: Result<String>) -> Result<(), String> {
    let report = warm_up
        .and_then(|output| wrk::parse(&output))
        .map_err(|error| format!("the TLS warm-up failed: {error:#}"))?;
    match report.failure() {
        None => Ok(()),
        Some(reason) if report.requests == 0 => Err(format!(
            "no TLS request succeeded during the warm-up ({reason}); wrk must be built \
             with OpenSSL and the server's handshake must succeed"
        )),
        Some(reason) => Err(format!("the TLS warm-up failed: {reason}")),
    }
}

/// The first line of a possibly multi-line reason, for repeating it briefly.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: HttpArgs,
    }

    #[test]
    fn flags() {
        let cli = Cli::try_parse_from(["http"]).expect("defaults parse");
        assert_eq!((cli.args.run.duration, cli.args.run.rounds), (5, 5));
        assert!(!cli.args.run.quick && !cli.args.run.keep);
        assert!(cli.args.server == Servers::Both);
        let cli = Cli::try_parse_from(["http", "--quick", "--server", "nginx", "--keep"])
            .expect("flags parse");
        assert!(cli.args.run.quick && cli.args.run.keep);
        assert_eq!(cli.args.run.seconds_and_rounds(), (3, 1));
        assert!(cli.args.server.includes(Kind::Nginx));
        assert!(!cli.args.server.includes(Kind::Unitd));
        assert!(Cli::try_parse_from(["http", "--duration", "0"]).is_err());
        assert!(Cli::try_parse_from(["http", "--rounds", "0"]).is_err());
        assert!(Cli::try_parse_from(["http", "--server", "apache"]).is_err());
        let cli = Cli::try_parse_from(["http", "--unitd", "/tmp/old-unitd"]).expect("a binary");
        assert_eq!(
            cli.args.run.unitd.as_deref(),
            Some(Path::new("/tmp/old-unitd"))
        );
    }

    #[test]
    fn loads_go_to_their_listeners() {
        let ports = Ports {
            ret: 1,
            static_files: 2,
            proxy: 3,
            backend: 4,
            tls_ret: 5,
            tls_static_files: 6,
            tls_handshakes: 7,
        };
        let targets: Vec<(u16, &str)> = Load::ALL
            .iter()
            .map(|load| (load.port(&ports), load.path()))
            .collect();
        assert_eq!(
            targets,
            [
                (1, "/"),
                (2, "/1k.bin"),
                (2, "/1m.bin"),
                (3, "/"),
                (5, "/"),
                (6, "/1k.bin"),
                (7, "/")
            ]
        );
        let urls: Vec<String> = Load::ALL.iter().map(|load| load.url(&ports)).collect();
        assert_eq!(urls[0], "http://127.0.0.1:1/");
        assert_eq!(urls[3], "http://127.0.0.1:3/");
        assert_eq!(urls[4], "https://127.0.0.1:5/");
        assert_eq!(urls[5], "https://127.0.0.1:6/1k.bin");
        assert_eq!(urls[6], "https://127.0.0.1:7/");
        // Only the handshake load closes its connections.
        for load in Load::ALL {
            let expected: &[&str] = if load == Load::TlsHandshakes {
                &["Connection: close"]
            } else {
                &[]
            };
            assert_eq!(load.headers(), expected, "{load:?}");
        }
    }

    #[test]
    fn a_tls_warm_up_must_complete_requests() {
        let completed = "\
Running 1s test @ https://127.0.0.1:5/
  1 threads and 32 connections
  Latency Distribution
     50%  287.00us
     99%    1.02ms
  2817 requests in 1.00s, 1.20MB read
Requests/sec:   2817.00
";
        assert_eq!(check_tls_warm_up(Ok(completed.to_owned())), Ok(()));
        let none = completed.replace("2817 requests", "0 requests");
        let error = check_tls_warm_up(Ok(none)).expect_err("nothing completed");
        assert!(error.starts_with("no TLS request succeeded"), "{error}");
        assert!(error.contains("OpenSSL"), "{error}");
        let error = check_tls_warm_up(Err(anyhow::anyhow!("wrk failed (exit status: 1)")))
            .expect_err("wrk failed");
        assert!(error.contains("wrk failed"), "{error}");
    }
}
