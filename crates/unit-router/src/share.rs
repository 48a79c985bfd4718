//! The `share` action: serving static files from the file system.
//!
//! Each expanded share path is tried in order; the first regular file is answered with
//! `200` (or `304` when the client's validators still match), a directory reached
//! without a trailing `/` is redirected with `301`, and when every path fails the caller
//! learns the last path's status (`404` or `403`) so it can run the `fallback` action.
//! `chroot`, `follow_symlinks: false` and `traverse_mounts: false` are enforced by the
//! kernel through `openat2` resolve flags; where `openat2` is missing, a request that
//! needs them fails closed with an error instead of silently resolving without them.
//!
//! Open files are kept in a small cache so a hot file is not reopened on every hit: the
//! open file is checked on every hit (a change to it, its mode or owner is served at
//! once), and the path is trusted to lead to it for one second, then reopened with the
//! same resolution flags and the entry replaced if the file behind the path changed. Every router worker has a cache of its
//! own, so a hit takes no lock and writes nothing another thread reads.
//!
//! Not here: writing the body (the connection code sends [`Body::File`] with sendfile and
//! skips it for `HEAD`), the `fallback` action, byte ranges and compression.

mod mime;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::Mode;
use unit_engine::HashMap;
use unit_http::{http_date, is_path_byte, parse_http_date, percent_encode};

use crate::http::{Body, HttpResponse, Text};

pub(crate) use mime::MimeTypes;

/// How long a cached open file is served without looking at the file system again.
const REVALIDATE_AFTER: Duration = Duration::from_secs(1);

/// How many open files the cache holds; when it is full it is emptied.
const CACHE_CAPACITY: usize = 1024;
/// Files up to this size are kept in memory by the cache (at most 16 MiB in all).
const SMALL_FILE: u64 = 16 * 1024;

/// How often an `openat2` that reports a concurrent rename (`EAGAIN`) is retried.
const OPENAT2_ATTEMPTS: usize = 4;

/// One attempt to serve a share.
pub(crate) struct ShareRequest<'a> {
    /// The expanded share templates, tried in order.
    pub(crate) paths: &'a [String],
    /// The file name appended when an expanded path ends in `/`.
    pub(crate) index: &'a str,
    /// The expanded chroot directory: every path must lie beneath it and is resolved
    /// with the directory as its root.
    pub(crate) chroot: Option<&'a str>,
    /// Whether symbolic links may be followed while resolving a path.
    pub(crate) follow_symlinks: bool,
    /// Whether resolving a path may cross mount points.
    pub(crate) traverse_mounts: bool,
    /// The `types` filter over the file's MIME type (`""` when unknown); a mismatch is
    /// a `403`.
    pub(crate) types: Option<&'a dyn Fn(&str) -> bool>,
    /// The request method; only `GET` and `HEAD` are served.
    pub(crate) method: &'a str,
    /// The decoded request path (`$uri`), used for the `301` Location; it is
    /// percent-encoded there, `%` included.
    pub(crate) uri: &'a str,
    /// The raw query string, kept on the `301` Location (empty when there is none).
    pub(crate) query: &'a str,
    /// The `If-None-Match` header, if sent.
    pub(crate) if_none_match: Option<&'a [u8]>,
    /// The `If-Modified-Since` header, if sent.
    pub(crate) if_modified_since: Option<&'a [u8]>,
    /// When the request arrived: a cached file validated more than
    /// [`REVALIDATE_AFTER`] before is checked on disk again.
    pub(crate) arrived: Instant,
}

/// What serving a share came to.
#[derive(Debug)]
pub(crate) enum ShareOutcome {
    /// Send this response: `200` with the whole file as [`Body::File`] (or
    /// [`Body::Empty`] for an empty file), `304` with [`Body::Empty`], or `301` to the
    /// path plus `/`.
    ///
    /// `HEAD` gets exactly the `GET` response, body included, so that the connection
    /// code can take `Content-Length` from [`Body::len`]; it must then skip writing the
    /// body.
    Response(HttpResponse),
    /// Every path failed with `404` (ENOENT, ENOTDIR, ENAMETOOLONG, not a regular file)
    /// or `403` (EACCES, EPERM, ELOOP, EXDEV, outside the chroot, `types` mismatch); the
    /// status is the last path's. The caller runs `fallback` if configured, else
    /// answers this status.
    NotFound(u16),
    /// The method is neither `GET` nor `HEAD`: `fallback` if configured, else `405`.
    MethodNotAllowed,
    /// Another error: answer `500` at once.
    Error,
}

