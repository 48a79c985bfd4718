//! The access log: a format (a template string, or an object of templates written as one
//! JSON object per line), an optional `if` condition, and the file main opened for us.
//!
//! The format and condition come from unit-conf's model, which supplies Unit's default
//! format when the configuration gives none.

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::http::HttpRequest;
use crate::template::{ResponseVars, Template};

/// How a log line is made.
#[derive(Debug)]
pub(crate) struct LogFormat {
    kind: FormatKind,
    condition: Option<(bool, Template)>,
}

#[derive(Debug)]
enum FormatKind {
    Text(Template),
    Json(Vec<(String, Template)>),
}

impl LogFormat {
    /// Compiles the format and condition of an `access_log`.
    pub(crate) fn compile(access_log: &unit_conf::AccessLog) -> LogFormat {
        let kind = match &access_log.format {
            unit_conf::LogFormat::Text(template) => FormatKind::Text(Template::new(template)),
            unit_conf::LogFormat::Json(fields) => FormatKind::Json(
                fields
                    .iter()
                    .map(|(name, template)| (name.clone(), Template::new(template)))
                    .collect(),
            ),
        };
        let condition = access_log
            .condition
            .as_ref()
            .map(|condition| (condition.negated, Template::new(&condition.template)));
        LogFormat { kind, condition }
    }

    /// The line for a finished request (with its newline), or `None` when `if` says no.
    pub(crate) fn line(&self, request: &HttpRequest, vars: &ResponseVars<'_>) -> Option<String> {
        if let Some((negate, condition)) = &self.condition {
            let value = condition.expand(request, vars);
            let truthy = !matches!(value.as_str(), "" | "0" | "false" | "null" | "undefined");
            if truthy == *negate {
                return None;
            }
        }
        let mut line = match &self.kind {
            FormatKind::Text(template) => template.expand_logged(request, vars),
            FormatKind::Json(members) => {
                let object: serde_json::Map<String, Value> = members
                    .iter()
                    .map(|(name, template)| {
                        (
                            name.clone(),
                            Value::String(template.expand_logged(request, vars)),
                        )
                    })
                    .collect();
                Value::Object(object).to_string()
            }
        };
        line.push('\n');
        Some(line)
    }
}

/// A configured access log: its path, format and the open file (swapped on reopen).
#[derive(Debug)]
pub(crate) struct AccessLog {
    pub(crate) path: String,
    pub(crate) format: LogFormat,
    file: RwLock<Arc<File>>,
}

impl AccessLog {
    pub(crate) fn new(path: String, format: LogFormat, file: File) -> AccessLog {
        AccessLog {
            path,
            format,
            file: RwLock::new(Arc::new(file)),
        }
    }

    /// Uses a reopened file from now on.
    pub(crate) fn replace_file(&self, file: File) {
        let mut current = self
            .file
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = Arc::new(file);
    }

    /// Writes the line for a finished request, in one write(2) (the file is O_APPEND).
    pub(crate) fn log(&self, request: &HttpRequest, vars: &ResponseVars<'_>) {
        let Some(line) = self.format.line(request, vars) else {
            return;
        };
        let file = Arc::clone(
            &self
                .file
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if let Err(error) = (&*file).write_all(line.as_bytes()) {
            tracing::warn!("writing the access log \"{}\" failed: {error}", self.path);
        }
    }
}
