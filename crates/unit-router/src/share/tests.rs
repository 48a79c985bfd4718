//! Tests of the `share` action against a real temporary directory tree: path order,
//! status mapping, symlink and chroot confinement, redirects, validators and the cache.

use std::fs;
use std::os::unix::fs::{FileExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use nix::errno::Errno;
use nix::sys::stat::Mode;

use super::*;

/// Tells temporary directories of one test process apart.
static NEXT_TREE: AtomicUsize = AtomicUsize::new(0);

/// A temporary tree, removed on drop:
///
/// ```text
/// base/outside/secret.txt      "secret"
/// base/root/index.html         "<h1>root</h1>"
/// base/root/a.txt              "alpha"
/// base/root/image.png          "png!"
/// base/root/empty.txt          ""
/// base/root/noext              "no extension"
/// base/root/README             "read me"
/// base/root/sub/index.html     "sub index"
/// base/root/sub/page.html      "page"
/// base/root/weird/index.html/  (a directory)
/// base/root/link_in     -> a.txt
/// base/root/link_dir    -> sub
/// base/root/link_out    -> /etc/passwd
/// base/root/link_secret -> ../outside/secret.txt
/// base/root/fifo               (a FIFO)
/// ```
struct Tree {
    /// The canonical base directory.
    base: PathBuf,
}

impl Tree {
    /// Builds a fresh tree.
    fn new() -> Tree {
        let unique = format!(
            "unit-router-share-{}-{}",
            std::process::id(),
            NEXT_TREE.fetch_add(1, Ordering::Relaxed)
        );
        let base = std::env::temp_dir().join(unique);
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).expect("creating the test directory");
        // Canonical, so that `follow_symlinks: false` only meets the links made here.
        let base = fs::canonicalize(&base).expect("canonicalizing the test directory");
        let tree = Tree { base };
        fs::create_dir_all(tree.path("outside")).expect("mkdir outside");
        fs::create_dir_all(tree.path("root/sub")).expect("mkdir sub");
        fs::create_dir_all(tree.path("root/weird/index.html")).expect("mkdir weird");
        for (name, contents) in [
            ("outside/secret.txt", "secret"),
            ("root/index.html", "<h1>root</h1>"),
            ("root/a.txt", "alpha"),
            ("root/image.png", "png!"),
            ("root/empty.txt", ""),
            ("root/noext", "no extension"),
            ("root/README", "read me"),
            ("root/sub/index.html", "sub index"),
            ("root/sub/page.html", "page"),
        ] {
            fs::write(tree.path(name), contents).expect("writing a test file");
        }
        symlink("a.txt", tree.path("root/link_in")).expect("symlink link_in");
        symlink("sub", tree.path("root/link_dir")).expect("symlink link_dir");
        symlink("/etc/passwd", tree.path("root/link_out")).expect("symlink link_out");
        symlink("../outside/secret.txt", tree.path("root/link_secret"))
            .expect("symlink link_secret");
        nix::unistd::mkfifo(tree.path("root/fifo").as_str(), Mode::S_IRWXU).expect("mkfifo");
        tree
    }

    /// The absolute path of `relative` inside the tree, as a string.
    fn path(&self, relative: &str) -> String {
        let path: PathBuf = if relative.is_empty() {
            self.base.clone()
        } else {
            self.base.join(relative)
        };
        path.to_str().expect("temporary paths are UTF-8").to_owned()
    }

    /// Absolute paths for several relative ones (a trailing `/` is kept).
    fn paths(&self, relatives: &[&str]) -> Vec<String> {
        relatives
            .iter()
            .map(|relative| match relative.strip_suffix('/') {
                Some(directory) => format!("{}/", self.path(directory)),
                None => self.path(relative),
            })
            .collect()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// A plain `GET /` for `paths` with the default options.
fn get(paths: &[String]) -> ShareRequest<'_> {
    ShareRequest {
        paths,
        index: "index.html",
        chroot: None,
        follow_symlinks: true,
        traverse_mounts: true,
        types: None,
        method: "GET",
        uri: "/",
        query: "",
        if_none_match: None,
        if_modified_since: None,
        arrived: Instant::now(),
    }
}

/// Serves `request` with the built-in MIME table.
fn serve(server: &mut ShareServer, request: &ShareRequest<'_>) -> ShareOutcome {
    server.serve(request, &MimeTypes::new(&[]))
}

/// The status the client would see.
fn status(outcome: &ShareOutcome) -> u16 {
    match outcome {
        ShareOutcome::Response(response) => response.status,
        ShareOutcome::NotFound(status) => *status,
        ShareOutcome::MethodNotAllowed => 405,
        ShareOutcome::Error => 500,
    }
}

/// The response, or a failure naming the outcome.
fn expect_response(outcome: ShareOutcome) -> HttpResponse {
    match outcome {
        ShareOutcome::Response(response) => response,
        other => panic!("expected a response, got {other:?}"),
    }
}

/// A header of `response`, if present.
fn header<'a>(response: &'a HttpResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(header_name, _)| header_name.eq_ignore_ascii_case(name))
        .map(|(_, value)| &**value)
}

