//! `cargo xtask bench app`: an application behind unitd against the same application
//! reached directly.
//!
//! The application is the Rust example (`examples/hello.rs`, built with rustc), two
//! processes of it each time: unitd runs it as an `external` application with
//! `"processes": 2`, and this task starts a twin pair on one TCP listening socket it hands
//! them the way unitd does (descriptor 3, `LISTEN_FDS=1`). Three loads run in rounds,
//! every load at every connection count in each round, the order rotating between
//! rounds: the twin pair directly, the application through unitd, and unitd's `proxy` to
//! the twin pair (the router's proxy path, whose CPU cost the application path is held
//! to). Each measurement splits CPU time per request between unitd's router, unitd's
//! other processes and the application's processes (all read from `/proc`).
//!
//! Like `bench http`, the run is a measurement: missed targets are reported, not errors.

use std::fmt::Write as _;
use std::fs::{self, File, Permissions};
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::procfs::{self, ProcessSample};
use super::report::median;
use super::servers::{Server, WorkDir, free_ports};
use super::{RunArgs, WARM_UP_SECONDS, tools, wrk};
use crate::cmd::{run_step, workspace_root};

/// Processes of the application, behind unitd and direct alike.
const PROCESSES: usize = 2;
/// Throughput through unitd must be at least this share of direct.
const THROUGHPUT_TARGET: f64 = 0.7;
/// The router's CPU per request for the application must be at most this many times its
/// CPU per request for the proxy.
const ROUTER_CPU_TARGET: f64 = 1.2;
/// What a process of the application is called on its command line.
const APP_NAME: &str = "hello-app";

/// Arguments of `cargo xtask bench app`.
#[derive(Args)]
pub(in crate::bench) struct AppArgs {
    #[command(flatten)]
    run: RunArgs,
    /// wrk's connection counts: one per process, and enough to keep every process busy.
    #[arg(long, value_name = "N", value_delimiter = ',', default_values_t = [2, 32])]
    connections: Vec<u32>,
}

/// The loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppLoad {
    /// The twin pair, without unitd.
    Direct,
    /// The application through unitd.
    Application,
    /// unitd's `proxy` to the twin pair.
    Proxy,
}

impl AppLoad {
    const ALL: [AppLoad; 3] = [AppLoad::Direct, AppLoad::Application, AppLoad::Proxy];

    fn title(self) -> &'static str {
        match self {
            AppLoad::Direct => "direct (TCP)",
            AppLoad::Application => "through unitd",
            AppLoad::Proxy => "unitd proxy to direct",
        }
    }
}

/// The loopback ports of a run.
#[derive(Debug, Clone, Copy)]
struct AppPorts {
    /// unitd's listener passing to the application.
    application: u16,
    /// unitd's listener proxying to the twin pair.
    proxy: u16,
    /// The twin pair's own socket.
    direct: u16,
}

impl AppPorts {
    fn of(self, load: AppLoad) -> u16 {
        match load {
            AppLoad::Direct => self.direct,
            AppLoad::Application => self.application,
            AppLoad::Proxy => self.proxy,
        }
    }
}

/// What one load measured once.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    wrk: wrk::Report,
    /// CPU per request, in microseconds, of unitd's router...
    router_us: f64,
    /// ...of unitd's other processes (main, controller)...
    other_unitd_us: f64,
    /// ...and of the application's processes.
    app_us: f64,
}

/// Every sample of one load at one connection count, in round order.
#[derive(Debug, Default)]
struct Series {
    samples: Vec<Sample>,
    /// Why the load could not be measured, once it could not.
    failure: Option<String>,
}

/// The twin pair: two processes of the application on one TCP socket, killed on drop.
struct DirectApp {
    children: Vec<Child>,
    port: u16,
    /// Held so the socket outlives neither process.
    _listener: TcpListener,
}

