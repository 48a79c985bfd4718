//! Isolating an application process as Unit's `isolation` asks: namespaces of its own,
//! a root directory with what it needs mounted inside, a cgroup, and no new privileges.
//!
//! Main resolves an application's configuration into an [`Isolation`] (which ids map
//! to which, what is mounted where, which cgroup directory to join) and starts the
//! process with it. Such a process is not started through the `exec` role but cloned
//! from main straight into its namespaces (`crate::isolated`): only a process outside a
//! new user namespace can write its id maps, and only the process inside it keeps the
//! capabilities to mount and change its root until it executes the program.
//!
//! The helpers here serve both sides. A process with a mount namespace of its own
//! mounts inside its root directory itself and then pivots into it, so nothing it
//! mounts is seen outside; one that shares main's mount namespace is only chrooted, and
//! main mounts for it beforehand ([`mount_inside`]) and unmounts once the last process
//! using a mount is gone ([`unmount_inside`]), as Unit's main does.
//!
//! A target inside a root directory is reached one component at a time without
//! following symbolic links, and mounted on through the descriptor that was opened, so
//! a link an application left in its root directory cannot send a mount (made as root,
//! perhaps in main's mount namespace) anywhere else.
//!
//! What it does not do: read the configuration (main does) or decide when to mount and
//! unmount (main counts which processes use what).

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag, fstat, mkdirat};
use nix::unistd::{Gid, Pid, chdir, chroot, pivot_root};

use crate::error::ProcessError;

/// The options of the tmpfs mounted on a root directory's `/tmp`, as Unit mounts it.
const TMPFS_OPTIONS: &str = "size=1m,mode=1777";

/// How an application process is isolated, as main resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Isolation {
    /// The namespaces it gets of its own.
    pub namespaces: Namespaces,
    /// The lines main writes to its `uid_map` when it has a user namespace.
    pub uid_map: Vec<IdMap>,
    /// The lines of its `gid_map`.
    pub gid_map: Vec<IdMap>,
    /// Whether its user namespace may call `setgroups` (`allow`), which only a
    /// privileged main grants, as Unit does.
    pub setgroups_allowed: bool,
    /// The supplementary groups of the user it runs as, looked up by main: inside its
    /// root directory there may be no group database.
    pub groups: Vec<Gid>,
    /// The root directory it is changed into.
    pub root: Option<RootDirectory>,
    /// The cgroup v2 directory main puts it in before it runs (made by main).
    pub cgroup: Option<PathBuf>,
    /// Sets `PR_SET_NO_NEW_PRIVS` before the program is executed (`new_privs: false`).
    pub no_new_privs: bool,
}

/// The namespaces a process gets of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Namespaces {
    /// A user namespace (Unit's `credential`).
    pub user: bool,
    /// A PID namespace: the program is its process 1.
    pub pid: bool,
    /// A network namespace.
    pub network: bool,
    /// A mount namespace.
    pub mount: bool,
    /// A UTS namespace (Unit's `uname`).
    pub uts: bool,
    /// A cgroup namespace.
    pub cgroup: bool,
}

/// One line of a `uid_map` or `gid_map`: `count` ids from `inside` are `outside` and up
/// in main's user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    /// The first id inside the namespace.
    pub inside: i64,
    /// The first id outside.
    pub outside: i64,
    /// How many.
    pub count: i64,
}

/// A process's root directory and what is mounted inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootDirectory {
    /// The directory, an absolute path other than `/`.
    pub path: PathBuf,
    /// What is mounted inside it, parents before what lies inside them.
    pub mounts: Vec<Mount>,
}

/// One mount inside a root directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// What is mounted.
    pub kind: MountKind,
    /// Where, as an absolute path inside the root directory (`/usr/lib/python3.11`).
    pub target: PathBuf,
}