/// The bytes the body would send.
fn body_text(response: &HttpResponse) -> String {
    match &response.body {
        Body::Empty => String::new(),
        Body::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Body::File { file, offset, len } => {
            let mut bytes = vec![0; usize::try_from(*len).expect("small test file")];
            file.read_exact_at(&mut bytes, *offset)
                .expect("reading the served file");
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }
}

/// Serves one path with default options and returns the body of a `200`.
fn served_text(server: &mut ShareServer, path: String) -> String {
    let paths = [path];
    let response = expect_response(serve(server, &get(&paths)));
    assert_eq!(response.status, 200);
    body_text(&response)
}

/// How many entries the cache holds.
fn cache_len(server: &ShareServer) -> usize {
    server.cache.len()
}

#[test]
fn serves_a_file_with_headers() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let paths = tree.paths(&["root/a.txt"]);
    let response = expect_response(serve(&mut server, &get(&paths)));
    assert_eq!(response.status, 200);
    assert_eq!(body_text(&response), "alpha");
    assert_eq!(header(&response, "Content-Type"), Some("text/plain"));

    let metadata = fs::metadata(tree.path("root/a.txt")).expect("stat a.txt");
    let etag = format!("\"{:x}-{:x}\"", metadata.mtime(), metadata.len());
    assert_eq!(header(&response, "ETag"), Some(etag.as_str()));
    let modified = UNIX_EPOCH + Duration::from_secs(metadata.mtime().unsigned_abs());
    assert_eq!(
        header(&response, "Last-Modified"),
        Some(http_date(modified).as_str())
    );
    match &response.body {
        // A small file is served from memory.
        Body::Bytes(bytes) => assert_eq!(&bytes[..], b"alpha"),
        other => panic!("expected the content in memory, got {other:?}"),
    }
}

#[test]
fn empty_file_and_unknown_type() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let paths = tree.paths(&["root/empty.txt"]);
    let response = expect_response(serve(&mut server, &get(&paths)));
    assert_eq!(response.status, 200);
    assert!(matches!(response.body, Body::Empty));

    let paths = tree.paths(&["root/noext"]);
    let response = expect_response(serve(&mut server, &get(&paths)));
    assert_eq!(response.status, 200);
    assert_eq!(header(&response, "Content-Type"), None);
    assert_eq!(body_text(&response), "no extension");
}

#[test]
fn mime_overrides_apply_to_served_files() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let overrides = serde_json::json!({ "text/x-readme": ["README"], "text/x-alpha": ".TXT" });
    let mime = MimeTypes::new(&crate::conf::tests::mime_types(overrides));
    let paths = tree.paths(&["root/README"]);
    let response = expect_response(server.serve(&get(&paths), &mime));
    assert_eq!(header(&response, "Content-Type"), Some("text/x-readme"));
    let paths = tree.paths(&["root/a.txt"]);
    let response = expect_response(server.serve(&get(&paths), &mime));
    assert_eq!(header(&response, "Content-Type"), Some("text/x-alpha"));
}