/// Static file serving with a small cache of open files; one per router worker.
#[derive(Debug)]
pub(crate) struct ShareServer {
    /// Open files by everything that decided how their path was resolved.
    cache: HashMap<CacheKey, Arc<CachedFile>>,
    /// How many entries the cache may hold before it is emptied.
    capacity: usize,
}

impl ShareServer {
    /// A server with an empty cache.
    pub(crate) fn new() -> ShareServer {
        ShareServer::with_capacity(CACHE_CAPACITY)
    }

    /// Tries each path of `request` in order and says what to answer.
    pub(crate) fn serve(&mut self, request: &ShareRequest<'_>, mime: &MimeTypes) -> ShareOutcome {
        if request.method != "GET" && request.method != "HEAD" {
            return ShareOutcome::MethodNotAllowed;
        }
        let mut status = 404;
        for path in request.paths {
            let wants_index = path.ends_with('/');
            let full_path: Cow<'_, str> = if wants_index {
                Cow::Owned(format!("{path}{}", request.index))
            } else {
                Cow::Borrowed(path.as_str())
            };
            let content_type = mime.lookup(&full_path);
            // The filter looks at the name only, so a refused file is never touched. As
            // in Unit, an index file is served whatever its type.
            if !wants_index
                && let Some(types) = request.types
                && !types(content_type.map_or("", |content_type| content_type))
            {
                status = 403;
                continue;
            }
            match self.open(&full_path, request) {
                Ok(Opened::File(cached)) => {
                    return ShareOutcome::Response(file_response(&cached, content_type, request));
                }
                Ok(Opened::Directory) if !wants_index => {
                    return ShareOutcome::Response(redirect_to_directory(request));
                }
                Ok(Opened::Directory | Opened::Other) => status = 404,
                Err(Failure::Status(failed_status)) => status = failed_status,
                Err(Failure::Error) => return ShareOutcome::Error,
            }
        }
        ShareOutcome::NotFound(status)
    }

    /// Closes every cached file (a new configuration may serve other files).
    pub(crate) fn clear(&mut self) {
        self.cache.clear();
    }

    /// Closes the cached files no request has used for `unused_for`, so a file removed
    /// or replaced on disk is not held open.
    pub(crate) fn evict_unused(&mut self, now: Instant, unused_for: Duration) {
        self.cache
            .retain(|_, cached| now.saturating_duration_since(cached.validated) < unused_for);
    }

    /// A server whose cache holds at most `capacity` entries.
    fn with_capacity(capacity: usize) -> ShareServer {
        ShareServer {
            cache: HashMap::default(),
            capacity,
        }
    }

    /// Opens `path` under the request's resolution options, through the cache.
    fn open(&mut self, path: &str, request: &ShareRequest<'_>) -> Result<Opened, Failure> {
        // A hit is looked up by borrowed parts: no allocation.
        let lookup = CacheKeyRef {
            path,
            chroot: request.chroot,
            follow_symlinks: request.follow_symlinks,
            traverse_mounts: request.traverse_mounts,
        };
        let now = request.arrived;
        let cached = self.cache.get(&lookup).cloned();
        // Within a second of the last look the path is trusted to lead to the same
        // file; the file itself is checked on every hit (one fstat), so a change to it
        // is served at once, as when every request opens it.
        if let Some(cached) = &cached
            && now.saturating_duration_since(cached.validated) < REVALIDATE_AFTER
            && cached
                .file
                .metadata()
                .is_ok_and(|metadata| FileIdentity::of(&metadata) == cached.identity)
        {
            return Ok(Opened::File(Arc::clone(cached)));
        }
        let key = CacheKey {
            path: path.to_owned(),
            chroot: request.chroot.map(str::to_owned),
            follow_symlinks: request.follow_symlinks,
            traverse_mounts: request.traverse_mounts,
        };

        let opened = open_file(path, &key).and_then(|file| {
            let metadata = file.metadata().map_err(|_| Failure::Error)?;
            Ok((file, metadata))
        });
        let (file, metadata) = match opened {
            Ok((file, metadata)) if metadata.is_file() => (file, metadata),
            other => {
                // Failures are never cached, and a stale entry must not outlive them.
                if cached.is_some() {
                    self.cache.remove(&key);
                }
                return match other {
                    Ok((_, metadata)) if metadata.is_dir() => Ok(Opened::Directory),
                    Ok(_) => Ok(Opened::Other),
                    Err(failure) => Err(failure),
                };
            }
        };

        let identity = FileIdentity::of(&metadata);
        let entry = match cached {
            // The same file is still there: keep the descriptor already handed out.
            Some(cached) if cached.identity == identity => Arc::new(CachedFile {
                file: Arc::clone(&cached.file),
                identity,
                etag: cached.etag.clone(),
                last_modified: cached.last_modified.clone(),
                content: cached.content.clone(),
                validated: now,
            }),
            _ => Arc::new(CachedFile::new(file, identity, now)),
        };
        if self.cache.len() >= self.capacity && !self.cache.contains_key(&key) {
            self.cache.clear();
        }
        self.cache.insert(key, Arc::clone(&entry));
        Ok(Opened::File(entry))
    }
}

