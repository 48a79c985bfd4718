//! An application's `isolation` as main carries it out (UNIT-COMPAT 3.6, Unit's
//! `nxt_isolation.c`, `nxt_clone.c` and `nxt_cgroup.c`): from the configured object to
//! the [`unit_process::Isolation`] a process is started with, and what main keeps for
//! the processes it started so: the mounts it made for them and their cgroups.
//!
//! A process with a user namespace gets Unit's default id maps (the user and group it
//! runs as, mapped to themselves) unless `uidmap`/`gidmap` say otherwise, and they are
//! checked as Unit checks them before anything starts. A root directory gets what
//! `automount` asks for: the language runner's dependencies (what the runner named at
//! discovery), a tmpfs on `/tmp` and `/proc`. When the process shares main's mount
//! namespace main mounts them, once for every process that uses the same mount, and
//! unmounts each when the last of those processes is gone (and at exit), so the
//! mounts are seen from the host as Unit's are; a process with a mount namespace of its
//! own mounts for itself and nothing is left behind. A PID namespace with `/proc` in a
//! root directory implies a mount namespace, since a proc file system mounted from
//! outside would show main's processes. A cgroup path is made under main's own cgroup
//! (relative) or the cgroup v2 root (absolute), and its directories are removed again
//! when a process that used it is gone, where no other process is in them.
//!
//! What it does not do: clone the process or enter its namespaces (`unit-process`
//! does), or check the object's members (the configuration's validator did, and
//! `unit_conf::parse_isolation` checks again what the router sends).

use std::fs;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Pid, getegid, geteuid};
use unit_conf::{IdMapping, parse_isolation};
use unit_engine::HashMap;
use unit_process::{
    Credentials, IdMap, Isolation, Mount, MountKind, Namespaces, RootDirectory, mount_inside,
    unmount_inside,
};

use crate::error::RuntimeError;

/// Where cgroup v2 hierarchies are listed.
const MOUNTINFO: &str = "/proc/self/mountinfo";
/// Where main finds its own cgroup (the `0::` line).
const OWN_CGROUP: &str = "/proc/self/cgroup";

/// The isolation main resolved for one process start, and what it holds for it.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// What the process is started with.
    pub(crate) isolation: Isolation,
    /// What main must let go of when the process is gone.
    pub(crate) held: Held,
}

/// What main holds for one isolated process.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// Mounts main made (or counted) for it, as (root, target), parents first.
    mounts: Vec<(PathBuf, PathBuf)>,
    /// Its cgroup directory, and the directory above which nothing is removed.
    cgroup: Option<(PathBuf, PathBuf)>,
}

/// The mounts main made in its own mount namespace, and the isolation of its live
/// processes.
#[derive(Debug, Default)]
pub(crate) struct Isolations {
    /// What each language runner needs in a root directory, by its file.
    language_deps: HashMap<PathBuf, Vec<PathBuf>>,
    /// How many live processes use each mount main made, by (root, target).
    mount_users: HashMap<(PathBuf, PathBuf), usize>,
    /// What is held for each live isolated process.
    held: HashMap<Pid, Held>,
}

/// What a process start asks for, besides its `isolation` object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StartContext<'a> {
    /// The application's name, for messages.
    pub(crate) name: &'a str,
    /// The file the process executes: a language runner's is looked up in the
    /// discovered dependencies.
    pub(crate) executable: &'a Path,
    /// Who the process runs as, when main is root.
    pub(crate) credentials: Option<&'a Credentials>,
    /// Whether main runs as root.
    pub(crate) privileged: bool,
}

impl Isolations {
    /// Takes what discovery found each runner needs.
    pub(crate) fn set_language_deps(&mut self, language_deps: HashMap<PathBuf, Vec<PathBuf>>) {
        self.language_deps = language_deps;
    }