#[test]
fn head_gets_the_get_response() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let paths = tree.paths(&["root/sub/page.html"]);
    let head = ShareRequest {
        method: "HEAD",
        ..get(&paths)
    };
    let head_response = expect_response(serve(&mut server, &head));
    let get_response = expect_response(serve(&mut server, &get(&paths)));
    assert_eq!(head_response.status, 200);
    assert_eq!(head_response.headers, get_response.headers);
    assert_eq!(head_response.body.len(), 4);
    assert_eq!(header(&head_response, "Content-Type"), Some("text/html"));
}

#[test]
fn other_methods_never_touch_the_file_system() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let paths = tree.paths(&["root/a.txt", "root/missing"]);
    for method in ["POST", "PUT", "DELETE", "get", ""] {
        let request = ShareRequest {
            method,
            ..get(&paths)
        };
        assert!(matches!(
            serve(&mut server, &request),
            ShareOutcome::MethodNotAllowed
        ));
    }
    assert_eq!(cache_len(&server), 0);
}

#[test]
fn paths_are_tried_in_order_and_the_last_status_wins() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let paths = tree.paths(&["root/missing.txt", "root/a.txt/x", "root/a.txt"]);
    assert_eq!(
        body_text(&expect_response(serve(&mut server, &get(&paths)))),
        "alpha"
    );

    let mut check = |relatives: &[&str], expected: u16| {
        let paths = tree.paths(relatives);
        let request = ShareRequest {
            follow_symlinks: false,
            ..get(&paths)
        };
        let outcome = serve(&mut server, &request);
        assert!(
            matches!(outcome, ShareOutcome::NotFound(status) if status == expected),
            "{relatives:?}: {outcome:?}"
        );
    };
    check(&["root/missing"], 404);
    check(&["root/a.txt/x"], 404);
    check(&["root/link_in"], 403);
    check(&["root/link_in", "root/missing"], 404);
    check(&["root/missing", "root/link_in"], 403);
    check(&[], 404);
    // Nothing that failed was cached.
    assert_eq!(cache_len(&server), 1);
}

#[test]
fn odd_names_and_special_files_are_not_found() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let too_long = format!("{}/{}", tree.path("root"), "x".repeat(300));
    let with_nul = format!("{}\0.txt", tree.path("root/a.txt"));
    for path in [too_long, with_nul, tree.path("root/fifo")] {
        let paths = [path];
        assert_eq!(status(&serve(&mut server, &get(&paths))), 404, "{paths:?}");
    }
}

#[test]
fn directory_without_slash_is_redirected_with_its_query() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let mut check = |relative: &str, uri: &str, query: &str, location: &str| {
        let paths = tree.paths(&[relative]);
        let request = ShareRequest {
            uri,
            query,
            ..get(&paths)
        };
        let response = expect_response(serve(&mut server, &request));
        assert_eq!(response.status, 301);
        assert_eq!(header(&response, "Location"), Some(location));
        assert!(matches!(response.body, Body::Empty));
    };
    check("root/sub", "/sub", "", "/sub/");
    check("root/sub", "/sub", "a=1&b=%20", "/sub/?a=1&b=%20");
    check("root/link_dir", "/link_dir", "x", "/link_dir/?x");
    check(
        "root/sub",
        "/a b%/\u{e9}",
        "q=1\r\n#",
        "/a%20b%25/%C3%A9/?q=1%0D%0A%23",
    );
}

#[test]
fn trailing_slash_serves_the_index() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let paths = tree.paths(&["root/sub/"]);
    let response = expect_response(serve(&mut server, &get(&paths)));
    assert_eq!(body_text(&response), "sub index");
    assert_eq!(header(&response, "Content-Type"), Some("text/html"));

    let paths = tree.paths(&["root/"]);
    let request = ShareRequest {
        index: "a.txt",
        ..get(&paths)
    };
    assert_eq!(
        body_text(&expect_response(serve(&mut server, &request))),
        "alpha"
    );

    // An index that is a directory, or a file used as a directory, is not found.
    for relative in ["root/weird/", "root/a.txt/"] {
        let paths = tree.paths(&[relative]);
        assert_eq!(status(&serve(&mut server, &get(&paths))), 404, "{relative}");
    }
}

