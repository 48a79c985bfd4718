//! Turning measurements into the printed tables and the verdict on the project's targets.
//!
//! Everything here is pure: it formats and compares numbers it is given and never measures.
//! A load that could not be measured on a server is carried as its failure reason, and a
//! target that depends on it is reported as not measured rather than met or missed.
//!
//! Every load is measured in several rounds, each round running every load on every
//! server, so a slow drift of a shared machine reaches all figures of a round alike.
//! Tables show each figure's median over the rounds; a ratio is the median of the ratios
//! taken within each round, never a ratio of figures measured minutes apart.

use std::fmt::Write as _;

use super::Load;
use super::wrk;

/// What one load measured on one server in one round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Measurement {
    /// wrk's numbers.
    pub(super) wrk: wrk::Report,
    /// Resident memory of every server process after the load, in KiB.
    pub(super) rss_kib: u64,
    /// Server CPU time (all processes) per completed request, in microseconds.
    pub(super) cpu_us_per_request: f64,
}

/// One load's measurements on one server, a measurement per round in round order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Rounds(Vec<Measurement>);

impl Rounds {
    /// Adds the next round's measurement.
    pub(super) fn push(&mut self, measurement: Measurement) {
        self.0.push(measurement);
    }

    /// Whether no round has been measured yet.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The median over the rounds of one figure.
    fn median(&self, figure: impl Fn(&Measurement) -> f64) -> f64 {
        median(self.0.iter().map(figure).collect())
    }

    /// The lowest and highest CPU time per request over the rounds.
    fn cpu_range(&self) -> (f64, f64) {
        self.0
            .iter()
            .map(|measured| measured.cpu_us_per_request)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), cpu| {
                (low.min(cpu), high.max(cpu))
            })
    }

    /// The median CPU time per request.
    fn cpu(&self) -> f64 {
        self.median(|measured| measured.cpu_us_per_request)
    }
}

/// The median of each round's `figure(numerator) / figure(denominator)`, the rounds
/// paired in order.
fn paired_ratio(
    numerator: &Rounds,
    denominator: &Rounds,
    figure: impl Fn(&Measurement) -> f64,
) -> f64 {
    median(
        numerator
            .0
            .iter()
            .zip(&denominator.0)
            .map(|(top, bottom)| figure(top) / figure(bottom))
            .collect(),
    )
}

/// The median of `values` (the mean of the middle two for an even count); NaN, which
/// meets no target, when there are none.
pub(super) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        length if length % 2 == 1 => values[middle],
        _ => (values[middle - 1] + values[middle]) / 2.0,
    }
}

/// Every round of a load on a server, or why they could not all be measured.
pub(super) type Outcome = Result<Rounds, String>;

/// One load's outcome on each server that took part (`None`: not part of this run).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LoadResult {
    /// The load.
    pub(super) load: Load,
    /// unitd's outcome.
    pub(super) unitd: Option<Outcome>,
    /// nginx's outcome.
    pub(super) nginx: Option<Outcome>,
}

impl LoadResult {
    /// Both servers' rounds, when both servers were measured.
    fn pair(&self) -> Option<(&Rounds, &Rounds)> {
        match (&self.unitd, &self.nginx) {
            (Some(Ok(unitd)), Some(Ok(nginx))) => Some((unitd, nginx)),
            _ => None,
        }
    }

    /// unitd's rounds, if they were all measured.
    fn unitd(&self) -> Option<&Rounds> {
        self.unitd.as_ref()?.as_ref().ok()
    }
}

/// Idle resident memory of each server's processes before any load, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct IdleRss {
    /// unitd's, with its process count.
    pub(super) unitd: Option<(u64, usize)>,
    /// nginx's, with its process count.
    pub(super) nginx: Option<(u64, usize)>,
}

