//! The user and group that children run as, and dropping to them.

use std::ffi::CString;

use nix::unistd::{
    Gid, Group, Uid, User, geteuid, getgrouplist, initgroups, setgid, setgroups, setuid,
};

use crate::error::ProcessError;

/// A resolved user and group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The user id.
    pub uid: Uid,
    /// The group id.
    pub gid: Gid,
}

impl Credentials {
    /// Looks up `user`, and `group` (the user's primary group when `None`).
    pub fn resolve(user: &str, group: Option<&str>) -> Result<Credentials, ProcessError> {
        if user.contains('\0') {
            return Err(ProcessError::InvalidName(user.to_owned()));
        }
        let passwd = User::from_name(user)
            .map_err(|source| ProcessError::Lookup {
                name: user.to_owned(),
                source,
            })?
            .ok_or_else(|| ProcessError::UserNotFound(user.to_owned()))?;
        let gid = match group {
            None => passwd.gid,
            Some(group) => {
                if group.contains('\0') {
                    return Err(ProcessError::InvalidName(group.to_owned()));
                }
                Group::from_name(group)
                    .map_err(|source| ProcessError::Lookup {
                        name: group.to_owned(),
                        source,
                    })?
                    .ok_or_else(|| ProcessError::GroupNotFound(group.to_owned()))?
                    .gid
            }
        };
        Ok(Credentials {
            user: user.to_owned(),
            uid: passwd.uid,
            gid,
        })
    }

    /// The name of the primary group of `user`, for help texts; `None` if unknown.
    pub fn primary_group_name(user: &str) -> Option<String> {
        let passwd = User::from_name(user).ok()??;
        Some(Group::from_gid(passwd.gid).ok()??.name)
    }

    /// Encodes for a child's environment: `uid:gid:user`.
    pub fn to_env(&self) -> String {
        format!("{}:{}:{}", self.uid, self.gid, self.user)
    }

    /// Decodes what [`Credentials::to_env`] wrote.
    pub fn from_env(text: &str) -> Option<Credentials> {
        let mut parts = text.splitn(3, ':');
        let uid = parts.next()?.parse().ok()?;
        let gid = parts.next()?.parse().ok()?;
        let user = parts.next()?.to_owned();
        Some(Credentials {
            user,
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(gid),
        })
    }

    /// The groups of this user: its group and the supplementary groups the group
    /// database gives it.
    pub fn groups(&self) -> Result<Vec<Gid>, ProcessError> {
        let user = CString::new(self.user.as_str())
            .map_err(|_| ProcessError::InvalidName(self.user.clone()))?;
        getgrouplist(&user, self.gid).map_err(|source| ProcessError::Lookup {
            name: self.user.clone(),
            source,
        })
    }

    /// Becomes this user with exactly `groups` (when given) and this group, whatever
    /// the current user: an isolated process does, inside its user namespace or
    /// inside a root directory without a group database.
    ///
    /// Outside a user namespace it checks that root cannot be regained. Inside one it
    /// cannot: a process whose uid was never the namespace's root keeps its
    /// capabilities there across setuid, until it executes its program, which takes
    /// them (a user other than root, no file capabilities), and which is what runs
    /// the application's code.
    pub(crate) fn apply(
        &self,
        groups: &[Gid],
        in_user_namespace: bool,
    ) -> Result<(), ProcessError> {
        let failed =
            |operation: String| move |source| ProcessError::Credentials { operation, source };
        let groups = if groups.is_empty() {
            std::slice::from_ref(&self.gid)
        } else {
            groups
        };
        setgroups(groups).map_err(failed(format!("setgroups({groups:?})")))?;
        self.switch_ids(!in_user_namespace)
    }

    /// Becomes this user and group if running as root (supplementary groups from the
    /// user database, then the group, then the user), and checks root cannot be regained.
    /// Does nothing when not root: an unprivileged unitd cannot switch users.
    pub fn drop_privileges(&self) -> Result<(), ProcessError> {
        if !geteuid().is_root() {
            return Ok(());
        }
        let failed =
            |operation: String| move |source| ProcessError::Credentials { operation, source };
        let user = CString::new(self.user.as_str())
            .map_err(|_| ProcessError::InvalidName(self.user.clone()))?;
        if initgroups(&user, self.gid).is_err() {
            setgroups(&[self.gid]).map_err(failed(format!("setgroups({})", self.gid)))?;
        }
        self.switch_ids(true)
    }

    /// The group, then the user, and (with `check_regain`) the check that root cannot
    /// be regained.
    fn switch_ids(&self, check_regain: bool) -> Result<(), ProcessError> {
        let failed =
            |operation: String| move |source| ProcessError::Credentials { operation, source };
        setgid(self.gid).map_err(failed(format!("setgid({})", self.gid)))?;
        setuid(self.uid).map_err(failed(format!("setuid({})", self.uid)))?;
        if check_regain && !self.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
            return Err(ProcessError::RegainedRoot);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves() -> Result<(), ProcessError> {
        let credentials = Credentials::resolve("root", None)?;
        assert!(credentials.uid.is_root());
        assert_eq!(credentials.gid, Gid::from_raw(0));
        Ok(())
    }

    #[test]
    fn unknown_user_and_group_are_named() {
        let error = Credentials::resolve("no-such-user-xyz", None)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("getpwnam(\"no-such-user-xyz\") failed, user \"no-such-user-xyz\" not found")
        );
        let error = Credentials::resolve("root", Some("no-such-group-xyz"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("getgrnam(\"no-such-group-xyz\") failed, group \"no-such-group-xyz\" not found")
        );
    }

    #[test]
    fn env_round_trip() {
        let credentials = Credentials {
            user: "nobody".to_owned(),
            uid: Uid::from_raw(65534),
            gid: Gid::from_raw(65534),
        };
        assert_eq!(
            Credentials::from_env(&credentials.to_env()),
            Some(credentials)
        );
        assert_eq!(Credentials::from_env("x:1:a"), None);
        assert_eq!(Credentials::from_env("1:2"), None);
    }
}
