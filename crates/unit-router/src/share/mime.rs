//! The MIME type table of the `share` action: file name → `Content-Type`.
//!
//! A built-in table covers the common web formats; `settings.http.static.mime_types`
//! adds to it and overrides it.
//! An override value that starts with `.` is an extension (matched without regard to
//! ASCII case); any other value is an exact file name such as `README`, which wins over
//! the extension.
//!
//! Not here: validating the override object (the controller rejects an extension mapped
//! to two types before the router ever sees it) and content sniffing.

use std::sync::Arc;

use unit_engine::HashMap;

use crate::http::Text;

/// The built-in table: a MIME type and the extensions (without the dot) that map to it.
const BUILT_IN: &[(&str, &[&str])] = &[
    ("text/html", &["html", "htm", "shtml"]),
    ("text/css", &["css"]),
    ("text/javascript", &["js", "mjs"]),
    ("application/json", &["json", "map"]),
    ("application/manifest+json", &["webmanifest"]),
    ("text/plain", &["txt", "log", "text"]),
    ("text/xml", &["xml"]),
    ("text/csv", &["csv"]),
    ("text/markdown", &["md", "markdown"]),
    ("text/calendar", &["ics"]),
    ("text/vcard", &["vcf"]),
    ("application/xhtml+xml", &["xhtml"]),
    ("application/rss+xml", &["rss"]),
    ("application/atom+xml", &["atom"]),
    ("application/yaml", &["yaml", "yml"]),
    ("image/svg+xml", &["svg", "svgz"]),
    ("image/png", &["png"]),
    ("image/apng", &["apng"]),
    ("image/jpeg", &["jpg", "jpeg"]),
    ("image/gif", &["gif"]),
    ("image/webp", &["webp"]),
    ("image/avif", &["avif"]),
    ("image/bmp", &["bmp"]),
    ("image/tiff", &["tif", "tiff"]),
    ("image/x-icon", &["ico"]),
    ("font/woff", &["woff"]),
    ("font/woff2", &["woff2"]),
    ("font/ttf", &["ttf"]),
    ("font/otf", &["otf"]),
    ("application/pdf", &["pdf"]),
    ("application/rtf", &["rtf"]),
    ("application/zip", &["zip"]),
    ("application/gzip", &["gz", "tgz"]),
    ("application/x-tar", &["tar"]),
    ("application/x-bzip2", &["bz2"]),
    ("application/x-xz", &["xz"]),
    ("application/zstd", &["zst"]),
    ("application/x-7z-compressed", &["7z"]),
    ("application/wasm", &["wasm"]),
    ("application/octet-stream", &["bin"]),
    ("video/mp4", &["mp4", "m4v"]),
    ("video/webm", &["webm"]),
    ("video/ogg", &["ogv"]),
    ("video/quicktime", &["mov"]),
    ("video/x-msvideo", &["avi"]),
    ("audio/mpeg", &["mp3"]),
    ("audio/mp4", &["m4a"]),
    ("audio/aac", &["aac"]),
    ("audio/ogg", &["ogg", "oga", "opus"]),
    ("audio/flac", &["flac"]),
    ("audio/wav", &["wav"]),
];

/// The MIME table: the built-in map of common extensions, overridden by
/// `settings.http.static.mime_types`.
#[derive(Debug, Clone)]
pub(crate) struct MimeTypes {
    /// Lowercased extension without the dot → MIME type. Built-in types are static
    /// text, so a response takes one without touching a reference count that every
    /// router worker shares.
    by_extension: HashMap<String, Text>,
    /// Exact file name → MIME type.
    by_name: HashMap<String, Text>,
}