impl DirectApp {
    /// Starts the pair on a fresh loopback socket, handed over as unitd hands one over.
    fn start(app: &Path, log: &Path) -> Result<DirectApp> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the direct socket")?;
        let port = listener
            .local_addr()
            .context("reading the direct port")?
            .port();
        let mut direct = DirectApp {
            children: Vec::new(),
            port,
            _listener: listener
                .try_clone()
                .context("duplicating the direct socket")?,
        };
        for _ in 0..PROCESSES {
            let socket = OwnedFd::from(listener.try_clone().context("duplicating a socket")?);
            let errors = File::options()
                .create(true)
                .append(true)
                .open(log)
                .with_context(|| format!("opening {}", log.display()))?;
            // The shell moves the socket from its standard input to descriptor 3 and
            // becomes the application, so LISTEN_PID is the application's own pid.
            let child = Command::new("sh")
                .args([
                    "-c",
                    "export LISTEN_PID=$$; exec \"$0\" 3<&0 </dev/null",
                    &app.display().to_string(),
                ])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("LISTEN_FDS", "1")
                .env("LISTEN_FDNAMES", "unit")
                .stdin(Stdio::from(socket))
                .stdout(Stdio::null())
                .stderr(errors)
                .spawn()
                .context("starting the direct application")?;
            direct.children.push(child);
        }
        Ok(direct)
    }

    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }
}

impl Drop for DirectApp {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the benchmark and prints its report.
pub(in crate::bench) fn run(args: AppArgs) -> Result<()> {
    let (seconds, rounds) = args.run.seconds_and_rounds();
    if args.connections.is_empty() || args.connections.contains(&0) {
        bail!("--connections needs counts of at least 1");
    }
    let tools = tools::ensure(false)?;
    let unitd_binary = args.run.unitd_binary()?;
    let ticks_per_second = procfs::clock_ticks_per_second();

    let work = WorkDir::create(args.run.keep)?;
    println!("work directory: {}", work.path().display());
    let app = build_example(work.path())?;
    let direct = DirectApp::start(&app, &work.path().join("direct.stderr"))?;
    let [application, proxy] = free_ports(2)?[..] else {
        bail!("could not choose free ports");
    };
    let ports = AppPorts {
        application,
        proxy,
        direct: direct.port,
    };
    println!("starting unitd");
    let mut unitd = Server::start_unitd_with(
        &unitd_binary,
        &work,
        &unit_config(&ports, &app),
        vec![ports.application, ports.proxy],
    )?;
    if !unitd.dead_ports.is_empty() {
        bail!("unitd is not listening{}", unitd.log_tail());
    }
    wait_for_processes(unitd.pid(), PROCESSES)?;

    let measurer = Measurer {
        wrk: &tools.wrk,
        seconds,
        ticks_per_second,
        unitd_pid: unitd.pid(),
        direct_pids: direct.pids(),
    };
    let mut series: Vec<(u32, AppLoad, Series)> = args
        .connections
        .iter()
        .flat_map(|&connections| {
            AppLoad::ALL
                .iter()
                .map(move |&load| (connections, load, Series::default()))
        })
        .collect();
    for round in 1..=rounds {
        for &connections in &args.connections {
            // Rotating the order cancels any advantage of a place in it.
            let mut order = AppLoad::ALL;
            order.rotate_left((round as usize - 1) % AppLoad::ALL.len());
            for load in order {
                let Some((_, _, measured)) = series
                    .iter_mut()
                    .find(|(count, kind, _)| *count == connections && *kind == load)
                else {
                    continue;
                };
                if measured.failure.is_some() {
                    continue;
                }
                println!(
                    "round {round}/{rounds}: measuring {} with {connections} connections",
                    load.title()
                );
                match measurer.measure(ports.of(load), connections) {
                    Ok(sample) => measured.samples.push(sample),
                    Err(reason) => {
                        eprintln!("warning: {reason}");
                        measured.failure = Some(reason);
                    }
                }
                if let Some(status) = unitd.exited() {
                    bail!("unitd exited during the run ({status}){}", unitd.log_tail());
                }
            }
        }
    }

    let mut verdicts = Vec::new();
    for &connections in &args.connections {
        let of = |load: AppLoad| {
            series
                .iter()
                .find(|(count, kind, _)| *count == connections && *kind == load)
                .map(|(_, _, measured)| measured)
        };
        let (Some(direct_series), Some(app_series), Some(proxy_series)) = (
            of(AppLoad::Direct),
            of(AppLoad::Application),
            of(AppLoad::Proxy),
        ) else {
            continue;
        };
        println!();
        print!(
            "{}",
            load_table(
                connections,
                rounds,
                seconds,
                &[direct_series, app_series, proxy_series]
            )
        );
        verdicts.push((
            connections,
            compare(direct_series, app_series, proxy_series),
        ));
    }
    println!();
    print!("{}", verdict_table(&verdicts));

    drop(unitd);
    drop(direct);
    drop(work);
    if verdicts.iter().all(|(_, comparison)| comparison.is_none()) {
        bail!("nothing could be measured");
    }
    Ok(())
}

/// Builds the Rust example into `dir`, executable by anyone (unitd's application
/// processes may run as another user).
fn build_example(dir: &Path) -> Result<PathBuf> {
    let output = dir.join(APP_NAME);
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut build = Command::new(rustc);
    build
        .args(["--edition", "2021", "-O", "-o"])
        .arg(&output)
        .arg(workspace_root().join("examples").join("hello.rs"));
    run_step(&mut build)?;
    fs::set_permissions(&output, Permissions::from_mode(0o755))
        .with_context(|| format!("setting the mode of {}", output.display()))?;
    Ok(output)
}

/// Waits until unitd runs `count` processes of the application.
fn wait_for_processes(unitd_pid: u32, count: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let running = procfs::sample_tree(unitd_pid)
            .iter()
            .filter(|process| process.cmdline.contains(APP_NAME))
            .count();
        if running >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("unitd started {running} of {count} application processes within 20s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// unitd's configuration: the application with its processes, and a proxy to the twins.
fn unit_config(ports: &AppPorts, app: &Path) -> String {
    let executable = serde_json::Value::from(app.display().to_string());
    format!(
        r#"{{
  "listeners": {{
    "127.0.0.1:{application}": {{ "pass": "applications/hello" }},
    "127.0.0.1:{proxy}": {{ "pass": "routes/proxy" }}
  }},
  "routes": {{
    "proxy": [{{ "action": {{ "proxy": "http://127.0.0.1:{direct}" }} }}]
  }},
  "applications": {{
    "hello": {{ "type": "external", "executable": {executable}, "processes": {PROCESSES} }}
  }}
}}
"#,
        application = ports.application,
        proxy = ports.proxy,
        direct = ports.direct,
    )
}

/// What every measurement needs.
struct Measurer<'a> {
    wrk: &'a Path,
    seconds: u64,
    ticks_per_second: u64,
    unitd_pid: u32,
    direct_pids: Vec<u32>,
}