/// What a [`Mount`] mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A directory or file of main's file system, at the same path inside.
    Bind {
        /// The directory or file.
        source: PathBuf,
    },
    /// A small tmpfs (Unit's `automount.tmpfs`).
    Tmpfs,
    /// A proc file system (Unit's `automount.procfs`).
    Proc,
}

// === impl Namespaces ===

impl Namespaces {
    /// Whether any namespace is asked for.
    pub fn any(self) -> bool {
        self.user || self.pid || self.network || self.mount || self.uts || self.cgroup
    }

    /// The `clone` flags that create them.
    pub(crate) fn clone_flags(self) -> CloneFlags {
        let mut flags = CloneFlags::empty();
        for (wanted, flag) in [
            (self.user, CloneFlags::CLONE_NEWUSER),
            (self.pid, CloneFlags::CLONE_NEWPID),
            (self.network, CloneFlags::CLONE_NEWNET),
            (self.mount, CloneFlags::CLONE_NEWNS),
            (self.uts, CloneFlags::CLONE_NEWUTS),
            (self.cgroup, CloneFlags::CLONE_NEWCGROUP),
        ] {
            if wanted {
                flags |= flag;
            }
        }
        flags
    }
}

// === impl Mount ===

impl Mount {
    /// The path of its target seen from outside the root directory, for messages.
    pub fn target_in(&self, root: &Path) -> PathBuf {
        inside(root, &self.target)
    }
}

/// Mounts `mount` inside `root`, making its target (directories, or an empty file for
/// a file) where it is missing.
pub fn mount_inside(root: &Path, entry: &Mount) -> Result<(), ProcessError> {
    let shown_target = entry.target_in(root);
    let (source, fstype, flags, data) = match &entry.kind {
        MountKind::Bind { source } => (
            source.as_path(),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        ),
        MountKind::Tmpfs => (
            Path::new("tmpfs"),
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME,
            Some(TMPFS_OPTIONS),
        ),
        MountKind::Proc => (
            Path::new("proc"),
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME,
            None,
        ),
    };
    let create = match &entry.kind {
        // A file is bound onto a file; what is not a directory here fails at the mount.
        MountKind::Bind { source } if !source.is_dir() => Create::File,
        _ => Create::Directory,
    };
    let target = open_inside(root, &entry.target, Some(create))?;
    mount(
        Some(source),
        descriptor_path(&target).as_str(),
        fstype,
        flags,
        data,
    )
    .map_err(|errno| ProcessError::Isolation {
        operation: format!(
            "mount(\"{}\", \"{}\", \"{}\")",
            source.display(),
            shown_target.display(),
            fstype.unwrap_or("bind")
        ),
        errno,
    })
}

/// Unmounts what is mounted on `target` inside `root`, lazily: a process that still
/// uses it keeps it until it lets go.
pub fn unmount_inside(root: &Path, target: &Path) -> Result<(), ProcessError> {
    let shown_target = inside(root, target);
    let opened = open_inside(root, target, None)?;
    umount2(descriptor_path(&opened).as_str(), MntFlags::MNT_DETACH).map_err(|errno| {
        ProcessError::Isolation {
            operation: format!("umount2(\"{}\")", shown_target.display()),
            errno,
        }
    })
}

