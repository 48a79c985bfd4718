//! Tidy checks: house rules that read the workspace's files, run as ordinary tests.
//!
//! Each rule is a small pure checker over text, exercised here on in-memory inputs (so a
//! checker that can never fail is caught), plus one `#[test]` that applies it to the real
//! files, read relative to the workspace root:
//!
//! - every `.rs` file under `crates/*/src` and `xtask/src` opens with a `//!` comment;
//! - workspace crates depend on each other only along the edges in STYLE.md section 1;
//! - the top-level modules of one crate do not import each other in a circle;
//! - tests are never skipped without a reason, nor expected to panic;
//! - no file names a path of the machine it was written on.
//!
//! The checks look at text only; they do not build or parse Rust.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::cmd::workspace_root;

/// The `src` directory of every crate, xtask's included.
fn source_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = crate_dirs(root)
        .into_iter()
        .map(|dir| dir.join("src"))
        .collect();
    dirs.push(root.join("xtask").join("src"));
    dirs
}

// === Module docs ===

#[test]
fn every_source_file_has_module_docs() {
    let root = workspace_root();
    let source_dirs = source_dirs(&root);

    let mut offenders = Vec::new();
    for source_dir in source_dirs {
        for path in files_under(&source_dir) {
            if path.extension().is_some_and(|ext| ext == "rs")
                && !starts_with_module_doc(&read(&path))
            {
                offenders.push(relative(&root, &path));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these files must begin with a `//!` module doc comment:\n  {}",
        offenders.join("\n  ")
    );
}

/// Whether the first non-blank line of `text` is a `//!` comment.
fn starts_with_module_doc(text: &str) -> bool {
    text.lines()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| line.trim_start().starts_with("//!"))
}

// === Dependency edges ===

#[test]
fn workspace_dependencies_follow_the_allowed_edges() {
    let root = workspace_root();
    let mut manifest_paths: Vec<PathBuf> = crate_dirs(&root)
        .into_iter()
        .map(|dir| dir.join("Cargo.toml"))
        .collect();
    manifest_paths.push(root.join("xtask").join("Cargo.toml"));

    let mut manifests = Vec::new();
    for path in &manifest_paths {
        let manifest = parse_manifest(&read(path));
        let Some(name) = manifest.name.clone() else {
            panic!("no [package] name in {}", relative(&root, path));
        };
        manifests.push((name, manifest.dependencies));
    }
    let workspace_crates: Vec<String> = manifests.iter().map(|(name, _)| name.clone()).collect();

    let violations: Vec<String> = manifests
        .iter()
        .flat_map(|(name, dependencies)| forbidden_edges(name, dependencies, &workspace_crates))
        .collect();
    assert!(
        violations.is_empty(),
        "dependency rules (STYLE.md section 1) broken:\n  {}",
        violations.join("\n  ")
    );
}

/// Which workspace crates a crate may depend on.
#[derive(Debug, PartialEq)]
enum AllowedDependencies {
    /// Any workspace crate (the thin `unitd` binary wires them all together).
    Any,
    /// Only these.
    Only(&'static [&'static str]),
}

/// The allowed edges, or `None` for a crate this table does not know yet.
fn allowed_dependencies(crate_name: &str) -> Option<AllowedDependencies> {
    use AllowedDependencies::{Any, Only};
    let allowed = match crate_name {
        "unit-engine" | "unit-conf" | "unit-log" | "unit-http" | "xtask" => Only(&[]),
        "unit-port" => Only(&["unit-engine"]),
        "unit-process" => Only(&["unit-port", "unit-engine"]),
        "unit-runtime" => Only(&[
            "unit-process",
            "unit-port",
            "unit-engine",
            "unit-conf",
            "unit-log",
        ]),
        // TLS reads the model of a listener's `tls` object, and uses the workspace's maps.
        "unit-tls" => Only(&["unit-conf", "unit-engine"]),
        "unit-controller" | "unit-router" => Only(&[
            "unit-http",
            "unit-port",
            "unit-engine",
            "unit-conf",
            "unit-log",
            "unit-tls",
        ]),
        // A language runner frames HTTP and logs as unitd does, and nothing more.
        "unit-python" => Only(&["unit-http", "unit-log"]),
        // The fuzz targets run the parsers of these crates, and nothing depends on it.
        "unit-fuzz" => Only(&[
            "unit-http",
            "unit-conf",
            "unit-port",
            "unit-router",
            "unit-tls",
        ]),
        "unitd" => Any,
        _ => return None,
    };
    Some(allowed)
}