impl Measurer<'_> {
    /// Warms up, then measures a load on `port` with `connections`.
    fn measure(&self, port: u16, connections: u32) -> Result<Sample, String> {
        let url = format!("http://127.0.0.1:{port}/");
        // The warm-up's result does not matter: the measured run reports any trouble.
        let _ = wrk::run(self.wrk, &url, WARM_UP_SECONDS, false, connections);
        let before = self.sample();
        let output = wrk::run(self.wrk, &url, self.seconds, true, connections)
            .map_err(|error| format!("{error:#}"))?;
        let after = self.sample();
        let report = wrk::parse(&output).map_err(|error| format!("{error:#}"))?;
        if let Some(reason) = report.failure() {
            return Err(reason);
        }
        let spent = cpu_spent(&before, &after);
        let per_request =
            |ticks: u64| ticks as f64 / self.ticks_per_second as f64 * 1e6 / report.requests as f64;
        Ok(Sample {
            wrk: report,
            router_us: per_request(spent.router),
            other_unitd_us: per_request(spent.other_unitd),
            app_us: per_request(spent.app),
        })
    }

    /// Every process that can take part: unitd's tree and the twin pair.
    fn sample(&self) -> Vec<ProcessSample> {
        let mut processes = procfs::sample_tree(self.unitd_pid);
        for &pid in &self.direct_pids {
            processes.extend(procfs::sample_tree(pid));
        }
        processes
    }
}

/// CPU ticks spent between two samples, by role.
#[derive(Debug, Default, PartialEq, Eq)]
struct Spent {
    router: u64,
    other_unitd: u64,
    app: u64,
}

/// The ticks each process present in both samples spent, summed by role: the router by
/// its title, the application's processes (unitd's or the twins) by their command.
fn cpu_spent(before: &[ProcessSample], after: &[ProcessSample]) -> Spent {
    let mut spent = Spent::default();
    for process in after {
        let Some(earlier) = before.iter().find(|earlier| earlier.id == process.id) else {
            continue;
        };
        let ticks = process.cpu_ticks.saturating_sub(earlier.cpu_ticks);
        if process.cmdline.starts_with("unit: router") {
            spent.router += ticks;
        } else if process.cmdline.contains(APP_NAME) {
            spent.app += ticks;
        } else {
            spent.other_unitd += ticks;
        }
    }
    spent
}