/// In the isolated process, before its credentials change: mounts what its root
/// directory needs and moves into it, with `pivot_root` in a mount namespace of its
/// own (the old root then detached, so nothing outside the root directory stays
/// reachable) and with `chroot` in main's, where main has mounted for it.
pub(crate) fn enter_root(
    root: &RootDirectory,
    own_mount_namespace: bool,
) -> Result<(), ProcessError> {
    let path = root.path.as_path();
    let failed = |operation: String| move |errno| ProcessError::Isolation { operation, errno };
    if !own_mount_namespace {
        chroot(path).map_err(failed(format!("chroot(\"{}\")", path.display())))?;
        return chdir("/").map_err(failed("chdir(\"/\")".to_owned()));
    }
    // Mounts made from here on stay in this namespace, whatever the host shares.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(failed("mount(\"/\", MS_SLAVE|MS_REC)".to_owned()))?;
    for each in &root.mounts {
        mount_inside(path, each)?;
    }
    // pivot_root wants the new root to be a mount point; a bind of itself is one, and
    // with MS_REC it carries what was just mounted inside.
    mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(failed(format!(
        "mount(\"{}\", MS_BIND|MS_REC)",
        path.display()
    )))?;
    chdir(path).map_err(failed(format!("chdir(\"{}\")", path.display())))?;
    // With both arguments ".", the old root ends up mounted on top of the new one,
    // where it is detached without a directory to put it in.
    pivot_root(".", ".").map_err(failed(format!("pivot_root(\"{}\")", path.display())))?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(failed("mount(\".\", MS_SLAVE|MS_REC)".to_owned()))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(failed("umount2(\".\")".to_owned()))?;
    chdir("/").map_err(failed("chdir(\"/\")".to_owned()))
}

/// What [`open_inside`] makes when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Create {
    Directory,
    File,
}

/// Opens `target` (an absolute path inside `root`) without following a symbolic link
/// in any component under `root`, making missing directories and, for
/// `Create::File`, an empty last component.
fn open_inside(
    root: &Path,
    target: &Path,
    create: Option<Create>,
) -> Result<OwnedFd, ProcessError> {
    let failed = |operation: String| move |errno| ProcessError::Isolation { operation, errno };
    let mut names: Vec<&OsStr> = Vec::new();
    for component in target.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => names.push(name),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ProcessError::Isolation {
                    operation: format!("open(\"{}\")", inside(root, target).display()),
                    errno: Errno::EINVAL,
                });
            }
        }
    }
    let path_flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut current = open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(failed(format!("open(\"{}\")", root.display())))?;
    let mut reached = root.to_path_buf();
    for (index, name) in names.iter().enumerate() {
        reached.push(name);
        let shown = || format!("open(\"{}\")", reached.display());
        let last = index + 1 == names.len();
        if last && create == Some(Create::File) {
            let file = match openat(&current, *name, path_flags, Mode::empty()) {
                Err(Errno::ENOENT) => openat(
                    &current,
                    *name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o444),
                ),
                opened => opened,
            }
            .map_err(failed(shown()))?;
            // O_PATH with O_NOFOLLOW opens a symbolic link itself; only a file will do.
            let stat = fstat(&file).map_err(failed(shown()))?;
            if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
                return Err(ProcessError::Isolation {
                    operation: shown(),
                    errno: Errno::EEXIST,
                });
            }
            return Ok(file);
        }
        if create.is_some() {
            match mkdirat(&current, *name, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(errno) => {
                    return Err(ProcessError::Isolation {
                        operation: format!("mkdir(\"{}\")", reached.display()),
                        errno,
                    });
                }
            }
        }
        let flags = if last && create.is_none() {
            path_flags
        } else {
            path_flags | OFlag::O_DIRECTORY
        };
        current = openat(&current, *name, flags, Mode::empty()).map_err(failed(shown()))?;
    }
    Ok(current)
}

/// The path through which the kernel reaches what `fd` has open.
fn descriptor_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// `target` (absolute inside the root) as seen from outside `root`.
fn inside(root: &Path, target: &Path) -> PathBuf {
    root.join(target.strip_prefix("/").unwrap_or(target))
}

/// Writes the id maps of `pid`'s user namespace, from main: `uid_map`, then
/// `setgroups` (`allow` or `deny`, before the group map, as the kernel requires), then
/// `gid_map`.
pub(crate) fn write_id_maps(pid: Pid, isolation: &Isolation) -> Result<(), ProcessError> {
    write_proc_file(pid, "uid_map", &map_text(&isolation.uid_map))?;
    let setgroups = if isolation.setgroups_allowed {
        "allow"
    } else {
        "deny"
    };
    // A kernel without the file lets any process write its group map.
    match write_proc_file(pid, "setgroups", setgroups) {
        Err(ProcessError::Isolation {
            errno: Errno::ENOENT,
            ..
        }) => {}
        other => other?,
    }
    write_proc_file(pid, "gid_map", &map_text(&isolation.gid_map))
}