    /// Reads the `isolation` JSON of a process start and resolves it; `None` when it
    /// asks for nothing. Mounts main makes for the process are made here.
    pub(crate) fn resolve(
        &mut self,
        isolation_json: &str,
        start: StartContext<'_>,
    ) -> Result<Option<Resolved>, RuntimeError> {
        let value: serde_json::Value = serde_json::from_str(isolation_json)
            .map_err(|error| RuntimeError::Isolation(format!("bad isolation object: {error}")))?;
        let configured =
            parse_isolation(&value).map_err(|error| RuntimeError::Isolation(error.detail))?;
        let asked = configured.namespaces != unit_conf::Namespaces::default()
            || configured.rootfs.is_some()
            || configured.cgroup.is_some()
            || !configured.new_privs
            || !configured.uidmap.is_empty()
            || !configured.gidmap.is_empty();
        if !asked {
            return Ok(None);
        }
        let mut namespaces = Namespaces {
            user: configured.namespaces.credential,
            pid: configured.namespaces.pid,
            network: configured.namespaces.network,
            mount: configured.namespaces.mount,
            uts: configured.namespaces.uname,
            cgroup: configured.namespaces.cgroup,
        };
        let groups = match start.credentials {
            Some(credentials) => credentials.groups()?,
            None => Vec::new(),
        };
        let (uid_map, gid_map) = id_maps(&configured, namespaces.user, start, &groups)?;
        let root = match &configured.rootfs {
            None => None,
            Some(rootfs) => {
                let path = rootfs_path(rootfs)?;
                if !start.privileged && !namespaces.user {
                    return Err(RuntimeError::Isolation(
                        "The \"rootfs\" field requires privileges".to_owned(),
                    ));
                }
                if namespaces.pid && configured.automount.procfs {
                    namespaces.mount = true;
                }
                let runs_as_root = match start.credentials {
                    Some(credentials) => credentials.uid.is_root(),
                    None => geteuid().is_root(),
                };
                if runs_as_root && !namespaces.mount {
                    tracing::warn!(
                        "setting user \"root\" with \"rootfs\" is unsafe without \"mount\" namespace isolation"
                    );
                }
                let language_deps = if configured.automount.language_deps {
                    self.language_deps
                        .get(start.executable)
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                } else {
                    &[]
                };
                Some(RootDirectory {
                    mounts: root_mounts(language_deps, configured.automount),
                    path,
                })
            }
        };
        let mut held = Held::default();
        if let Some(root) = &root
            && !namespaces.mount
        {
            self.mount_for(root, &mut held)?;
        }
        let cgroup = match &configured.cgroup {
            None => None,
            Some(path) => match cgroup_directory(path) {
                Ok((directory, base)) => {
                    held.cgroup = Some((directory.clone(), base));
                    Some(directory)
                }
                Err(error) => {
                    self.release_held(held);
                    return Err(RuntimeError::Isolation(format!(
                        "cgroup: failed to add process \"{}\" application to {path}: {error}",
                        start.name
                    )));
                }
            },
        };
        Ok(Some(Resolved {
            isolation: Isolation {
                namespaces,
                uid_map,
                gid_map,
                setgroups_allowed: start.privileged,
                groups,
                root,
                cgroup,
                no_new_privs: !configured.new_privs,
            },
            held,
        }))
    }

    /// Keeps what was held for a process that started as `pid`.
    pub(crate) fn hold(&mut self, pid: Pid, held: Held) {
        self.held.insert(pid, held);
    }

    /// A process is gone: its mounts lose a user, and its cgroup directories go if
    /// they are empty.
    pub(crate) fn release(&mut self, pid: Pid) {
        if let Some(held) = self.held.remove(&pid) {
            self.release_held(held);
        }
    }

    /// Lets go of what was held for a process that is gone or never started.
    pub(crate) fn release_held(&mut self, held: Held) {
        for (root, target) in held.mounts.into_iter().rev() {
            self.drop_mount_user(root, target);
        }
        if let Some((directory, base)) = held.cgroup {
            remove_cgroup(&directory, &base);
        }
    }

    /// Makes (or counts one more user of) each mount of `root` in main's mount
    /// namespace; on failure what this call made is undone.
    fn mount_for(&mut self, root: &RootDirectory, held: &mut Held) -> Result<(), RuntimeError> {
        for mount in &root.mounts {
            let key = (root.path.clone(), mount.target.clone());
            let users = self.mount_users.get(&key).copied().unwrap_or(0);
            if users == 0
                && let Err(error) = mount_inside(&root.path, mount)
            {
                self.release_held(std::mem::take(held));
                return Err(error.into());
            }
            self.mount_users.insert(key.clone(), users + 1);
            held.mounts.push(key);
        }
        Ok(())
    }