/// The table of one load: a header, a row per server and the unitd/nginx ratios.
pub(super) fn load_table(result: &LoadResult, heading: &str) -> String {
    let mut table = String::new();
    let _ = writeln!(table, "{heading}");
    let _ = writeln!(
        table,
        "  {:<7}{:>11}{:>9}{:>9}{:>9}{:>9}{:>12}{:>15}",
        "server", "req/s", "p50 ms", "p99 ms", "errors", "RSS MiB", "CPU µs/req", "CPU range"
    );
    for (name, outcome) in [("unitd", &result.unitd), ("nginx", &result.nginx)] {
        match outcome {
            None => {}
            Some(Ok(rounds)) => {
                let errors: u64 = rounds.0.iter().map(|measured| measured.wrk.errors()).sum();
                let rss_kib = rounds.0.iter().map(|measured| measured.rss_kib).max();
                let (low, high) = rounds.cpu_range();
                let _ = writeln!(
                    table,
                    "  {:<7}{:>11.0}{:>9.3}{:>9.3}{:>9}{:>9.1}{:>12.2}{:>15}",
                    name,
                    rounds.median(|measured| measured.wrk.requests_per_sec),
                    rounds.median(|measured| measured.wrk.p50_ms),
                    rounds.median(|measured| measured.wrk.p99_ms),
                    errors,
                    mib(rss_kib.unwrap_or(0)),
                    rounds.cpu(),
                    format!("{low:.2}-{high:.2}")
                );
            }
            Some(Err(reason)) => {
                let _ = writeln!(table, "  {name:<7}failed: {reason}");
            }
        }
    }
    if let Some((unitd, nginx)) = result.pair() {
        let _ = writeln!(
            table,
            "  unitd/nginx: req/s {:.2}x, CPU/request {:.2}x",
            paired_ratio(unitd, nginx, |measured| measured.wrk.requests_per_sec),
            paired_ratio(unitd, nginx, |measured| measured.cpu_us_per_request)
        );
    }
    table
}

/// The idle memory lines.
pub(super) fn idle_table(idle: &IdleRss) -> String {
    let mut table = String::from("idle RSS before any load (all processes)\n");
    for (name, rss) in [("unitd", idle.unitd), ("nginx", idle.nginx)] {
        if let Some((kib, processes)) = rss {
            let _ = writeln!(
                table,
                "  {name:<7}{:>9.1} MiB in {processes} processes",
                mib(kib)
            );
        }
    }
    table
}

/// Whether a target holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// It holds.
    Met,
    /// It does not.
    Missed,
    /// A number it needs is missing.
    NotMeasured,
}

/// One target of the project issue with its verdict and the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Target {
    /// What is demanded.
    pub(super) goal: &'static str,
    /// The verdict.
    pub(super) verdict: Verdict,
    /// The compared numbers, or why they are missing.
    pub(super) detail: String,
}

/// Checks every target against the results.
pub(super) fn targets(results: &[LoadResult], idle: &IdleRss) -> Vec<Target> {
    let find = |load: Load| results.iter().find(|result| result.load == load);
    let cpu_against_nginx =
        |goal: &'static str, load: Load, limit: f64| match find(load).and_then(LoadResult::pair) {
            Some((unitd, nginx)) => {
                let measured = paired_ratio(unitd, nginx, |measured| measured.cpu_us_per_request);
                Target {
                    goal,
                    verdict: verdict(measured <= limit),
                    detail: format!(
                        "{:.2} vs {:.2} µs: {measured:.2}x",
                        unitd.cpu(),
                        nginx.cpu()
                    ),
                }
            }
            None => not_measured(goal, "needs both servers measured on this load"),
        };
    let mut targets = vec![
        cpu_against_nginx(
            "return 200: unitd CPU/request <= 0.95x nginx",
            Load::Return200,
            0.95,
        ),
        cpu_against_nginx(
            "1 KiB static: unitd CPU/request <= 0.6x nginx",
            Load::Static1k,
            0.6,
        ),
        cpu_against_nginx(
            "1 MiB static: unitd CPU/request <= 0.9x nginx",
            Load::Static1m,
            0.9,
        ),
    ];

    let goal = "proxy: unitd CPU/request <= 3x unitd's return 200";
    targets.push(
        match (
            find(Load::Proxy).and_then(LoadResult::unitd),
            find(Load::Return200).and_then(LoadResult::unitd),
        ) {
            (Some(proxy), Some(ret)) => {
                let measured = paired_ratio(proxy, ret, |measured| measured.cpu_us_per_request);
                Target {
                    goal,
                    verdict: verdict(measured <= 3.0),
                    detail: format!("{:.2} vs {:.2} µs: {measured:.2}x", proxy.cpu(), ret.cpu()),
                }
            }
            _ => not_measured(goal, "needs unitd measured on proxy and return 200"),
        },
    );

    targets.push(cpu_against_nginx(
        "TLS return 200: unitd CPU/request <= 1.0x nginx",
        Load::TlsReturn200,
        1.0,
    ));
    targets.push(cpu_against_nginx(
        "TLS 1 KiB static: unitd CPU/request <= 0.8x nginx",
        Load::TlsStatic1k,
        0.8,
    ));
    // Every request of this load is a new connection, so requests per second are
    // handshakes per second.
    let goal = "TLS handshakes: unitd handshakes/s >= 1.0x nginx";
    targets.push(match find(Load::TlsHandshakes).and_then(LoadResult::pair) {
        Some((unitd, nginx)) => {
            let requests_per_sec = |measured: &Measurement| measured.wrk.requests_per_sec;
            let measured = paired_ratio(unitd, nginx, requests_per_sec);
            Target {
                goal,
                verdict: verdict(measured >= 1.0),
                detail: format!(
                    "{:.0} vs {:.0}/s: {measured:.2}x",
                    unitd.median(requests_per_sec),
                    nginx.median(requests_per_sec)
                ),
            }
        }
        None => not_measured(goal, "needs both servers measured on this load"),
    });

    let goal = "unitd req/s never below nginx's";
    let pairs: Vec<(Load, f64)> = results
        .iter()
        .filter_map(|result| {
            let (unitd, nginx) = result.pair()?;
            Some((
                result.load,
                paired_ratio(unitd, nginx, |measured| measured.wrk.requests_per_sec),
            ))
        })
        .collect();
    targets.push(if pairs.is_empty() {
        not_measured(goal, "no load measured on both servers")
    } else {
        let below: Vec<String> = pairs
            .iter()
            .filter(|(_, ratio)| *ratio < 1.0)
            .map(|(load, ratio)| format!("{} {ratio:.2}x", load.title()))
            .collect();
        let compared = format!("{} of {} loads compared", pairs.len(), results.len());
        if below.is_empty() {
            Target {
                goal,
                verdict: Verdict::Met,
                detail: compared,
            }
        } else {
            Target {
                goal,
                verdict: Verdict::Missed,
                detail: format!("below on {} ({compared})", below.join(", ")),
            }
        }
    });

    let goal = "unitd idle RSS below nginx's (all processes)";
    targets.push(match (idle.unitd, idle.nginx) {
        (Some((unitd, _)), Some((nginx, _))) => Target {
            goal,
            verdict: verdict(unitd < nginx),
            detail: format!("{:.1} vs {:.1} MiB", mib(unitd), mib(nginx)),
        },
        _ => not_measured(goal, "needs both servers started"),
    });
    targets
}