#[test]
fn types_filter_refuses_by_mime_type() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let images = |mime_type: &str| mime_type.starts_with("image/");
    let unknown_only = |mime_type: &str| mime_type.is_empty();
    let mut check = |relatives: &[&str], types: &dyn Fn(&str) -> bool, expected: u16| {
        let paths = tree.paths(relatives);
        let request = ShareRequest {
            types: Some(types),
            ..get(&paths)
        };
        assert_eq!(
            status(&serve(&mut server, &request)),
            expected,
            "{relatives:?}"
        );
    };
    check(&["root/a.txt"], &images, 403);
    check(&["root/image.png"], &images, 200);
    check(&["root/a.txt", "root/image.png"], &images, 200);
    check(&["root/image.png", "root/a.txt"], &images, 200);
    check(&["root/missing.png", "root/a.txt"], &images, 403);
    check(&["root/a.txt", "root/missing.png"], &images, 404);
    check(&["root/noext"], &unknown_only, 200);
    check(&["root/a.txt"], &unknown_only, 403);
    // As in Unit, an index is served whatever its type.
    check(&["root/sub/"], &images, 200);
}

#[test]
fn validators_give_not_modified() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let paths = tree.paths(&["root/a.txt"]);
    let fresh = expect_response(serve(&mut server, &get(&paths)));
    let etag = header(&fresh, "ETag").expect("an ETag").to_owned();
    let last_modified = header(&fresh, "Last-Modified")
        .expect("a Last-Modified")
        .to_owned();
    let long_ago = http_date(UNIX_EPOCH);
    let weak = format!("\"nope\", W/{etag}");

    let mut check =
        |if_none_match: Option<&str>, if_modified_since: Option<&str>, expected: u16| {
            let request = ShareRequest {
                if_none_match: if_none_match.map(str::as_bytes),
                if_modified_since: if_modified_since.map(str::as_bytes),
                ..get(&paths)
            };
            let response = expect_response(serve(&mut server, &request));
            assert_eq!(
                response.status, expected,
                "{if_none_match:?} {if_modified_since:?}"
            );
            assert_eq!(header(&response, "ETag"), Some(etag.as_str()));
            assert_eq!(
                header(&response, "Last-Modified"),
                Some(last_modified.as_str())
            );
            if expected == 304 {
                assert!(matches!(response.body, Body::Empty));
                assert_eq!(header(&response, "Content-Type"), None);
            } else {
                assert_eq!(body_text(&response), "alpha");
            }
        };
    check(Some(&etag), None, 304);
    check(Some("*"), None, 304);
    check(Some(&weak), None, 304);
    check(Some("\"other\""), None, 200);
    check(None, Some(&last_modified), 304);
    check(None, Some("Fri, 31 Dec 9999 23:59:59 GMT"), 304);
    check(None, Some(&long_ago), 200);
    check(None, Some("yesterday"), 200);
    // If-None-Match decides when both are sent.
    check(Some("\"other\""), Some(&last_modified), 200);
    check(Some(&etag), Some(&long_ago), 304);
}

#[test]
fn symlinks_are_refused_when_not_followed() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    // Followed: the control case, proving the links work.
    assert_eq!(served_text(&mut server, tree.path("root/link_in")), "alpha");
    assert_eq!(
        served_text(&mut server, tree.path("root/link_secret")),
        "secret"
    );

    for relative in [
        "root/link_in",
        "root/link_secret",
        "root/link_out",
        "root/link_dir/page.html",
    ] {
        let paths = tree.paths(&[relative]);
        let request = ShareRequest {
            follow_symlinks: false,
            ..get(&paths)
        };
        // The followed answers above are cached; the key keeps them apart.
        let outcome = serve(&mut server, &request);
        assert!(
            matches!(outcome, ShareOutcome::NotFound(403)),
            "{relative}: {outcome:?}"
        );
    }
    let paths = tree.paths(&["root/a.txt"]);
    let request = ShareRequest {
        follow_symlinks: false,
        ..get(&paths)
    };
    assert_eq!(status(&serve(&mut server, &request)), 200);
}