    fn drop_mount_user(&mut self, root: PathBuf, target: PathBuf) {
        let key = (root, target);
        let Some(users) = self.mount_users.get_mut(&key) else {
            return;
        };
        *users -= 1;
        if *users > 0 {
            return;
        }
        self.mount_users.remove(&key);
        let (root, target) = key;
        if let Err(error) = unmount_inside(&root, &target) {
            tracing::warn!("{error}");
        }
    }
}

impl Drop for Isolations {
    /// Main is exiting: what it still has mounted goes, innermost first.
    fn drop(&mut self) {
        let mut mounts: Vec<(PathBuf, PathBuf)> =
            self.mount_users.drain().map(|(key, _)| key).collect();
        mounts.sort_by_key(|(_, target)| std::cmp::Reverse(target.components().count()));
        for (root, target) in mounts {
            if let Err(error) = unmount_inside(&root, &target) {
                tracing::warn!("{error}");
            }
        }
    }
}

/// The id maps of a process, checked as Unit checks them: Unit's default maps the
/// user and group it runs as to themselves; without a user namespace there may be
/// none.
fn id_maps(
    configured: &unit_conf::Isolation,
    user_namespace: bool,
    start: StartContext<'_>,
    groups: &[Gid],
) -> Result<(Vec<IdMap>, Vec<IdMap>), RuntimeError> {
    let refuse = |message: String| Err(RuntimeError::Isolation(message));
    if !user_namespace {
        for (name, map) in [
            ("uidmap", &configured.uidmap),
            ("gidmap", &configured.gidmap),
        ] {
            if !map.is_empty() {
                return refuse(format!(
                    "\"{name}\" is set but \"isolation.namespaces.credential\" is false or unset"
                ));
            }
        }
        return Ok((Vec::new(), Vec::new()));
    }
    let contains = |map: &[IdMapping], id: u32| {
        map.iter().any(|entry| {
            let id = i64::from(id);
            id >= entry.container && id < entry.container.saturating_add(entry.size)
        })
    };
    let Some(credentials) = start.credentials else {
        // Unprivileged: the kernel lets a process map only itself.
        let (uid, gid) = (geteuid(), getegid());
        if configured.uidmap.len() > 1 {
            return refuse(format!(
                "\"uidmap\" field has {} entries but unprivileged unit has a maximum of 1 map.",
                configured.uidmap.len()
            ));
        }
        if let Some(entry) = configured.uidmap.first()
            && entry.host != i64::from(uid.as_raw())
        {
            return refuse(format!(
                "\"uidmap\" field has an entry for host uid {} but unprivileged unit can only map itself (uid {uid}) into child namespaces.",
                entry.host
            ));
        }
        if configured.gidmap.len() > 1 {
            return refuse(format!(
                "\"gidmap\" field has {} entries but unprivileged unit has a maximum of 1 map.",
                configured.gidmap.len()
            ));
        }
        if let Some(entry) = configured.gidmap.first() {
            if entry.host != i64::from(gid.as_raw()) {
                return refuse(format!(
                    "\"gidmap\" field has an entry for host gid {} but unprivileged unit can only map itself (gid {gid}) into child namespaces.",
                    entry.host
                ));
            }
            if entry.size > 1 {
                return refuse(format!(
                    "\"gidmap\" field has an entry with \"size\": {}, but for unprivileged unit it must be 1.",
                    entry.size
                ));
            }
            if entry.container != i64::from(gid.as_raw()) {
                return refuse(format!(
                    "\"gidmap\" field has no \"container\" entry for gid {gid}."
                ));
            }
        }
        return Ok((
            own_map(&configured.uidmap, uid.as_raw(), uid.as_raw()),
            own_map(&configured.gidmap, gid.as_raw(), gid.as_raw()),
        ));
    };
    let Credentials { user, uid, gid } = credentials;
    if !configured.uidmap.is_empty() && !contains(&configured.uidmap, uid.as_raw()) {
        return refuse(format!(
            "\"uidmap\" field has no \"container\" entry for user \"{user}\" (uid {uid})"
        ));
    }
    let supplementary = groups.iter().filter(|group| **group != *gid).count();
    if configured.gidmap.is_empty() {
        if supplementary > 0 {
            return refuse(format!(
                "\"gidmap\" field has no entries but user \"{user}\" has {} suplementary group{}.",
                groups.len(),
                if groups.len() > 1 { "s" } else { "" }
            ));
        }
    } else {
        if !contains(&configured.gidmap, gid.as_raw()) {
            return refuse(format!(
                "\"gidmap\" field has no \"container\" entry for gid {gid}."
            ));
        }
        let mapped = groups
            .iter()
            .filter(|group| contains(&configured.gidmap, group.as_raw()))
            .count();
        if mapped < groups.len() {
            return refuse(format!(
                "\"gidmap\" field has missing suplementary gid mappings (found {mapped} out of {}).",
                groups.len()
            ));
        }
    }
    Ok((
        own_map(&configured.uidmap, uid.as_raw(), uid.as_raw()),
        own_map(&configured.gidmap, gid.as_raw(), gid.as_raw()),
    ))
}