/// The ratios the targets are about, each the median of the ratios within the rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Comparison {
    /// Requests per second through unitd over direct.
    throughput: f64,
    /// The router's CPU per request for the application over that for the proxy.
    router_cpu: f64,
    /// Median latency through unitd minus direct, in microseconds.
    added_latency_us: f64,
    /// unitd's CPU (router and the rest) per request through it, in microseconds.
    unitd_cpu_us: f64,
}

/// The comparison of the three loads, or `None` when one of them was not measured.
fn compare(direct: &Series, application: &Series, proxy: &Series) -> Option<Comparison> {
    if [direct, application, proxy]
        .iter()
        .any(|series| series.failure.is_some() || series.samples.is_empty())
    {
        return None;
    }
    let rounds = || {
        direct
            .samples
            .iter()
            .zip(&application.samples)
            .zip(&proxy.samples)
    };
    let paired = |figure: &dyn Fn(&Sample, &Sample, &Sample) -> f64| {
        median(
            rounds()
                .map(|((direct, app), proxy)| figure(direct, app, proxy))
                .collect(),
        )
    };
    Some(Comparison {
        throughput: paired(&|direct, app, _| {
            app.wrk.requests_per_sec / direct.wrk.requests_per_sec
        }),
        router_cpu: paired(&|_, app, proxy| app.router_us / proxy.router_us),
        added_latency_us: paired(&|direct, app, _| (app.wrk.p50_ms - direct.wrk.p50_ms) * 1000.0),
        unitd_cpu_us: paired(&|_, app, _| app.router_us + app.other_unitd_us),
    })
}

/// The table of one connection count: each load's medians over the rounds.
fn load_table(connections: u32, rounds: u32, seconds: u64, series: &[&Series]) -> String {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "application, {PROCESSES} processes (GET /, {rounds} x {seconds} s, wrk -t1 -c{connections}; medians over the rounds)"
    );
    let _ = writeln!(
        table,
        "  {:<22} {:>10} {:>8} {:>8} {:>12} {:>12} {:>10} {:>7}",
        "load", "req/s", "p50 ms", "p99 ms", "router us/r", "other us/r", "app us/r", "errors"
    );
    for (load, measured) in AppLoad::ALL.iter().zip(series) {
        if let Some(reason) = &measured.failure {
            let _ = writeln!(table, "  {:<22} not measured: {reason}", load.title());
            continue;
        }
        let figure =
            |value: &dyn Fn(&Sample) -> f64| median(measured.samples.iter().map(value).collect());
        let errors: u64 = measured
            .samples
            .iter()
            .map(|sample| sample.wrk.errors())
            .sum();
        let _ = writeln!(
            table,
            "  {:<22} {:>10.0} {:>8.3} {:>8.3} {:>12.1} {:>12.1} {:>10.1} {:>7}",
            load.title(),
            figure(&|sample| sample.wrk.requests_per_sec),
            figure(&|sample| sample.wrk.p50_ms),
            figure(&|sample| sample.wrk.p99_ms),
            figure(&|sample| sample.router_us),
            figure(&|sample| sample.other_unitd_us),
            figure(&|sample| sample.app_us),
            errors,
        );
    }
    table
}

