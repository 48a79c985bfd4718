//! The settings `unitd` runs with, their compiled defaults, and the version.
//!
//! The defaults hang off [`PREFIX`], fixed when the crate is built (`UNITD_PREFIX`),
//! the way `./configure --prefix` fixes them for Unit. Nothing here touches the file
//! system.

use std::path::{Path, PathBuf};

use crate::address::ControlAddress;

/// The unitd version, from the workspace `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The installation prefix the default paths start with: `UNITD_PREFIX` at build time,
/// or `/usr/local`.
pub const PREFIX: &str = match option_env!("UNITD_PREFIX") {
    Some(prefix) => prefix,
    None => "/usr/local",
};

/// The version as Unit's state `version` file writes it:
/// `major * 10000 + minor * 100 + patch` (13600 for 1.36.0).
pub const fn version_number() -> u32 {
    let bytes = VERSION.as_bytes();
    // Major, minor and patch; anything after the patch number (such as `-rc1`) is ignored.
    let mut parts = [0_u32; 3];
    let mut part_idx = 0;
    let mut byte_idx = 0;
    while byte_idx < bytes.len() && part_idx < parts.len() {
        let byte = bytes[byte_idx];
        if byte.is_ascii_digit() {
            parts[part_idx] = parts[part_idx] * 10 + (byte - b'0') as u32;
        } else if byte == b'.' {
            part_idx += 1;
        } else {
            break;
        }
        byte_idx += 1;
    }
    parts[0] * 10000 + parts[1] * 100 + parts[2]
}

/// Everything the command line decides. [`Settings::default`] holds the compiled defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `--control`: the control API socket.
    /// Default `unix:$PREFIX/var/run/unit/control.unit.sock`.
    pub control: ControlAddress,
    /// `--control-mode`: permission bits of a unix control socket. Default `0o600`.
    pub control_mode: u32,
    /// `--control-user`: owner of a unix control socket; `None` leaves it to the user
    /// running unitd.
    pub control_user: Option<String>,
    /// `--control-group`: group of a unix control socket; `None` leaves it unchanged.
    pub control_group: Option<String>,
    /// `--pid`: the pid file. Default `$PREFIX/var/run/unit/unit.pid`.
    pub pid: PathBuf,
    /// `--log`: the daemon log file. Default `$PREFIX/var/log/unit/unit.log`.
    pub log: PathBuf,
    /// `--modulesdir`: where language modules are looked for.
    /// Default `$PREFIX/lib/unit/modules`.
    pub modulesdir: PathBuf,
    /// `--statedir`: the state directory. Default `$PREFIX/var/lib/unit`.
    pub statedir: PathBuf,
    /// `--tmpdir`: where large request bodies go. Default `/tmp`.
    pub tmpdir: PathBuf,
    /// `--user`: the user the controller, router and applications run as. Default `nobody`.
    pub user: String,
    /// `--group`: their group; `None` means the primary group of [`Settings::user`].
    pub group: Option<String>,
    /// `--no-daemon`: stay in the foreground.
    pub no_daemon: bool,
    /// `--config`: a JSON configuration to load at start when the state directory holds
    /// no `conf.json`. Not a Unit option.
    pub config: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Settings {
        let prefix = Path::new(PREFIX);
        Settings {
            control: ControlAddress::Unix(prefix.join("var/run/unit/control.unit.sock")),
            control_mode: DEFAULT_CONTROL_MODE,
            control_user: None,
            control_group: None,
            pid: prefix.join("var/run/unit/unit.pid"),
            log: prefix.join("var/log/unit/unit.log"),
            modulesdir: prefix.join("lib/unit/modules"),
            statedir: prefix.join("var/lib/unit"),
            tmpdir: PathBuf::from("/tmp"),
            user: String::from("nobody"),
            group: None,
            no_daemon: false,
            config: None,
        }
    }
}

/// The control socket mode used when `--control-mode` is absent, zero or unreadable.
pub(crate) const DEFAULT_CONTROL_MODE: u32 = 0o600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_number_matches_version() {
        assert_eq!(VERSION, "1.36.0");
        assert_eq!(version_number(), 13600);
    }

    #[test]
    fn defaults_hang_off_the_prefix() {
        let settings = Settings::default();
        let prefix = Path::new(PREFIX);
        assert_eq!(
            settings.control,
            ControlAddress::Unix(prefix.join("var/run/unit/control.unit.sock"))
        );
        assert_eq!(settings.control_mode, 0o600);
        assert_eq!(settings.pid, prefix.join("var/run/unit/unit.pid"));
        assert_eq!(settings.log, prefix.join("var/log/unit/unit.log"));
        assert_eq!(settings.modulesdir, prefix.join("lib/unit/modules"));
        assert_eq!(settings.statedir, prefix.join("var/lib/unit"));
        assert_eq!(settings.tmpdir, Path::new("/tmp"));
        assert_eq!(settings.user, "nobody");
        assert_eq!(settings.group, None);
        assert!(!settings.no_daemon);
        assert_eq!(settings.config, None);
    }
}