/// One message per dependency of `crate_name` on a workspace crate it may not use.
fn forbidden_edges(
    crate_name: &str,
    dependencies: &[String],
    workspace_crates: &[String],
) -> Vec<String> {
    let allowed = match allowed_dependencies(crate_name) {
        Some(AllowedDependencies::Any) => return Vec::new(),
        Some(AllowedDependencies::Only(allowed)) => allowed,
        None => {
            return vec![format!(
                "{crate_name} has no entry in the table of allowed edges in xtask/src/tidy.rs; \
                 add one (and describe the crate in ARCHITECTURE.md)"
            )];
        }
    };
    dependencies
        .iter()
        .filter(|dependency| workspace_crates.contains(dependency))
        .filter(|dependency| !allowed.contains(&dependency.as_str()))
        .map(|dependency| format!("{crate_name} must not depend on {dependency}"))
        .collect()
}

/// What the tidy checks need from a `Cargo.toml`.
#[derive(Debug, Default, PartialEq)]
struct Manifest {
    /// `[package] name`.
    name: Option<String>,
    /// Package names of all dependencies: normal, dev and build, for every target.
    dependencies: Vec<String>,
}

/// Where a manifest line sits.
enum Section {
    Package,
    /// A table of dependencies, one per key (`[dependencies]`).
    DependencyList,
    /// The table of one dependency (`[dependencies.foo]`); the index is into the list.
    SingleDependency(usize),
    Other,
}

/// A line-based reading of a manifest: enough for the layouts cargo documents, not a
/// TOML parser (multi-line strings and keys containing dots inside quotes are not handled).
fn parse_manifest(text: &str) -> Manifest {
    let mut manifest = Manifest::default();
    let mut section = Section::Other;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            section = section_of(line, &mut manifest);
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = unquote(key.split('.').next().unwrap_or(key));
        match section {
            Section::Package if key == "name" => manifest.name = first_string(value),
            Section::DependencyList => {
                let renamed = value
                    .split_once("package")
                    .and_then(|(_, rest)| rest.trim_start().strip_prefix('='))
                    .and_then(first_string);
                manifest
                    .dependencies
                    .push(renamed.unwrap_or_else(|| key.to_owned()));
            }
            Section::SingleDependency(dependency_idx) if key == "package" => {
                if let Some(package) = first_string(value) {
                    manifest.dependencies[dependency_idx] = package;
                }
            }
            _ => {}
        }
    }
    manifest
}

/// Interprets a `[table]` header, recording a `[dependencies.foo]` dependency.
fn section_of(header: &str, manifest: &mut Manifest) -> Section {
    let header = header.trim_start_matches('[');
    let header = header.split(']').next().unwrap_or(header);
    let segments: Vec<&str> = header.split('.').map(unquote).collect();
    if segments == ["package"] {
        return Section::Package;
    }
    let kind_idx = segments.iter().rposition(|segment| {
        matches!(
            *segment,
            "dependencies" | "dev-dependencies" | "build-dependencies"
        )
    });
    match kind_idx {
        // `[workspace.dependencies]` lists what members may use, not edges.
        Some(_) if segments.first() == Some(&"workspace") => Section::Other,
        Some(kind_idx) if kind_idx + 1 == segments.len() => Section::DependencyList,
        Some(kind_idx) if kind_idx + 2 == segments.len() => {
            manifest
                .dependencies
                .push(segments[kind_idx + 1].to_owned());
            Section::SingleDependency(manifest.dependencies.len() - 1)
        }
        _ => Section::Other,
    }
}

/// `text` trimmed of whitespace and of one pair of surrounding quotes.
fn unquote(text: &str) -> &str {
    let text = text.trim();
    ["\"", "'"]
        .iter()
        .find_map(|quote| text.strip_prefix(quote)?.strip_suffix(quote))
        .unwrap_or(text)
}

/// The contents of the first double-quoted string in `text`.
fn first_string(text: &str) -> Option<String> {
    let (_, rest) = text.split_once('"')?;
    let (string, _) = rest.split_once('"')?;
    Some(string.to_owned())
}

// === Test attributes ===

/// The start of an ignore attribute, split so this file does not match itself.
const IGNORE_ATTRIBUTE: &str = concat!("#[", "ignore");
/// The start of a should-panic attribute, split for the same reason.
const SHOULD_PANIC_ATTRIBUTE: &str = concat!("#[", "should_panic");