#[test]
fn chroot_confines_resolution() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let root = tree.path("root");
    // Without a chroot this link reaches outside; with one it cannot.
    assert_eq!(
        served_text(&mut server, tree.path("root/link_secret")),
        "secret"
    );
    let mut check = |relative: &str, chroot: &str, follow_symlinks: bool, expected: u16| {
        let paths = [if relative.starts_with('/') {
            relative.to_owned()
        } else {
            tree.path(relative)
        }];
        let request = ShareRequest {
            chroot: Some(chroot),
            follow_symlinks,
            uri: "/x",
            ..get(&paths)
        };
        let outcome = serve(&mut server, &request);
        assert_eq!(
            status(&outcome),
            expected,
            "{relative} in {chroot}: {outcome:?}"
        );
        if let ShareOutcome::Response(response) = &outcome {
            let text = body_text(response);
            assert!(
                !text.contains("secret") && !text.contains("root:"),
                "{text}"
            );
        }
    };
    check("root/link_secret", &root, true, 404);
    check("root/link_out", &root, true, 404);
    check("root/link_out", &root, false, 403);
    check("root/../outside/secret.txt", &root, true, 404);
    check("root/sub/../../outside/secret.txt", &root, true, 404);
    check("root/link_in", &root, true, 200);
    check("root/a.txt", &root, false, 200);
    check("root/sub/page.html", &format!("{root}/sub/"), true, 200);
    check("root/sub/", &format!("{root}/sub"), true, 200);
    // The chroot itself is refused, as in Unit.
    check("root", &root, true, 403);
    // Paths not under the chroot prefix.
    check("outside/secret.txt", &root, true, 403);
    check("root/a.txt", &format!("{root}/sub"), true, 403);
    check("root/subway.txt", &format!("{root}/sub"), true, 403);
    check("/etc/passwd", &root, true, 403);
    // An empty chroot is none.
    check("root/a.txt", "", true, 200);
    // A chroot that does not exist.
    check("root/missing/a.txt", &format!("{root}/missing"), true, 404);
}

#[test]
fn mounts_are_not_crossed_when_asked() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let proc_paths = ["/proc/version".to_owned()];
    assert_eq!(status(&serve(&mut server, &get(&proc_paths))), 200);
    let request = ShareRequest {
        traverse_mounts: false,
        ..get(&proc_paths)
    };
    assert!(matches!(
        serve(&mut server, &request),
        ShareOutcome::NotFound(403)
    ));

    // Beneath a chroot only mounts below it count.
    let paths = tree.paths(&["root/a.txt"]);
    let root = tree.path("root");
    let request = ShareRequest {
        traverse_mounts: false,
        chroot: Some(&root),
        ..get(&paths)
    };
    assert_eq!(status(&serve(&mut server, &request)), 200);
}

#[test]
fn unreadable_files_are_forbidden() {
    if nix::unistd::geteuid().is_root() {
        // Root reads the file regardless of its mode; the errno mapping test covers it.
        return;
    }
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let path = tree.path("root/a.txt");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).expect("chmod");
    let paths = [path];
    assert!(matches!(
        serve(&mut server, &get(&paths)),
        ShareOutcome::NotFound(403)
    ));
}

#[test]
fn errno_mapping() {
    let check =
        |errno: Errno, expected: Failure| assert_eq!(failure_of(errno), expected, "{errno}");
    for errno in [
        Errno::ENOENT,
        Errno::ENOTDIR,
        Errno::ENAMETOOLONG,
        Errno::ENXIO,
    ] {
        check(errno, Failure::Status(404));
    }
    for errno in [Errno::EACCES, Errno::EPERM, Errno::ELOOP, Errno::EXDEV] {
        check(errno, Failure::Status(403));
    }
    // Fail closed when openat2 is missing, and on anything unexpected.
    for errno in [
        Errno::ENOSYS,
        Errno::EAGAIN,
        Errno::EIO,
        Errno::EMFILE,
        Errno::EINVAL,
    ] {
        check(errno, Failure::Error);
    }
}