// === Cache entries ===

/// Everything that decides which file a path resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    /// The path, index already appended.
    path: String,
    /// The chroot directory, as expanded.
    chroot: Option<String>,
    /// Whether symbolic links were allowed.
    follow_symlinks: bool,
    /// Whether mount points could be crossed.
    traverse_mounts: bool,
}

/// A [`CacheKey`] made of borrowed parts, for lookups. Its fields are in the same
/// order with the same hashing (`str` for `String`), so both hash alike.
#[derive(Debug, Hash)]
struct CacheKeyRef<'a> {
    path: &'a str,
    chroot: Option<&'a str>,
    follow_symlinks: bool,
    traverse_mounts: bool,
}

impl hashbrown::Equivalent<CacheKey> for CacheKeyRef<'_> {
    fn equivalent(&self, key: &CacheKey) -> bool {
        self.path == key.path
            && self.chroot == key.chroot.as_deref()
            && self.follow_symlinks == key.follow_symlinks
            && self.traverse_mounts == key.traverse_mounts
    }
}

/// An open regular file and the headers derived from it.
///
/// The content type is not kept: it depends on the `mime_types` of the configuration in
/// force, and looking it up per request is one hash probe.
#[derive(Debug)]
struct CachedFile {
    /// The open file, shared with the responses that send it.
    file: Arc<File>,
    /// What the file looked like when it was opened.
    identity: FileIdentity,
    /// The quoted entity tag.
    etag: Arc<str>,
    /// The `Last-Modified` value.
    last_modified: Arc<str>,
    /// The whole content of a small file, so its answer goes out in the same write as
    /// the head instead of a separate sendfile.
    content: Option<Arc<[u8]>>,
    /// When the file behind the path was last checked to be this one.
    validated: Instant,
}

impl CachedFile {
    /// An entry for a freshly opened file.
    fn new(file: File, identity: FileIdentity, validated: Instant) -> CachedFile {
        let content = (identity.size > 0 && identity.size <= SMALL_FILE)
            .then(|| {
                let mut content = vec![0u8; identity.size as usize];
                std::os::unix::fs::FileExt::read_exact_at(&file, &mut content, 0).ok()?;
                Some(Arc::from(content))
            })
            .flatten();
        CachedFile {
            content,
            file: Arc::new(file),
            identity,
            etag: Arc::from(format!("\"{:x}-{:x}\"", identity.mtime, identity.size)),
            last_modified: Arc::from(http_date(system_time_from_seconds(identity.mtime))),
            validated,
        }
    }
}