/// The configured map, or one line mapping `inside` to `outside`.
fn own_map(configured: &[IdMapping], inside: u32, outside: u32) -> Vec<IdMap> {
    if configured.is_empty() {
        return vec![IdMap {
            inside: i64::from(inside),
            outside: i64::from(outside),
            count: 1,
        }];
    }
    configured
        .iter()
        .map(|entry| IdMap {
            inside: entry.container,
            outside: entry.host,
            count: entry.size,
        })
        .collect()
}

/// `rootfs` as Unit takes it: an absolute path other than `/`, without a trailing `/`.
fn rootfs_path(rootfs: &str) -> Result<PathBuf, RuntimeError> {
    if rootfs.len() <= 1 || !rootfs.starts_with('/') {
        return Err(RuntimeError::Isolation(format!(
            "rootfs requires an absolute path other than \"/\" but given \"{rootfs}\""
        )));
    }
    Ok(PathBuf::from(rootfs.strip_suffix('/').unwrap_or(rootfs)))
}

/// What is mounted in a root directory: the runner's dependencies (each where it is
/// outside; a path inside a directory already bound is skipped), `/tmp` and `/proc`,
/// parents first.
fn root_mounts(language_deps: &[PathBuf], automount: unit_conf::Automount) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = Vec::new();
    let mut bound: Vec<&Path> = Vec::new();
    let mut deps: Vec<&PathBuf> = language_deps
        .iter()
        .filter(|path| path.is_absolute() && path.parent().is_some())
        .collect();
    deps.sort_by_key(|path| path.components().count());
    for path in deps {
        if bound.iter().any(|directory| path.starts_with(directory)) {
            continue;
        }
        // What has gone since discovery is left out, as Unit skips a missing host path.
        let Ok(metadata) = fs::metadata(path) else {
            continue;
        };
        if metadata.is_dir() {
            bound.push(path);
        }
        mounts.push(Mount {
            kind: MountKind::Bind {
                source: path.clone(),
            },
            target: path.clone(),
        });
    }
    if automount.tmpfs {
        mounts.push(Mount {
            kind: MountKind::Tmpfs,
            target: PathBuf::from("/tmp"),
        });
    }
    if automount.procfs {
        mounts.push(Mount {
            kind: MountKind::Proc,
            target: PathBuf::from("/proc"),
        });
    }
    // Parents before what lies inside them (a runner kept under /tmp goes inside the
    // tmpfs); the order among the others does not matter.
    mounts.sort_by(|first, second| first.target.cmp(&second.target));
    mounts
}

/// The directory of `path` in the cgroup v2 hierarchy, made if missing, and the
/// directory above which nothing is removed again: main's own cgroup for a relative
/// path, the hierarchy's root for an absolute one.
fn cgroup_directory(path: &str) -> Result<(PathBuf, PathBuf), String> {
    let root = cgroup2_root().ok_or("no cgroup2 file system is mounted")?;
    let base = if path.starts_with('/') {
        root
    } else {
        let own = own_cgroup().ok_or("main's cgroup v2 path is unknown")?;
        root.join(own.trim_start_matches('/'))
    };
    let directory = base.join(path.trim_start_matches('/'));
    fs::create_dir_all(&directory).map_err(|error| {
        format!(
            "mkdir(\"{}\") failed{}",
            directory.display(),
            unit_log::os_error_suffix(&error)
        )
    })?;
    Ok((directory, base))
}

