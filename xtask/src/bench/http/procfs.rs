//! Reading `/proc` by hand: a server's whole process tree, its CPU time and resident memory.
//!
//! A server is its main process plus every descendant (nginx workers, unitd's controller
//! and router), found by following parent pids through `/proc/<pid>/stat`, or every
//! member of the process group it was started in.
//! CPU time is user plus system time of the processes alive at the moment of sampling, in
//! clock ticks; time spent by processes that have already exited is not counted.
//! The parsers are pure functions over the file texts so they can be tested on samples.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

/// The few fields of `/proc/<pid>/stat` the benchmark needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stat {
    /// The state letter (field 3): `R`, `S`, `Z` for a zombie...
    pub(super) state: char,
    /// The parent pid (field 4).
    pub(super) ppid: u32,
    /// The process group (field 5).
    pub(super) pgrp: u32,
    /// User plus system CPU time in clock ticks (fields 14 and 15).
    pub(super) cpu_ticks: u64,
    /// When the process started, in clock ticks after boot (field 22); with the pid it
    /// names one process even if the pid is reused later.
    pub(super) start_time: u64,
}

/// One process, identified so that a reused pid is not mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProcessId {
    /// The pid.
    pub(super) pid: u32,
    /// The start time from its `stat` file.
    pub(super) start_time: u64,
}

/// What a process tree uses at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Usage {
    /// Summed user plus system time, in clock ticks.
    pub(super) cpu_ticks: u64,
    /// Summed resident set size, in KiB.
    pub(super) rss_kib: u64,
    /// How many processes were summed.
    pub(super) processes: usize,
}

/// Parses the text of `/proc/<pid>/stat`.
///
/// The command name (field 2) sits in parentheses and may itself contain spaces and
/// parentheses, so the fields are counted from the last `)`.
pub(super) fn parse_stat(text: &str) -> Option<Stat> {
    let after_name = &text[text.rfind(')')? + 1..];
    // The first word after the name is field 3 (the state), so field N is at index N - 3.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: u32::try_from(field(4)?).ok()?,
        pgrp: u32::try_from(field(5)?).ok()?,
        cpu_ticks: field(14)?.checked_add(field(15)?)?,
        start_time: field(22)?,
    })
}

/// The `VmRSS` of a `/proc/<pid>/status` text in KiB; `None` when the line is absent (kernel
/// threads and zombies have none).
pub(super) fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status_field(status, "VmRSS:")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The effective uid from a `/proc/<pid>/status` text (the second number of `Uid:`).
pub(super) fn parse_effective_uid(status: &str) -> Option<u32> {
    status_field(status, "Uid:")?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The rest of the line of `status` that starts with `name`.
fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|line| line.strip_prefix(name))
}

/// `root` followed by every pid whose chain of parents leads to it, given each process's
/// parent as `(pid, ppid)` pairs.
pub(super) fn descendants(root: u32, parents: &[(u32, u32)]) -> Vec<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &(pid, ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut tree = vec![root];
    let mut next = 0;
    while let Some(&pid) = tree.get(next) {
        next += 1;
        if let Some(kids) = children.get(&pid) {
            // A pid is never its own ancestor, but guard against a malformed table anyway.
            tree.extend(kids.iter().filter(|kid| **kid != root));
        }
    }
    tree
}

/// Every live process in `/proc` with its parsed `stat`.
fn all_processes() -> Vec<(u32, Stat)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
            Some((pid, stat))
        })
        .collect()
}

/// The process tree under `root` (itself included) with each member's `stat`, read now.
fn tree_stats(root: u32) -> Vec<(u32, Stat)> {
    let processes = all_processes();
    let parents: Vec<(u32, u32)> = processes
        .iter()
        .map(|(pid, stat)| (*pid, stat.ppid))
        .collect();
    let members = descendants(root, &parents);
    processes
        .into_iter()
        .filter(|(pid, _)| members.contains(pid))
        .collect()
}

/// The processes of the tree under `root`, identified by pid and start time.
pub(super) fn tree(root: u32) -> Vec<ProcessId> {
    tree_stats(root)
        .into_iter()
        .map(|(pid, stat)| ProcessId {
            pid,
            start_time: stat.start_time,
        })
        .collect()
}

/// Whether `process` still runs as the same process (a zombie, which has exited but waits
/// to be reaped by its parent, does not count).
pub(super) fn is_alive(process: ProcessId) -> bool {
    fs::read_to_string(format!("/proc/{}/stat", process.pid))
        .ok()
        .and_then(|text| parse_stat(&text))
        .is_some_and(|stat| stat.start_time == process.start_time && stat.state != 'Z')
}

/// One process of a tree at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProcessSample {
    /// Which process.
    pub(super) id: ProcessId,
    /// Its user plus system time so far, in clock ticks.
    pub(super) cpu_ticks: u64,
    /// Its command line, arguments separated by spaces (a process title as set).
    pub(super) cmdline: String,
}

/// Every process of the tree under `root` with its CPU time and command line, read now.
pub(super) fn sample_tree(root: u32) -> Vec<ProcessSample> {
    tree_stats(root).into_iter().map(sample_of).collect()
}

/// The members of process group `pgid` that have not exited (zombies, which an
/// init that does not reap may keep for good, are left out), read now.
fn group_stats(pgid: u32) -> Vec<(u32, Stat)> {
    all_processes()
        .into_iter()
        .filter(|(_, stat)| stat.pgrp == pgid && stat.state != 'Z')
        .collect()
}