/// The fields that change when a file is replaced or modified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    /// The device holding the file.
    device: u64,
    /// The inode number.
    inode: u64,
    /// The size in bytes.
    size: u64,
    /// The modification time, whole seconds since the epoch.
    mtime: i64,
    /// The nanoseconds of the modification time.
    mtime_nanos: i64,
    /// The inode's change time (a new mode or owner too), seconds and nanoseconds.
    ctime: (i64, i64),
}

impl FileIdentity {
    /// The identity of an open file.
    fn of(metadata: &std::fs::Metadata) -> FileIdentity {
        FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.len(),
            mtime: metadata.mtime(),
            mtime_nanos: metadata.mtime_nsec(),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

/// What a path led to.
enum Opened {
    /// A regular file.
    File(Arc<CachedFile>),
    /// A directory.
    Directory,
    /// Something else (a FIFO, a device).
    Other,
}

/// Why a path could not be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// `404` or `403`: the next path is tried.
    Status(u16),
    /// Anything else: `500` at once.
    Error,
}

// === Opening ===

/// Opens `path` read-only with the resolution rules of `key`.
///
/// `O_NONBLOCK` keeps a FIFO or a device in the share from blocking the thread; it has
/// no effect on regular files.
fn open_file(path: &str, key: &CacheKey) -> Result<File, Failure> {
    if path.contains('\0')
        || key
            .chroot
            .as_deref()
            .is_some_and(|chroot| chroot.contains('\0'))
    {
        return Err(Failure::Status(404));
    }
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
    let mut resolve = ResolveFlag::empty();
    if !key.follow_symlinks {
        resolve |= ResolveFlag::RESOLVE_NO_SYMLINKS;
    }
    if !key.traverse_mounts {
        resolve |= ResolveFlag::RESOLVE_NO_XDEV;
    }
    // An empty chroot is none, as in Unit.
    let fd = match key.chroot.as_deref().filter(|chroot| !chroot.is_empty()) {
        Some(chroot) => {
            let beneath = path_beneath(path, chroot).ok_or(Failure::Status(403))?;
            let root = open(
                chroot,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(failure_of)?;
            open_resolved(
                root.as_fd(),
                beneath,
                flags,
                resolve | ResolveFlag::RESOLVE_IN_ROOT,
            )
        }
        None if resolve.is_empty() => open(path, flags, Mode::empty()),
        None => open_resolved(AT_FDCWD, path, flags, resolve),
    }
    .map_err(failure_of)?;
    Ok(File::from(fd))
}

/// `openat2` with `resolve`, retried while the kernel reports a concurrent rename.
///
/// Without `openat2` (`ENOSYS`) this fails: the restriction is never dropped.
fn open_resolved(
    dir: BorrowedFd<'_>,
    path: &str,
    flags: OFlag,
    resolve: ResolveFlag,
) -> nix::Result<OwnedFd> {
    let how = OpenHow::new().flags(flags).resolve(resolve);
    let mut result = Err(Errno::EAGAIN);
    for _ in 0..OPENAT2_ATTEMPTS {
        result = openat2(dir, path, how);
        if !matches!(result, Err(Errno::EAGAIN)) {
            break;
        }
    }
    result
}

/// The part of `path` below `chroot`, as Unit matches them: runs of slashes count as
/// one, and `None` when the path is not beneath the chroot or names the chroot itself.
fn path_beneath<'a>(path: &'a str, chroot: &str) -> Option<&'a str> {
    let (chroot, share) = (chroot.as_bytes(), path.as_bytes());
    if chroot.first()? != share.first()? {
        return None;
    }
    let (mut chroot_idx, mut share_idx) = (1, 1);
    loop {
        let share_byte = *share.get(share_idx)?;
        match chroot.get(chroot_idx) {
            Some(&chroot_byte) if chroot_byte == share_byte => {
                chroot_idx += 1;
                share_idx += 1;
            }
            None => break,
            Some(b'/') if chroot[chroot_idx - 1] == b'/' => chroot_idx += 1,
            Some(b'/') => return None,
            Some(_) if share_byte == b'/' && share[share_idx - 1] == b'/' => share_idx += 1,
            Some(_) => return None,
        }
    }
    if share[share_idx - 1] != b'/' && share[share_idx] != b'/' {
        return None;
    }
    let rest = path[share_idx..].trim_start_matches('/');
    (!rest.is_empty()).then_some(rest)
}