/// Where the first cgroup v2 hierarchy is mounted, as Unit's build finds it.
fn cgroup2_root() -> Option<PathBuf> {
    let mountinfo = fs::read_to_string(MOUNTINFO).ok()?;
    mountinfo.lines().find_map(|line| {
        let (mount, filesystem) = line.split_once(" - ")?;
        if filesystem.split(' ').next() != Some("cgroup2") {
            return None;
        }
        mount
            .split(' ')
            .nth(4)
            .map(|point| PathBuf::from(unescape_mountinfo(point)))
    })
}

/// A mountinfo field with its octal escapes (`\040` for a space) decoded.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes.get(index + 1..index + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[index], escaped) {
            (b'\\', Some(byte)) => {
                decoded.push(byte);
                index += 4;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Main's own cgroup v2 path, from its `0::` line.
fn own_cgroup() -> Option<String> {
    let cgroups = fs::read_to_string(OWN_CGROUP).ok()?;
    cgroups
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::to_owned)
}

/// Removes `directory` and its parents up to (not including) `base`, stopping at the
/// first that still has processes or children.
fn remove_cgroup(directory: &Path, base: &Path) {
    let mut current = directory;
    while current != base && current.starts_with(base) {
        if fs::remove_dir(current).is_err() {
            return;
        }
        let Some(parent) = current.parent() else {
            return;
        };
        current = parent;
    }
}

#[cfg(test)]
mod tests {
    use nix::unistd::Uid;

    use super::*;