#[test]
fn tests_are_neither_skipped_without_reason_nor_expected_to_panic() {
    let root = workspace_root();
    let mut dirs = crate_dirs(&root);
    dirs.push(root.join("xtask"));

    let mut violations = Vec::new();
    for dir in dirs {
        for path in files_under(&dir) {
            if path.extension().is_some_and(|ext| ext == "rs") {
                for (line_number, problem) in forbidden_test_attributes(&read(&path)) {
                    violations.push(format!(
                        "{}:{line_number}: {problem}",
                        relative(&root, &path)
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "test attributes STYLE.md section 8 rules out:\n  {}",
        violations.join("\n  ")
    );
}

/// `(line number, problem)` for each bare ignore or any should-panic attribute in `text`.
fn forbidden_test_attributes(text: &str) -> Vec<(usize, &'static str)> {
    let mut problems = Vec::new();
    for (line_idx, line) in text.lines().enumerate() {
        let bare_ignore = line.match_indices(IGNORE_ATTRIBUTE).any(|(start, _)| {
            line[start + IGNORE_ATTRIBUTE.len()..]
                .trim_start()
                .starts_with(']')
        });
        if bare_ignore {
            problems.push((
                line_idx + 1,
                "an ignore attribute needs a reason: `= \"why\"`",
            ));
        }
        if line.contains(SHOULD_PANIC_ATTRIBUTE) {
            problems.push((
                line_idx + 1,
                "expecting a panic is not allowed; assert on the `Err` instead",
            ));
        }
    }
    problems
}

// === Machine paths ===

#[test]
fn no_file_names_a_machine_path() {
    let root = workspace_root();
    let mut dirs = crate_dirs(&root);
    dirs.push(root.join("xtask"));

    let mut offenders = Vec::new();
    for dir in dirs {
        for path in files_under(&dir) {
            let bytes = fs::read(&path)
                .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
            if contains_machine_path(&bytes) {
                offenders.push(relative(&root, &path));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these files name a path on the development machine ({}); \
         use paths relative to the workspace root or a temporary directory:\n  {}",
        machine_path_needle(),
        offenders.join("\n  ")
    );
}

/// The machine-specific path prefix, built from pieces so this file does not contain it.
fn machine_path_needle() -> String {
    ["/wo", "rk/"].concat()
}

/// Whether `bytes` contain the machine path prefix anywhere.
fn contains_machine_path(bytes: &[u8]) -> bool {
    let needle = machine_path_needle();
    bytes
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

// === Module cycles ===

#[test]
fn modules_of_a_crate_import_no_circle() {
    let root = workspace_root();
    let source_dirs = source_dirs(&root);
    let mut cycles = Vec::new();
    for source_dir in source_dirs {
        let sources: Vec<(String, String)> = files_under(&source_dir)
            .into_iter()
            .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
            .filter_map(|path| {
                let module = top_level_module(&source_dir, &path)?;
                Some((module, read(&path)))
            })
            .collect();
        if let Some(cycle) = find_cycle(&module_edges(&sources)) {
            cycles.push(format!(
                "{}: {}",
                relative(&root, &source_dir),
                cycle.join(" -> ")
            ));
        }
    }
    assert!(
        cycles.is_empty(),
        "these modules import each other in a circle:\n  {}",
        cycles.join("\n  ")
    );
}

/// The top-level module a source file belongs to (`routes` for `src/routes/action.rs`);
/// `None` for the crate root and for test-only files, whose imports are not the crate's
/// structure.
fn top_level_module(source_dir: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(source_dir).ok()?;
    if path.file_name().is_some_and(|name| name == "tests.rs") {
        return None;
    }
    let first = relative.components().next()?.as_os_str().to_string_lossy();
    let module = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (!matches!(module.as_str(), "lib" | "main")).then_some(module)
}

/// The edges `from -> to` between top-level modules that `crate::to` paths make, in the
/// text of each module before its `#[cfg(test)]` part.
fn module_edges(sources: &[(String, String)]) -> BTreeSet<(String, String)> {
    let mut edges = BTreeSet::new();
    for (module, text) in sources {
        // Comments (doc links among them) name modules without importing them.
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let targets: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                group[..end]
                    .split(',')
                    .map(|item| item.trim().split("::").next().unwrap_or_default())
                    .collect()
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                vec![&rest[..end]]
            };
            for target in targets {
                if !target.is_empty() && target != module && target != "self" {
                    edges.insert((module.clone(), target.to_owned()));
                }
            }
        }
    }
    edges
}

/// A circle of modules in `edges`, as the path that closes it, if there is one.
fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges {
        next.entry(from).or_default().push(to);
    }
    fn visit<'a>(
        node: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|seen| *seen == node) {
            let mut cycle: Vec<String> = path[start..].iter().map(|n| (*n).to_owned()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for to in next.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(to, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    for start in next.keys() {
        if let Some(cycle) = visit(start, &next, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

// === Walking the workspace ===

/// The directories of the crates under `crates/`, sorted.
fn crate_dirs(root: &Path) -> Vec<PathBuf> {
    let crates = root.join("crates");
    let entries = fs::read_dir(&crates)
        .unwrap_or_else(|error| panic!("reading {}: {error}", crates.display()));
    let mut dirs: Vec<PathBuf> = entries
        .map(|entry| entry.expect("reading an entry of crates/").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Every regular file below `dir`, sorted, skipping `target` and hidden directories and
/// not following symbolic links. A missing `dir` yields nothing.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()));
            let file_type = entry
                .file_type()
                .unwrap_or_else(|error| panic!("reading {}: {error}", entry.path().display()));
            let name = entry.file_name();
            let skipped_dir = name == "target" || name.to_string_lossy().starts_with('.');
            if file_type.is_dir() && !skipped_dir {
                pending.push(entry.path());
            } else if file_type.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

// === Checks of the checkers ===

#[test]
fn module_doc_checker() {
    fn check(text: &str, expected: bool) {
        assert_eq!(starts_with_module_doc(text), expected, "for {text:?}");
    }
    check("//! Docs.\nfn f() {}\n", true);
    check("\n\n  \n//! Docs after blank lines.\n", true);
    check("", false);
    check("\n\n", false);
    check("/// Item docs, not module docs.\nfn f() {}\n", false);
    check("// A plain comment.\n//! Docs too late.\n", false);
    check(
        "#![forbid(unsafe_code)]\n//! Docs after an attribute.\n",
        false,
    );
    check("use std::fs;\n", false);
}

#[test]
fn manifest_parser() {
    fn check(text: &str, name: Option<&str>, dependencies: &[&str]) {
        let expected = Manifest {
            name: name.map(str::to_owned),
            dependencies: dependencies.iter().map(|d| (*d).to_owned()).collect(),
        };
        assert_eq!(parse_manifest(text), expected, "for {text:?}");
    }
    check(
        "[package]\nname = \"unit-port\" # the name\nversion.workspace = true\n\n\
         [lints]\nworkspace = true\n\n\
         [dependencies]\n# unit-log = { workspace = true }\nunit-engine = { workspace = true }\n\
         nix.workspace = true\n\n\
         [dev-dependencies]\n\"unit-conf\" = \"1\"\n",
        Some("unit-port"),
        &["unit-engine", "nix", "unit-conf"],
    );
    check(
        "[package]\nname = \"a\"\n[target.'cfg(unix)'.dependencies]\nunit-log = { workspace = true }\n\
         [build-dependencies]\nunit-http = { path = \"../unit-http\" }\n",
        Some("a"),
        &["unit-log", "unit-http"],
    );
    check(
        "[package]\nname = \"a\"\n[dependencies]\nengine = { package = \"unit-engine\", workspace = true }\n",
        Some("a"),
        &["unit-engine"],
    );
    check(
        "[dependencies.unit-port]\nworkspace = true\n[dev-dependencies.port2]\npackage = \"unit-port\"\n",
        None,
        &["unit-port", "unit-port"],
    );
    check(
        "[workspace.dependencies]\nunit-engine = { path = \"crates/unit-engine\" }\n\
         [[bin]]\nname = \"unitd\"\npath = \"src/main.rs\"\n",
        None,
        &[],
    );
}

#[test]
fn dependency_edge_checker() {
    fn check(crate_name: &str, dependencies: &[&str], expected: &[&str]) {
        let workspace_crates: Vec<String> = [
            "unit-engine",
            "unit-conf",
            "unit-log",
            "unit-http",
            "unit-port",
            "unit-process",
            "unit-runtime",
            "unit-controller",
            "unit-router",
            "unitd",
            "xtask",
        ]
        .map(str::to_owned)
        .to_vec();
        let dependencies: Vec<String> = dependencies.iter().map(|d| (*d).to_owned()).collect();
        assert_eq!(
            forbidden_edges(crate_name, &dependencies, &workspace_crates),
            expected,
            "for {crate_name} -> {dependencies:?}"
        );
    }
    check("unit-engine", &["mio", "nix"], &[]);
    check(
        "unit-engine",
        &["unit-port"],
        &["unit-engine must not depend on unit-port"],
    );
    check("unit-port", &["unit-engine", "nix"], &[]);
    check(
        "unit-port",
        &["unit-engine", "unit-log"],
        &["unit-port must not depend on unit-log"],
    );
    check(
        "unit-runtime",
        &[
            "unit-process",
            "unit-port",
            "unit-engine",
            "unit-conf",
            "unit-log",
        ],
        &[],
    );
    check(
        "unit-controller",
        &["unit-http", "unit-router", "unit-runtime"],
        &[
            "unit-controller must not depend on unit-router",
            "unit-controller must not depend on unit-runtime",
        ],
    );
    check(
        "unit-router",
        &["unit-controller"],
        &["unit-router must not depend on unit-controller"],
    );
    check(
        "unitd",
        &["unit-runtime", "unit-controller", "unit-router", "anyhow"],
        &[],
    );
    check(
        "xtask",
        &["anyhow", "clap", "unit-conf"],
        &["xtask must not depend on unit-conf"],
    );
    let unknown = forbidden_edges("unit-new", &[], &[]);
    assert_eq!(unknown.len(), 1, "an unknown crate must be reported");
    assert!(unknown[0].starts_with("unit-new has no entry"));
}

#[test]
fn test_attribute_checker() {
    fn check(text: &str, expected_lines: &[usize]) {
        let lines: Vec<usize> = forbidden_test_attributes(text)
            .into_iter()
            .map(|(line_number, _)| line_number)
            .collect();
        assert_eq!(lines, expected_lines, "for {text:?}");
    }
    let ignore = IGNORE_ATTRIBUTE;
    let should_panic = SHOULD_PANIC_ATTRIBUTE;
    check("#[test]\nfn f() {}\n", &[]);
    check(&format!("#[test]\n{ignore}]\nfn f() {{}}\n"), &[2]);
    check(&format!("{ignore} ]\n"), &[1]);
    check(&format!("{ignore} = \"needs root\"]\n"), &[]);
    check(&format!("{ignore}=\"slow\"]\n{ignore}]\n"), &[2]);
    check(&format!("{should_panic}]\n"), &[1]);
    check(&format!("{should_panic}(expected = \"boom\")]\n"), &[1]);
    check(&format!("#[test] {ignore}] {should_panic}]\n"), &[1, 1]);
    check("#[ignored_attribute]\nfn ignore() {}\n", &[]);
}

#[test]
fn machine_path_checker() {
    fn check(text: &str, expected: bool) {
        assert_eq!(
            contains_machine_path(text.as_bytes()),
            expected,
            "for {text:?}"
        );
    }
    let needle = machine_path_needle();
    check("let path = tempdir.path().join(\"state\");", false);
    check("/workspace and work/ are fine", false);
    check(&needle, true);
    check(&format!("const ROOT: &str = \"{needle}main\";"), true);
    check(&format!("x\n# comment {needle}\n"), true);
}

#[test]
fn module_cycle_checker() {
    fn sources(files: &[(&str, &str)]) -> Vec<(String, String)> {
        files
            .iter()
            .map(|(module, text)| ((*module).to_owned(), (*text).to_owned()))
            .collect()
    }
    let edges = module_edges(&sources(&[
        (
            "worker",
            "use crate::connection::Connection;\nuse crate::{conf::A, http};\n",
        ),
        (
            "connection",
            "use crate::conf::ActiveConf;\nfn f() { crate::http::x(); }\n",
        ),
        (
            "conf",
            "use crate::conf::Inner;\n#[cfg(test)]\nmod tests { use crate::worker::W; }\n",
        ),
    ]));
    let edge = |from: &str, to: &str| (from.to_owned(), to.to_owned());
    assert_eq!(
        edges,
        BTreeSet::from([
            edge("connection", "conf"),
            edge("connection", "http"),
            edge("worker", "conf"),
            edge("worker", "connection"),
            edge("worker", "http"),
        ])
    );
    assert_eq!(find_cycle(&edges), None);
    let circle = module_edges(&sources(&[
        ("router", "use crate::worker::spawn;\n"),
        ("worker", "use crate::connection::Connection;\n"),
        ("connection", "use crate::router::Counters;\n"),
    ]));
    assert_eq!(
        find_cycle(&circle),
        Some(
            ["connection", "router", "worker", "connection"]
                .map(String::from)
                .to_vec()
        )
    );
    let source_dir = Path::new("/src");
    assert_eq!(
        top_level_module(source_dir, Path::new("/src/routes/action.rs")).as_deref(),
        Some("routes")
    );
    assert_eq!(
        top_level_module(source_dir, Path::new("/src/routes/tests.rs")),
        None
    );
    assert_eq!(top_level_module(source_dir, Path::new("/src/lib.rs")), None);
}