/// The status an open error stands for.
fn failure_of(errno: Errno) -> Failure {
    match errno {
        // ENXIO: a socket in the share, which is not a regular file either.
        Errno::ENOENT | Errno::ENOTDIR | Errno::ENAMETOOLONG | Errno::ENXIO => Failure::Status(404),
        Errno::EACCES | Errno::EPERM | Errno::ELOOP | Errno::EXDEV => Failure::Status(403),
        // ENOSYS (no openat2) included: the requested restriction cannot be honoured.
        _ => Failure::Error,
    }
}

// === Responses ===

/// The `200` or `304` answer for a cached file.
fn file_response(
    cached: &CachedFile,
    content_type: Option<&Text>,
    request: &ShareRequest<'_>,
) -> HttpResponse {
    let mut headers = Vec::with_capacity(3);
    if is_not_modified(cached, request) {
        headers.push(("ETag".into(), (&cached.etag).into()));
        headers.push(("Last-Modified".into(), (&cached.last_modified).into()));
        return HttpResponse {
            status: 304,
            headers,
            body: Body::Empty,
        };
    }
    if let Some(content_type) = content_type {
        headers.push(("Content-Type".into(), content_type.clone()));
    }
    headers.push(("ETag".into(), (&cached.etag).into()));
    headers.push(("Last-Modified".into(), (&cached.last_modified).into()));
    let body = match (cached.identity.size, &cached.content) {
        (0, _) => Body::Empty,
        (_, Some(content)) => Body::Bytes(Arc::clone(content)),
        (len, None) => Body::File {
            file: Arc::clone(&cached.file),
            offset: 0,
            len,
        },
    };
    HttpResponse {
        status: 200,
        headers,
        body,
    }
}

/// Whether the client's validators say its copy is current: `If-None-Match` decides
/// when present, else `If-Modified-Since`.
fn is_not_modified(cached: &CachedFile, request: &ShareRequest<'_>) -> bool {
    if let Some(if_none_match) = request.if_none_match {
        return etag_list_matches(if_none_match, &cached.etag);
    }
    let Some(if_modified_since) = request.if_modified_since else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(if_modified_since) else {
        return false;
    };
    match parse_http_date(text.trim()) {
        Some(since) => seconds_since_epoch(since) >= cached.identity.mtime,
        None => false,
    }
}

/// Whether an `If-None-Match` list holds `*` or `etag` (weak comparison).
fn etag_list_matches(list: &[u8], etag: &str) -> bool {
    list.split(|&byte| byte == b',').any(|tag| {
        let tag = tag.trim_ascii();
        tag == b"*" || tag.strip_prefix(b"W/").unwrap_or(tag) == etag.as_bytes()
    })
}

/// The `301` to the directory's path with a `/` added, query kept.
fn redirect_to_directory(request: &ShareRequest<'_>) -> HttpResponse {
    let mut location = String::with_capacity(request.uri.len() + request.query.len() + 2);
    let mut push = |byte| location.push(char::from(byte));
    percent_encode(request.uri.as_bytes(), is_path_byte, &mut push);
    push(b'/');
    if !request.query.is_empty() {
        push(b'?');
        percent_encode(request.query.as_bytes(), is_query_byte, &mut push);
    }
    HttpResponse {
        status: 301,
        headers: vec![("Location".into(), location.into())],
        body: Body::Empty,
    }
}

/// Bytes a raw query may carry unencoded: printable ASCII except `#` and the space;
/// existing escapes stay as they are.
fn is_query_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && byte != b'#'
}

/// Whole seconds since the epoch (negative before it).
fn seconds_since_epoch(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |secs| -secs),
    }
}

/// The time `seconds` after (or before) the epoch, clamped to what `SystemTime` holds.
fn system_time_from_seconds(seconds: i64) -> SystemTime {
    let offset = Duration::from_secs(seconds.unsigned_abs());
    let time = if seconds >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    };
    time.unwrap_or(UNIX_EPOCH)
}