/// The targets at each connection count, with unitd's overhead per request.
fn verdict_table(verdicts: &[(u32, Option<Comparison>)]) -> String {
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let mut table = String::from("targets\n");
    for (connections, comparison) in verdicts {
        let Some(comparison) = comparison else {
            let _ = writeln!(table, "  -c{connections}: not measured");
            continue;
        };
        let _ = writeln!(
            table,
            "  -c{connections}: throughput through unitd {:.2}x direct (target >= {THROUGHPUT_TARGET:.1}x): {}",
            comparison.throughput,
            verdict(comparison.throughput >= THROUGHPUT_TARGET),
        );
        let _ = writeln!(
            table,
            "  -c{connections}: router CPU per request {:.2}x its proxy path (target <= {ROUTER_CPU_TARGET:.1}x): {}",
            comparison.router_cpu,
            verdict(comparison.router_cpu <= ROUTER_CPU_TARGET),
        );
        let _ = writeln!(
            table,
            "  -c{connections}: unitd's overhead per request: {:.0} us of latency (median), {:.1} us of CPU",
            comparison.added_latency_us, comparison.unitd_cpu_us,
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, cpu_ticks: u64, cmdline: &str) -> ProcessSample {
        ProcessSample {
            id: procfs::ProcessId { pid, start_time: 7 },
            cpu_ticks,
            cmdline: cmdline.to_owned(),
        }
    }

    fn sample(requests_per_sec: f64, p50_ms: f64, router_us: f64) -> Sample {
        Sample {
            wrk: wrk::Report {
                requests_per_sec,
                requests: 1000,
                p50_ms,
                p99_ms: p50_ms * 3.0,
                socket_errors: 0,
                bad_status: 0,
            },
            router_us,
            other_unitd_us: 0.5,
            app_us: 10.0,
        }
    }

    fn series(samples: Vec<Sample>) -> Series {
        Series {
            samples,
            failure: None,
        }
    }

    #[test]
    fn cpu_is_split_by_role_over_processes_seen_twice() {
        let before = [
            process(1, 100, "unit: main v1.36.0 [unitd]"),
            process(2, 50, "unit: router"),
            process(3, 10, "/tmp/bench/hello-app"),
        ];
        let after = [
            process(1, 101, "unit: main v1.36.0 [unitd]"),
            process(2, 80, "unit: router"),
            process(3, 25, "/tmp/bench/hello-app"),
            // Started in between: its time is not the load's alone.
            process(4, 40, "/tmp/bench/hello-app"),
        ];
        assert_eq!(
            cpu_spent(&before, &after),
            Spent {
                router: 30,
                other_unitd: 1,
                app: 15,
            }
        );
    }

    #[test]
    fn ratios_pair_the_rounds() {
        // The second round runs on a machine twice as slow; within each round unitd
        // serves 0.75x direct.
        let direct = series(vec![sample(80_000.0, 0.2, 0.0), sample(40_000.0, 0.4, 0.0)]);
        let application = series(vec![
            sample(60_000.0, 0.3, 12.0),
            sample(30_000.0, 0.6, 24.0),
        ]);
        let proxy = series(vec![
            sample(70_000.0, 0.25, 10.0),
            sample(35_000.0, 0.5, 20.0),
        ]);
        let comparison = compare(&direct, &application, &proxy).expect("all measured");
        assert!((comparison.throughput - 0.75).abs() < 1e-9);
        assert!((comparison.router_cpu - 1.2).abs() < 1e-9);
        assert!((comparison.added_latency_us - 150.0).abs() < 1e-6);
        assert!((comparison.unitd_cpu_us - 18.5).abs() < 1e-9);
        let table = verdict_table(&[(32, Some(comparison))]);
        assert!(
            table.contains("0.75x direct (target >= 0.7x): met"),
            "{table}"
        );
        assert!(
            table.contains("1.20x its proxy path (target <= 1.2x): met"),
            "{table}"
        );
    }

    #[test]
    fn a_load_not_measured_leaves_its_targets_unjudged() {
        let measured = || series(vec![sample(1.0, 1.0, 1.0)]);
        let failed = Series {
            samples: Vec::new(),
            failure: Some("no response completed".into()),
        };
        assert_eq!(compare(&measured(), &failed, &measured()), None);
        let table = verdict_table(&[(2, None)]);
        assert!(table.contains("-c2: not measured"), "{table}");
        let loads = load_table(2, 1, 3, &[&measured(), &failed, &measured()]);
        assert!(
            loads.contains("through unitd          not measured: no response completed"),
            "{loads}"
        );
    }

    #[test]
    fn connection_counts_default_to_one_per_process_and_a_crowd() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: AppArgs,
        }
        let cli = Cli::try_parse_from(["app"]).expect("defaults parse");
        assert_eq!(cli.args.connections, [PROCESSES as u32, 32]);
        let cli = Cli::try_parse_from(["app", "--connections", "4,64", "--quick"]).expect("flags");
        assert_eq!(cli.args.connections, [4, 64]);
        assert_eq!(cli.args.run.seconds_and_rounds(), (3, 1));
    }

    #[test]
    fn the_configuration_runs_the_application_and_proxies_to_the_twins() {
        let ports = AppPorts {
            application: 41001,
            proxy: 41002,
            direct: 41003,
        };
        let config: serde_json::Value =
            serde_json::from_str(&unit_config(&ports, Path::new("/w/hello-app")))
                .expect("valid JSON");
        assert_eq!(
            config["listeners"]["127.0.0.1:41001"]["pass"],
            "applications/hello"
        );
        assert_eq!(
            config["routes"]["proxy"][0]["action"]["proxy"],
            "http://127.0.0.1:41003"
        );
        let app = &config["applications"]["hello"];
        assert_eq!(app["executable"], "/w/hello-app");
        assert_eq!(app["processes"], PROCESSES);
    }
}
