//! The application's configuration, as the router hands it over: the variable
//! `UNITD_PYTHON_APP` holds `{"name": ..., "application": <the object as configured>}`,
//! which the controller has validated. It is read once, and removed from `os.environ`
//! before the application is imported, so the application sees what its configuration
//! says.

use std::path::PathBuf;

use serde_json::{Map, Value};

/// The variable the configuration arrives in.
pub(crate) const CONF_ENV: &str = "UNITD_PYTHON_APP";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfError {
    #[error("the {CONF_ENV} variable is not set")]
    Missing,
    #[error("the {CONF_ENV} variable is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the application configuration has no valid \"{0}\"")]
    Member(&'static str),
}

/// The interface an application speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Wsgi,
    Asgi,
}

/// One entry point: the application itself, or one of its `targets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The target's name (empty for an application without `targets`).
    pub(crate) name: String,
    pub(crate) module: String,
    /// `callable`; `application` when absent.
    pub(crate) callable: String,
    /// `factory`: the callable makes the application when called with nothing.
    pub(crate) factory: bool,
    /// `prefix`: split off the path into `SCRIPT_NAME` / `root_path`.
    pub(crate) prefix: String,
}

/// Whether `path` is a target's `prefix` or below it; an empty prefix holds nothing.
pub(crate) fn under_prefix(path: &[u8], prefix: &[u8]) -> bool {
    !prefix.is_empty()
        && path.starts_with(prefix)
        && (path.len() == prefix.len() || path[prefix.len()] == b'/')
}

/// What the runner needs to know of its application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppConfig {
    pub(crate) name: String,
    /// `home`: a virtual environment or a Python installation.
    pub(crate) home: Option<PathBuf>,
    /// `path`: put at the front of `sys.path`, in order.
    pub(crate) path: Vec<String>,
    /// `protocol`; detected from the callable when `None`.
    pub(crate) protocol: Option<Protocol>,
    /// The entry points: one, or the `targets` in configuration order.
    pub(crate) targets: Vec<Target>,
    /// `threads`: requests served at once.
    pub(crate) threads: usize,
    /// `thread_stack_size` in bytes.
    pub(crate) thread_stack_size: Option<usize>,
}

impl AppConfig {
    /// Reads the configuration from the environment (the interpreter removes it from
    /// `os.environ` once it runs).
    pub(crate) fn from_env() -> Result<AppConfig, ConfError> {
        let text = std::env::var(CONF_ENV).map_err(|_| ConfError::Missing)?;
        AppConfig::parse(&text)
    }

    /// Parses the variable's value.
    pub(crate) fn parse(text: &str) -> Result<AppConfig, ConfError> {
        let value: Value = serde_json::from_str(text)?;
        let name = value
            .get("name")
            .and_then(Value::as_str)
            .ok_or(ConfError::Member("name"))?
            .to_owned();
        let application = value
            .get("application")
            .and_then(Value::as_object)
            .ok_or(ConfError::Member("application"))?;
        let path = match application.get("path") {
            None => Vec::new(),
            Some(Value::String(path)) => vec![path.clone()],
            Some(Value::Array(paths)) => paths
                .iter()
                .map(|path| path.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or(ConfError::Member("path"))?,
            Some(_) => return Err(ConfError::Member("path")),
        };
        let protocol = match application.get("protocol").and_then(Value::as_str) {
            None => None,
            Some("wsgi") => Some(Protocol::Wsgi),
            Some("asgi") => Some(Protocol::Asgi),
            Some(_) => return Err(ConfError::Member("protocol")),
        };
        let targets = match application.get("targets").and_then(Value::as_object) {
            Some(targets) => targets
                .iter()
                .map(|(name, target)| {
                    let target = target.as_object().ok_or(ConfError::Member("targets"))?;
                    parse_target(name, target)
                })
                .collect::<Result<Vec<Target>, ConfError>>()?,
            None => vec![parse_target("", application)?],
        };
        let threads = match application.get("threads") {
            None => 1,
            Some(threads) => threads
                .as_u64()
                .and_then(|threads| usize::try_from(threads).ok())
                .filter(|threads| *threads >= 1)
                .ok_or(ConfError::Member("threads"))?,
        };
        let thread_stack_size = match application.get("thread_stack_size") {
            None => None,
            Some(size) => Some(
                size.as_u64()
                    .and_then(|size| usize::try_from(size).ok())
                    .ok_or(ConfError::Member("thread_stack_size"))?,
            ),
        };
        Ok(AppConfig {
            name,
            home: application
                .get("home")
                .and_then(Value::as_str)
                .map(PathBuf::from),
            path,
            protocol,
            targets,
            threads,
            thread_stack_size,
        })
    }
}

fn parse_target(name: &str, target: &Map<String, Value>) -> Result<Target, ConfError> {
    let text = |member: &str| target.get(member).and_then(Value::as_str);
    Ok(Target {
        name: name.to_owned(),
        module: text("module")
            .ok_or(ConfError::Member("module"))?
            .to_owned(),
        callable: text("callable").unwrap_or("application").to_owned(),
        factory: target
            .get("factory")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        // As Unit: a trailing slash is not part of the prefix, so `/` is none.
        prefix: text("prefix")
            .unwrap_or("")
            .trim_end_matches('/')
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_without_targets_is_one_target() {
        let conf = AppConfig::parse(
            r#"{"name": "app", "application": {"type": "python", "path": "/srv",
                "module": "wsgi", "prefix": "/api", "threads": 4, "protocol": "wsgi"}}"#,
        )
        .expect("valid");
        assert_eq!(conf.name, "app");
        assert_eq!(conf.path, vec!["/srv".to_owned()]);
        assert_eq!(conf.threads, 4);
        assert_eq!(conf.protocol, Some(Protocol::Wsgi));
        assert_eq!(
            conf.targets,
            vec![Target {
                name: String::new(),
                module: "wsgi".to_owned(),
                callable: "application".to_owned(),
                factory: false,
                prefix: "/api".to_owned(),
            }]
        );
    }

    #[test]
    fn targets_keep_their_order_and_paths_may_be_an_array() {
        let conf = AppConfig::parse(
            r#"{"name": "app", "application": {"type": "python", "path": ["/a", "/b"],
                "targets": {"z": {"module": "one"}, "a": {"module": "two",
                "callable": "app", "factory": true}}}}"#,
        )
        .expect("valid");
        assert_eq!(conf.path, vec!["/a".to_owned(), "/b".to_owned()]);
        let names: Vec<&str> = conf
            .targets
            .iter()
            .map(|target| target.name.as_str())
            .collect();
        assert_eq!(names, ["z", "a"]);
        assert!(conf.targets[1].factory);
        assert_eq!(conf.targets[1].callable, "app");
        assert_eq!(conf.threads, 1);
    }

    #[test]
    fn a_configuration_without_a_module_is_refused() {
        let error = AppConfig::parse(r#"{"name": "app", "application": {"type": "python"}}"#);
        assert!(matches!(error, Err(ConfError::Member("module"))));
        assert!(AppConfig::parse("{").is_err());
    }

    #[test]
    fn a_prefix_holds_itself_and_the_paths_below_it_only() {
        assert!(under_prefix(b"/api", b"/api"));
        assert!(under_prefix(b"/api/items", b"/api"));
        assert!(!under_prefix(b"/apiary", b"/api"));
        assert!(!under_prefix(b"/", b"/api"));
        assert!(!under_prefix(b"/api", b""));
    }
}