#[test]
fn paths_beneath_a_chroot() {
    let check = |path: &str, chroot: &str, expected: Option<&str>| {
        assert_eq!(path_beneath(path, chroot), expected, "{path} in {chroot}");
    };
    check("/www/a.html", "/www", Some("a.html"));
    check("/www/a.html", "/www/", Some("a.html"));
    check("/www//a/b", "/www", Some("a/b"));
    check("//www///a", "/www//", Some("a"));
    check(
        "/tmp///assets/////dir/file",
        "/tmp//assets////dir///",
        Some("file"),
    );
    // The chroot itself is not a file beneath it.
    check("/www", "/www", None);
    check("/www/", "/www", None);
    check("/www/../etc", "/www", Some("../etc"));
    check("/wwwx/a", "/www", None);
    check("/dirxfile", "/dir/", None);
    check("/other", "/www", None);
    check("/a", "/", Some("a"));
    check("/", "/", None);
    check("relative", "/", None);
    check("/a", "", None);
}

#[test]
fn if_none_match_lists() {
    let check = |list: &str, expected: bool| {
        assert_eq!(
            etag_list_matches(list.as_bytes(), "\"1-2\""),
            expected,
            "{list}"
        );
    };
    check("\"1-2\"", true);
    check(" \"0-0\" ,\t\"1-2\" ", true);
    check("W/\"1-2\"", true);
    check("*", true);
    check("\"1-3\"", false);
    check("1-2", false);
    check("", false);
}

#[test]
fn cache_reuses_open_files() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let paths = tree.paths(&["root/a.txt"]);
    let first = expect_response(serve(&mut server, &get(&paths)));
    let second = expect_response(serve(&mut server, &get(&paths)));
    match (&first.body, &second.body) {
        (Body::Bytes(first), Body::Bytes(second)) => assert!(Arc::ptr_eq(first, second)),
        other => panic!("expected cached contents, got {other:?}"),
    }
    assert_eq!(cache_len(&server), 1);
}

#[test]
fn cache_is_bounded() {
    let tree = Tree::new();
    let mut server = ShareServer::with_capacity(2);
    for relative in [
        "root/a.txt",
        "root/image.png",
        "root/README",
        "root/sub/page.html",
    ] {
        let paths = tree.paths(&[relative]);
        assert_eq!(status(&serve(&mut server, &get(&paths))), 200);
        assert!(cache_len(&server) <= 2);
    }
    assert_eq!(served_text(&mut server, tree.path("root/a.txt")), "alpha");
}

#[test]
fn cache_notices_replaced_and_removed_files() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let replaced = tree.path("root/sub/page.html");
    let removed = tree.path("root/README");
    let untouched = tree.path("root/a.txt");
    let untouched_paths = [untouched.clone()];
    let file_of = |server: &mut ShareServer, paths: &[String]| match expect_response(serve(
        server,
        &get(paths),
    ))
    .body
    {
        Body::Bytes(content) => content,
        other => panic!("expected cached content, got {other:?}"),
    };

    assert_eq!(served_text(&mut server, replaced.clone()), "page");
    assert_eq!(served_text(&mut server, removed.clone()), "read me");
    let untouched_file = file_of(&mut server, &untouched_paths);

    let staging = tree.path("root/sub/staging");
    fs::write(&staging, "a new page").expect("writing the replacement");
    fs::rename(&staging, &replaced).expect("replacing the page");
    fs::remove_file(&removed).expect("removing README");
    std::thread::sleep(Duration::from_millis(1100));

    assert_eq!(served_text(&mut server, replaced), "a new page");
    let paths = [removed];
    assert!(matches!(
        serve(&mut server, &get(&paths)),
        ShareOutcome::NotFound(404)
    ));
    assert!(Arc::ptr_eq(
        &untouched_file,
        &file_of(&mut server, &untouched_paths)
    ));
    assert_eq!(cache_len(&server), 2);
    assert!(Path::new(&untouched).exists());
}

#[test]
fn large_files_are_sent_from_the_file() {
    let tree = Tree::new();
    let mut server = ShareServer::new();
    let big = tree.path("root/big.bin");
    fs::write(&big, vec![b'z'; 20 * 1024]).expect("writing a large file");
    let paths = [big];
    let response = expect_response(serve(&mut server, &get(&paths)));
    match &response.body {
        Body::File { offset, len, .. } => assert_eq!((*offset, *len), (0, 20 * 1024)),
        other => panic!("expected a file body, got {other:?}"),
    }
    assert_eq!(body_text(&response).len(), 20 * 1024);
}