impl MimeTypes {
    /// Builds the table from the built-in map and the optional
    /// `settings.http.static.mime_types` object (MIME type → a string or an array of
    /// strings, each `.ext` or an exact file name).
    ///
    /// Values that are not strings are skipped: the controller validated the shape.
    pub(crate) fn new(overrides: Option<&serde_json::Value>) -> MimeTypes {
        let mut mime_types = MimeTypes {
            by_extension: HashMap::default(),
            by_name: HashMap::default(),
        };
        for (mime_type, extensions) in BUILT_IN {
            for extension in *extensions {
                mime_types
                    .by_extension
                    .insert((*extension).to_owned(), Text::Static(mime_type));
            }
        }
        let Some(serde_json::Value::Object(object)) = overrides else {
            return mime_types;
        };
        for (mime_type, value) in object {
            match value {
                serde_json::Value::String(entry) => mime_types.insert(mime_type, entry),
                serde_json::Value::Array(entries) => {
                    for entry in entries {
                        if let serde_json::Value::String(entry) = entry {
                            mime_types.insert(mime_type, entry);
                        }
                    }
                }
                _ => {}
            }
        }
        mime_types
    }

    /// The MIME type of a file name (the last path component is used), if known.
    pub(crate) fn lookup(&self, file_name: &str) -> Option<&Text> {
        let base_name = match file_name.rfind('/') {
            Some(slash_idx) => &file_name[slash_idx + 1..],
            None => file_name,
        };
        if let Some(mime_type) = self.by_name.get(base_name) {
            return Some(mime_type);
        }
        let dot_idx = base_name.rfind('.')?;
        let extension = &base_name[dot_idx + 1..];
        if extension.is_empty() {
            return None;
        }
        if extension.bytes().any(|byte| byte.is_ascii_uppercase()) {
            self.by_extension
                .get(extension.to_ascii_lowercase().as_str())
        } else {
            self.by_extension.get(extension)
        }
    }

    /// Adds one override entry: `.ext` or an exact file name.
    fn insert(&mut self, mime_type: &str, entry: &str) {
        let mime_type = Text::Shared(Arc::from(mime_type));
        match entry.strip_prefix('.') {
            Some(extension) if !extension.is_empty() => {
                self.by_extension
                    .insert(extension.to_ascii_lowercase(), mime_type);
            }
            _ if !entry.is_empty() => {
                self.by_name.insert(entry.to_owned(), mime_type);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Looks `file_name` up in a table built from `overrides`.
    fn check(overrides: Option<serde_json::Value>, file_name: &str, expected: Option<&str>) {
        let mime_types = MimeTypes::new(overrides.as_ref());
        assert_eq!(
            mime_types.lookup(file_name).map(|mime_type| &**mime_type),
            expected,
            "{file_name}"
        );
    }

    #[test]
    fn built_in_table() {
        check(None, "index.html", Some("text/html"));
        check(None, "/srv/www/app.min.js", Some("text/javascript"));
        check(None, "PHOTO.JPG", Some("image/jpeg"));
        check(None, "font.woff2", Some("font/woff2"));
        check(None, "archive.tar.gz", Some("application/gzip"));
        check(None, "bundle.js.map", Some("application/json"));
        check(None, "README", None);
        check(None, "trailing.", None);
        check(None, "/dir.html/file", None);
        check(None, "file.unknown", None);
        check(None, "", None);
    }

    #[test]
    fn overrides() {
        let overrides = serde_json::json!({
            "text/x-notes": [".notes", "README", ".HTML"],
            "application/x-custom": ".cst",
            "ignored": 5,
        });
        check(Some(overrides.clone()), "a.NOTES", Some("text/x-notes"));
        check(Some(overrides.clone()), "/srv/README", Some("text/x-notes"));
        check(Some(overrides.clone()), "readme", None);
        check(Some(overrides.clone()), "page.html", Some("text/x-notes"));
        check(
            Some(overrides.clone()),
            "x.cst",
            Some("application/x-custom"),
        );
        check(Some(overrides), "style.css", Some("text/css"));
        check(
            Some(serde_json::json!("not an object")),
            "a.txt",
            Some("text/plain"),
        );
    }
}