/// The targets as printed lines.
pub(super) fn targets_table(targets: &[Target]) -> String {
    let mut table = String::from("targets\n");
    for target in targets {
        let verdict = match target.verdict {
            Verdict::Met => "met",
            Verdict::Missed => "MISSED",
            Verdict::NotMeasured => "not measured",
        };
        let _ = writeln!(
            table,
            "  {:<13}{} ({})",
            verdict, target.goal, target.detail
        );
    }
    table
}

/// A target whose numbers are missing.
fn not_measured(goal: &'static str, why: &str) -> Target {
    Target {
        goal,
        verdict: Verdict::NotMeasured,
        detail: why.to_owned(),
    }
}

/// `Met` when `holds`.
fn verdict(holds: bool) -> Verdict {
    if holds { Verdict::Met } else { Verdict::Missed }
}

/// KiB to MiB.
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(requests_per_sec: f64, cpu_us_per_request: f64) -> Measurement {
        Measurement {
            wrk: wrk::Report {
                requests_per_sec,
                requests: 1000,
                p50_ms: 0.25,
                p99_ms: 1.5,
                socket_errors: 0,
                bad_status: 0,
            },
            rss_kib: 10 * 1024,
            cpu_us_per_request,
        }
    }

    /// One round measuring this.
    fn measured(requests_per_sec: f64, cpu_us_per_request: f64) -> Option<Outcome> {
        rounds(&[(requests_per_sec, cpu_us_per_request)])
    }

    /// A round per (req/s, CPU µs/request) pair.
    fn rounds(figures: &[(f64, f64)]) -> Option<Outcome> {
        Some(Ok(Rounds(
            figures.iter().map(|&(rps, cpu)| round(rps, cpu)).collect(),
        )))
    }

    fn result(load: Load, unitd: Option<Outcome>, nginx: Option<Outcome>) -> LoadResult {
        LoadResult { load, unitd, nginx }
    }

    fn verdicts(targets: &[Target]) -> Vec<Verdict> {
        targets.iter().map(|target| target.verdict).collect()
    }

    #[test]
    fn every_target_met() {
        let results = [
            result(Load::Return200, measured(200.0, 9.0), measured(100.0, 10.0)),
            result(Load::Static1k, measured(200.0, 5.0), measured(100.0, 10.0)),
            result(Load::Static1m, measured(200.0, 8.0), measured(100.0, 10.0)),
            result(Load::Proxy, measured(200.0, 27.0), measured(100.0, 10.0)),
            result(
                Load::TlsReturn200,
                measured(200.0, 10.0),
                measured(100.0, 10.0),
            ),
            result(
                Load::TlsStatic1k,
                measured(200.0, 8.0),
                measured(100.0, 10.0),
            ),
            result(
                Load::TlsHandshakes,
                measured(100.0, 90.0),
                measured(100.0, 100.0),
            ),
        ];
        let idle = IdleRss {
            unitd: Some((1000, 3)),
            nginx: Some((2000, 3)),
        };
        let targets = targets(&results, &idle);
        assert_eq!(verdicts(&targets), [Verdict::Met; 9]);
        assert!(targets[6].detail.ends_with("100 vs 100/s: 1.00x"));
    }

    #[test]
    fn missed_and_unmeasured_targets() {
        let results = [
            result(Load::Return200, measured(90.0, 9.6), measured(100.0, 10.0)),
            result(
                Load::Static1k,
                Some(Err("router not ready".to_owned())),
                measured(100.0, 10.0),
            ),
            result(Load::Static1m, measured(200.0, 8.0), measured(100.0, 10.0)),
            result(Load::Proxy, measured(200.0, 30.0), measured(100.0, 10.0)),
            result(
                Load::TlsReturn200,
                measured(200.0, 10.5),
                measured(100.0, 10.0),
            ),
            result(
                Load::TlsStatic1k,
                Some(Err("no TLS listeners: refused".to_owned())),
                measured(100.0, 10.0),
            ),
            result(
                Load::TlsHandshakes,
                measured(95.0, 90.0),
                measured(100.0, 100.0),
            ),
        ];
        let idle = IdleRss {
            unitd: Some((3000, 3)),
            nginx: Some((2000, 3)),
        };
        let targets = targets(&results, &idle);
        assert_eq!(
            verdicts(&targets),
            [
                Verdict::Missed,
                Verdict::NotMeasured,
                Verdict::Met,
                Verdict::Missed,
                Verdict::Missed,
                Verdict::NotMeasured,
                Verdict::Missed,
                Verdict::Missed,
                Verdict::Missed,
            ]
        );
        assert!(targets[4].detail.ends_with("10.50 vs 10.00 µs: 1.05x"));
        assert!(targets[6].detail.ends_with("95 vs 100/s: 0.95x"));
        assert!(targets[7].detail.contains("return 200 0.90x"));
        assert!(targets[7].detail.contains("TLS handshakes 0.95x"));
        assert!(targets[7].detail.contains("5 of 7 loads"));
        let printed = targets_table(&targets);
        assert!(printed.contains("MISSED"));
        assert!(printed.contains("not measured"));
    }

    #[test]
    fn nothing_measured_means_nothing_judged() {
        let results = [result(Load::Return200, None, measured(100.0, 10.0))];
        let idle = IdleRss {
            unitd: None,
            nginx: Some((2000, 3)),
        };
        let targets = targets(&results, &idle);
        assert_eq!(verdicts(&targets), [Verdict::NotMeasured; 9]);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn ratios_pair_the_rounds() {
        // The machine slows down in the second round; within each round the proxy costs
        // 2.5x return 200, which is what the target sees, while the medians of the two
        // loads taken apart would give 20 / 6 = 3.33x.
        let results = [
            result(
                Load::Return200,
                rounds(&[(100.0, 4.0), (100.0, 8.0), (100.0, 6.0)]),
                rounds(&[(100.0, 5.0), (100.0, 10.0), (100.0, 5.0)]),
            ),
            result(
                Load::Proxy,
                rounds(&[(50.0, 10.0), (50.0, 20.0), (50.0, 21.0)]),
                None,
            ),
        ];
        let targets = targets(&results, &IdleRss::default());
        assert_eq!(
            targets[0].verdict,
            Verdict::Met,
            "return 200: 0.8x in 2 of 3 rounds"
        );
        assert!(targets[0].detail.ends_with("6.00 vs 5.00 µs: 0.80x"));
        assert_eq!(targets[3].verdict, Verdict::Met);
        assert!(targets[3].detail.ends_with("20.00 vs 6.00 µs: 2.50x"));

        let table = load_table(&results[0], "return 200");
        assert!(table.contains("4.00-8.00"), "{table}");
        assert!(table.contains("unitd/nginx: req/s 1.00x, CPU/request 0.80x"));
    }

    #[test]
    fn tables() {
        let both = result(Load::Return200, measured(150.0, 5.0), measured(100.0, 10.0));
        let table = load_table(&both, "return 200");
        assert!(table.contains("unitd/nginx: req/s 1.50x, CPU/request 0.50x"));
        assert_eq!(table.lines().count(), 5);
        let failed = result(
            Load::Proxy,
            Some(Err("no response completed".to_owned())),
            measured(100.0, 10.0),
        );
        let table = load_table(&failed, "proxy");
        assert!(table.contains("unitd  failed: no response completed"));
        assert!(!table.contains("unitd/nginx"));
        let idle = idle_table(&IdleRss {
            unitd: None,
            nginx: Some((2048, 3)),
        });
        assert!(
            idle.lines()
                .any(|line| line.trim_start().starts_with("nginx")
                    && line.ends_with(" 2.0 MiB in 3 processes"))
        );
        assert!(!idle.contains("unitd"));
    }
}