/// The live members of process group `pgid`.
pub(super) fn group(pgid: u32) -> Vec<ProcessId> {
    group_stats(pgid)
        .into_iter()
        .map(|(pid, stat)| ProcessId {
            pid,
            start_time: stat.start_time,
        })
        .collect()
}

/// Every live member of process group `pgid` with its CPU time and command line, read now.
pub(super) fn sample_group(pgid: u32) -> Vec<ProcessSample> {
    group_stats(pgid).into_iter().map(sample_of).collect()
}

/// One process's sample from its `stat` and its command line.
fn sample_of((pid, stat): (u32, Stat)) -> ProcessSample {
    ProcessSample {
        id: ProcessId {
            pid,
            start_time: stat.start_time,
        },
        cpu_ticks: stat.cpu_ticks,
        cmdline: fs::read(format!("/proc/{pid}/cmdline"))
            .map(|bytes| parse_cmdline(&bytes))
            .unwrap_or_default(),
    }
}

/// A `/proc/<pid>/cmdline` as one line: NUL-separated arguments joined by spaces.
pub(super) fn parse_cmdline(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.trim_end_matches('\0').replace('\0', " ")
}

/// Sums CPU time and resident memory over the tree under `root`.
pub(super) fn usage(root: u32) -> Usage {
    let mut usage = Usage::default();
    for (pid, stat) in tree_stats(root) {
        usage.cpu_ticks += stat.cpu_ticks;
        usage.rss_kib += fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| parse_vm_rss_kib(&status))
            .unwrap_or(0);
        usage.processes += 1;
    }
    usage
}

/// The effective uid of this process.
pub(super) fn effective_uid() -> Option<u32> {
    parse_effective_uid(&fs::read_to_string("/proc/self/status").ok()?)
}

/// Clock ticks per second, the unit of `stat`'s CPU times: `getconf CLK_TCK`, else 100.
pub(super) fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real-looking `stat` line whose command name has a space and parentheses in it.
    const STAT: &str = "4242 (nginx: (wor) er) S 4200 4201 4201 0 -1 4194624 233 0 0 0 \
                        1717 283 0 0 20 0 1 0 99887766 11558912 867 18446744073709551615 \
                        1 1 0 0 0 0 0 16781312 134366 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        assert_eq!(
            parse_stat(STAT),
            Some(Stat {
                state: 'S',
                ppid: 4200,
                pgrp: 4201,
                cpu_ticks: 1717 + 283,
                start_time: 99887766,
            })
        );
    }

    #[test]
    fn truncated_or_garbled_stat_is_rejected() {
        assert_eq!(parse_stat("12 (sh) S 1 12 12"), None);
        assert_eq!(parse_stat("no parenthesis here"), None);
        assert_eq!(parse_stat(&STAT.replace(" 1717 ", " x ")), None);
    }

    #[test]
    fn status_fields() {
        let status = "Name:\tnginx\nUmask:\t0022\nState:\tS (sleeping)\n\
                      Uid:\t1000\t65534\t65534\t65534\nGid:\t0\t0\t0\t0\n\
                      VmPeak:\t   12000 kB\nVmRSS:\t    3468 kB\nRssAnon:\t     600 kB\n";
        assert_eq!(parse_vm_rss_kib(status), Some(3468));
        assert_eq!(parse_effective_uid(status), Some(65534));
        let kernel_thread = "Name:\tkworker/0:1\nState:\tI (idle)\nUid:\t0\t0\t0\t0\n";
        assert_eq!(parse_vm_rss_kib(kernel_thread), None);
        assert_eq!(parse_effective_uid(kernel_thread), Some(0));
    }

    #[test]
    fn command_lines_read_as_one_line() {
        assert_eq!(
            parse_cmdline(b"/bin/hello-app\0--flag\0value\0"),
            "/bin/hello-app --flag value"
        );
        assert_eq!(parse_cmdline(b"unit: router"), "unit: router");
        assert_eq!(parse_cmdline(b""), "");
    }

    #[test]
    fn descendants_follow_parent_chains() {
        let parents = [
            (1, 0),
            (10, 1),
            (11, 10),
            (12, 10),
            (13, 12),
            (20, 1),
            (21, 20),
        ];
        let mut tree = descendants(10, &parents);
        tree.sort_unstable();
        assert_eq!(tree, [10, 11, 12, 13]);
        assert_eq!(descendants(21, &parents), [21]);
        assert_eq!(descendants(99, &parents), [99]);
    }

    #[test]
    fn this_process_is_found_and_measured() {
        let me = std::process::id();
        assert!(tree(me).iter().any(|process| process.pid == me));
        let usage = usage(me);
        assert!(usage.processes >= 1);
        assert!(usage.rss_kib > 0);
        assert!(clock_ticks_per_second() > 0);
        assert!(effective_uid().is_some());
    }

    #[test]
    fn a_process_group_is_found_by_its_id() {
        let me = std::process::id();
        let stat =
            parse_stat(&fs::read_to_string("/proc/self/stat").expect("own stat")).expect("parses");
        assert!(group(stat.pgrp).iter().any(|process| process.pid == me));
        assert!(
            sample_group(stat.pgrp)
                .iter()
                .any(|process| process.id.pid == me && !process.cmdline.is_empty())
        );
    }
}