    fn context<'a>(credentials: Option<&'a Credentials>) -> StartContext<'a> {
        StartContext {
            name: "app",
            executable: Path::new("/usr/lib/unit/modules/python3.unit"),
            credentials,
            privileged: credentials.is_some(),
        }
    }

    fn resolve(
        isolation: &str,
        credentials: Option<&Credentials>,
    ) -> Result<Option<Isolation>, String> {
        let mut isolations = Isolations::default();
        isolations
            .resolve(isolation, context(credentials))
            .map(|resolved| resolved.map(|resolved| resolved.isolation))
            .map_err(|error| error.to_string())
    }

    fn nobody() -> Credentials {
        Credentials {
            user: "nobody".to_owned(),
            uid: Uid::from_raw(65534),
            gid: Gid::from_raw(65534),
        }
    }

    #[test]
    fn nothing_asked_is_no_isolation() {
        assert_eq!(resolve("{}", None), Ok(None));
        assert_eq!(
            resolve(r#"{"namespaces": {"pid": false}, "new_privs": true}"#, None),
            Ok(None)
        );
    }

    #[test]
    fn namespaces_and_privileges() {
        let isolation = resolve(
            r#"{"namespaces": {"pid": true, "uname": true, "network": true}, "new_privs": false}"#,
            None,
        );
        let Ok(Some(isolation)) = isolation else {
            panic!("{isolation:?}");
        };
        assert_eq!(
            isolation.namespaces,
            Namespaces {
                pid: true,
                uts: true,
                network: true,
                ..Namespaces::default()
            }
        );
        assert!(isolation.no_new_privs);
        assert!(isolation.root.is_none());
        assert!(isolation.uid_map.is_empty());
    }

    #[test]
    fn id_maps_default_to_the_user_and_are_checked() {
        let credentials = nobody();
        let Ok(Some(isolation)) = resolve(
            r#"{"namespaces": {"credential": true}}"#,
            Some(&credentials),
        ) else {
            panic!("a user namespace");
        };
        let own = IdMap {
            inside: 65534,
            outside: 65534,
            count: 1,
        };
        assert_eq!(isolation.uid_map, [own]);
        assert_eq!(isolation.gid_map, [own]);
        assert!(isolation.setgroups_allowed);
        let checked = |isolation: &str| {
            resolve(isolation, Some(&credentials))
                .map(|resolved| resolved.map(|isolation| isolation.uid_map))
        };
        assert_eq!(
            checked(
                r#"{"namespaces": {"credential": true}, "uidmap": [{"container": 0, "host": 1000, "size": 10}]}"#
            ),
            Err(
                r#""uidmap" field has no "container" entry for user "nobody" (uid 65534)"#
                    .to_owned()
            )
        );
        assert_eq!(
            checked(
                r#"{"namespaces": {"credential": true}, "gidmap": [{"container": 0, "host": 1000, "size": 10}]}"#
            ),
            Err(r#""gidmap" field has no "container" entry for gid 65534."#.to_owned())
        );
        assert_eq!(
            checked(r#"{"uidmap": [{"container": 0, "host": 0, "size": 1}]}"#),
            Err(
                r#""uidmap" is set but "isolation.namespaces.credential" is false or unset"#
                    .to_owned()
            )
        );
        assert_eq!(
            checked(
                r#"{"namespaces": {"credential": true}, "uidmap": [{"container": 65000, "host": 100000, "size": 1000}]}"#
            ),
            Ok(Some(vec![IdMap {
                inside: 65000,
                outside: 100000,
                count: 1000,
            }]))
        );
    }

    #[test]
    fn rootfs_is_checked_and_gets_its_mounts() {
        for rootfs in ["/", "", "relative"] {
            assert_eq!(
                resolve(
                    &format!(r#"{{"rootfs": "{rootfs}", "namespaces": {{"mount": true}}}}"#),
                    Some(&nobody())
                ),
                Err(format!(
                    r#"rootfs requires an absolute path other than "/" but given "{rootfs}""#
                ))
            );
        }
        if !geteuid().is_root() {
            assert_eq!(
                resolve(r#"{"rootfs": "/srv/root"}"#, None),
                Err(r#"The "rootfs" field requires privileges"#.to_owned())
            );
        }
        // In a mount namespace of its own the process mounts for itself.
        let Ok(Some(isolation)) = resolve(
            r#"{"rootfs": "/srv/root/", "namespaces": {"mount": true, "credential": true}}"#,
            Some(&nobody()),
        ) else {
            panic!("a root directory");
        };
        let root = isolation.root.expect("a root directory");
        assert_eq!(root.path, Path::new("/srv/root"));
        let targets: Vec<&Path> = root
            .mounts
            .iter()
            .map(|mount| mount.target.as_path())
            .collect();
        assert_eq!(targets, [Path::new("/proc"), Path::new("/tmp")]);
        // A PID namespace with /proc gets a mount namespace for it.
        let Ok(Some(isolation)) = resolve(
            r#"{"rootfs": "/srv/root", "namespaces": {"pid": true, "credential": true}}"#,
            Some(&nobody()),
        ) else {
            panic!("a root directory");
        };
        assert!(isolation.namespaces.mount);
    }

    #[test]
    fn language_deps_are_bound_once_parents_first() {
        let dir = std::env::temp_dir().join(format!("unit-deps-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("lib/python3/lib-dynload")).expect("directories");
        fs::write(dir.join("lib/python3/lib-dynload/x.so"), "").expect("a file");
        fs::write(dir.join("runner"), "").expect("a file");
        let deps = [
            dir.join("runner"),
            dir.join("lib/python3/lib-dynload/x.so"),
            dir.join("lib/python3"),
            dir.join("missing"),
        ];
        let mounts = root_mounts(
            &deps,
            unit_conf::Automount {
                language_deps: true,
                tmpfs: true,
                procfs: false,
            },
        );
        let targets: Vec<PathBuf> = mounts.iter().map(|mount| mount.target.clone()).collect();
        let mut expected = vec![
            dir.join("lib/python3"),
            dir.join("runner"),
            PathBuf::from("/tmp"),
        ];
        expected.sort();
        assert_eq!(targets, expected);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn cgroup_paths_are_read_from_proc() {
        assert_eq!(unescape_mountinfo(r"/sys/fs/cgroup"), "/sys/fs/cgroup");
        assert_eq!(unescape_mountinfo(r"/mnt/a\040b"), "/mnt/a b");
        assert_eq!(unescape_mountinfo(r"/x\"), "/x\\");
    }
}
