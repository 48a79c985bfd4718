//! The MIME type table of the `share` action: file name → `Content-Type`.
//!
//! A file's key is its extension with the dot (`.html`), or its whole name when it has
//! no dot (`README`), matched without regard to ASCII case, as in Unit. The built-in
//! table is Unit's, so a site moved from Unit keeps its content types;
//! `settings.http.static.mime_types` adds to it and overrides it, each value being an
//! extension with its dot or a whole file name.
//!
//! Not here: validating the overrides (unit-conf rejects an extension mapped to two types
//! before the router ever sees it) and content sniffing.

use std::sync::Arc;

use unit_conf::MimeType;
use unit_engine::HashMap;

use crate::http::Text;

/// Unit's built-in table: a MIME type and the keys that map to it.
const BUILT_IN: &[(&str, &[&str])] = &[
    ("text/html", &[".html", ".htm"]),
    ("text/css", &[".css"]),
    ("image/svg+xml", &[".svg"]),
    ("image/webp", &[".webp"]),
    ("image/png", &[".png"]),
    ("image/apng", &[".apng"]),
    ("image/jpeg", &[".jpeg", ".jpg"]),
    ("image/gif", &[".gif"]),
    ("image/x-icon", &[".ico"]),
    ("image/avif", &[".avif"]),
    ("image/avif-sequence", &[".avifs"]),
    ("font/woff", &[".woff"]),
    ("font/woff2", &[".woff2"]),
    ("font/otf", &[".otf"]),
    ("font/ttf", &[".ttf"]),
    ("text/plain", &[".txt"]),
    ("text/markdown", &[".md"]),
    ("text/x-rst", &[".rst"]),
    ("application/javascript", &[".js", ".mjs"]),
    ("application/json", &[".json"]),
    ("application/xml", &[".xml"]),
    ("application/rss+xml", &[".rss"]),
    ("application/atom+xml", &[".atom"]),
    ("application/pdf", &[".pdf"]),
    ("application/zip", &[".zip"]),
    ("audio/mpeg", &[".mp3"]),
    ("audio/ogg", &[".ogg"]),
    ("audio/midi", &[".midi", ".mid"]),
    ("audio/flac", &[".flac"]),
    ("audio/aac", &[".aac"]),
    ("audio/wav", &[".wav"]),
    ("video/mpeg", &[".mpeg", ".mpg"]),
    ("video/mp4", &[".mp4"]),
    ("video/webm", &[".webm"]),
    ("video/x-msvideo", &[".avi"]),
    (
        "application/octet-stream",
        &[
            ".exe", ".bin", ".dll", ".iso", ".img", ".msi", ".deb", ".rpm",
        ],
    ),
    ("application/x-httpd-php", &[".php"]),
];

/// The MIME table: Unit's built-in map, overridden by `settings.http.static.mime_types`.
#[derive(Debug, Clone)]
pub(crate) struct MimeTypes {
    /// Lowercased key (`.ext` or a whole file name) → MIME type. Built-in types are
    /// static text, so a response takes one without touching a reference count that
    /// every router worker shares.
    by_key: HashMap<String, Text>,
}

impl MimeTypes {
    /// Builds the table from the built-in map and `settings.http.static.mime_types`
    /// (each key `.ext` or an exact file name; empty keys never match and are skipped).
    pub(crate) fn new(overrides: &[MimeType]) -> MimeTypes {
        let mut mime_types = MimeTypes {
            by_key: HashMap::default(),
        };
        for (mime_type, keys) in BUILT_IN {
            for key in *keys {
                mime_types
                    .by_key
                    .insert((*key).to_owned(), Text::Static(mime_type));
            }
        }
        for mime_type in overrides {
            let name = Text::Shared(Arc::from(mime_type.name.as_str()));
            for key in mime_type.keys.iter().filter(|key| !key.is_empty()) {
                mime_types
                    .by_key
                    .insert(key.to_ascii_lowercase(), name.clone());
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
        let key = match base_name.rfind('.') {
            Some(dot_idx) => &base_name[dot_idx..],
            None => base_name,
        };
        if key.bytes().any(|byte| byte.is_ascii_uppercase()) {
            self.by_key.get(key.to_ascii_lowercase().as_str())
        } else {
            self.by_key.get(key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::conf::tests::mime_types;

    /// Looks `file_name` up in a table built from `overrides`.
    fn check(overrides: Option<serde_json::Value>, file_name: &str, expected: Option<&str>) {
        let mime_types = MimeTypes::new(&overrides.map(mime_types).unwrap_or_default());
        assert_eq!(
            mime_types.lookup(file_name).map(|mime_type| &**mime_type),
            expected,
            "{file_name}"
        );
    }

    #[test]
    fn built_in_table() {
        check(None, "index.html", Some("text/html"));
        check(None, "/srv/www/app.min.js", Some("application/javascript"));
        check(None, "PHOTO.JPG", Some("image/jpeg"));
        check(None, "font.woff2", Some("font/woff2"));
        check(None, "README", None);
        check(None, "trailing.", None);
        check(None, "/dir.html/file", None);
        check(None, "file.unknown", None);
        check(None, "server.log", None);
        check(None, "", None);
    }

    #[test]
    fn overrides() {
        let overrides = serde_json::json!({
            "text/x-notes": [".notes", "README", ".HTML"],
            "application/x-custom": ".cst",
            "text/plain": [".log", "file"],
        });
        check(Some(overrides.clone()), "a.NOTES", Some("text/x-notes"));
        check(Some(overrides.clone()), "/srv/README", Some("text/x-notes"));
        check(Some(overrides.clone()), "readme", Some("text/x-notes"));
        check(Some(overrides.clone()), "page.html", Some("text/x-notes"));
        check(
            Some(overrides.clone()),
            "x.cst",
            Some("application/x-custom"),
        );
        check(Some(overrides.clone()), "/dir/file", Some("text/plain"));
        // A whole-name key never matches an extension, nor part of a name.
        check(Some(overrides.clone()), "x.file", None);
        check(Some(overrides.clone()), "profile", None);
        check(Some(overrides), "style.css", Some("text/css"));
    }
}