/// The lines of an id map, as the kernel reads them.
fn map_text(map: &[IdMap]) -> String {
    map.iter()
        .map(|line| format!("{} {} {}\n", line.inside, line.outside, line.count))
        .collect()
}

/// Writes `text` to `/proc/<pid>/<name>` in one write, as the kernel takes a map.
fn write_proc_file(pid: Pid, name: &str, text: &str) -> Result<(), ProcessError> {
    let path = format!("/proc/{pid}/{name}");
    write_whole(Path::new(&path), text)
}

/// Puts `pid` in the cgroup v2 directory `cgroup`.
pub(crate) fn join_cgroup(cgroup: &Path, pid: Pid) -> Result<(), ProcessError> {
    write_whole(&cgroup.join("cgroup.procs"), &pid.to_string())
}

/// Writes `text` to the existing file `path` in one `write`.
fn write_whole(path: &Path, text: &str) -> Result<(), ProcessError> {
    let failed = |errno| ProcessError::Isolation {
        operation: format!("write(\"{}\")", path.display()),
        errno,
    };
    let file = open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(failed)?;
    let written = nix::unistd::write(&file, text.as_bytes()).map_err(failed)?;
    if written != text.len() {
        return Err(failed(Errno::EIO));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_become_clone_flags() {
        assert!(!Namespaces::default().any());
        assert_eq!(Namespaces::default().clone_flags(), CloneFlags::empty());
        let all = Namespaces {
            user: true,
            pid: true,
            network: true,
            mount: true,
            uts: true,
            cgroup: true,
        };
        assert!(all.any());
        assert_eq!(
            all.clone_flags(),
            CloneFlags::CLONE_NEWUSER
                | CloneFlags::CLONE_NEWPID
                | CloneFlags::CLONE_NEWNET
                | CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWUTS
                | CloneFlags::CLONE_NEWCGROUP
        );
    }

    #[test]
    fn maps_are_written_as_lines() {
        let map = [
            IdMap {
                inside: 0,
                outside: 1000,
                count: 1,
            },
            IdMap {
                inside: 1,
                outside: 100000,
                count: 65536,
            },
        ];
        assert_eq!(map_text(&map), "0 1000 1\n1 100000 65536\n");
    }

    #[test]
    fn targets_are_made_without_following_links() {
        let dir = std::env::temp_dir().join(format!("unit-isolation-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("outside")).expect("a directory");
        let root = dir.join("root");
        std::fs::create_dir_all(&root).expect("the root");
        std::os::unix::fs::symlink(dir.join("outside"), root.join("link")).expect("a link");
        // Directories and an empty file are made inside the root.
        open_inside(
            &root,
            Path::new("/usr/lib/python3"),
            Some(Create::Directory),
        )
        .expect("a directory target");
        assert!(root.join("usr/lib/python3").is_dir());
        open_inside(&root, Path::new("/lib64/ld.so"), Some(Create::File)).expect("a file target");
        assert!(root.join("lib64/ld.so").is_file());
        // A link on the way is refused, and nothing is made where it points.
        let refused = open_inside(&root, Path::new("/link/lib"), Some(Create::Directory));
        assert!(
            matches!(refused, Err(ProcessError::Isolation { .. })),
            "{refused:?}"
        );
        assert!(!dir.join("outside/lib").exists());
        let refused = open_inside(&root, Path::new("/link"), Some(Create::File));
        assert!(
            matches!(refused, Err(ProcessError::Isolation { .. })),
            "{refused:?}"
        );
        let refused = open_inside(&root, Path::new("/../outside"), Some(Create::Directory));
        assert!(
            matches!(refused, Err(ProcessError::Isolation { .. })),
            "{refused:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
