//! Real frameworks from PyPI through the real unitd and runner: a Flask and a Django
//! application over WSGI, and a FastAPI one (on Starlette) over ASGI with its lifespan,
//! a streaming response and a WebSocket, each unchanged and laid out as the framework's
//! documentation lays a project out, with the framework in a virtual environment given
//! as `home`.
//!
//! Each framework's virtual environment is built once, by pip from the package
//! registry, and kept under the target directory for later runs. When pip cannot
//! install it (no registry), the test says so and skips; every other failure fails.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use serde_json::{Value, json};
use support::TestUnit;
use support::apps::configure_app;
use support::http::{HttpReply, connect, dechunk, exchange, read_reply};
use support::python::{start_unit, write_app};
use support::websocket::{client_frame, server_frame};

/// A framework as the tests install it.
struct Framework {
    /// Names its virtual environment's directory.
    name: &'static str,
    /// What pip installs, held to one major version so that a new release cannot
    /// change unseen what a test exercises.
    requirements: &'static [&'static str],
    /// Its virtual environment, or why pip could not install it, once this test
    /// binary has asked; the lock also keeps two tests from building it at once.
    venv: OnceLock<Result<PathBuf, String>>,
}

static FLASK: Framework = Framework {
    name: "flask",
    requirements: &["flask>=3,<4"],
    venv: OnceLock::new(),
};

static DJANGO: Framework = Framework {
    name: "django",
    requirements: &["django>=4.2,<6"],
    venv: OnceLock::new(),
};

static FASTAPI: Framework = Framework {
    name: "fastapi",
    requirements: &["fastapi>=0.100,<1"],
    venv: OnceLock::new(),
};

/// FastAPI with uvloop, whose event loop policy the application sets.
static FASTAPI_UVLOOP: Framework = Framework {
    name: "fastapi-uvloop",
    requirements: &["fastapi>=0.100,<1", "uvloop>=0.19,<1"],
    venv: OnceLock::new(),
};

/// The file, inside a finished virtual environment, that says what it was built from;
/// written last, so a directory without it is not a usable environment.
const MARKER: &str = "unitd-test-installed.txt";

/// The Python the runner was built against (`cargo xtask` names it in `PYO3_PYTHON`).
fn python() -> String {
    std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// The framework's virtual environment, built on first use or reused from an earlier
/// run; `None`, with the skip line, when pip could not install the framework.
fn framework_venv(test: &str, framework: &'static Framework) -> Option<&'static Path> {
    match framework
        .venv
        .get_or_init(|| build_or_reuse_venv(framework))
    {
        Ok(venv) => Some(venv),
        Err(reason) => {
            support::skip(test, reason);
            None
        }
    }
}

/// What a finished environment's marker holds: the interpreter it was made with and
/// the requirements, so that a change of either builds it again.
fn marker_text(framework: &Framework) -> String {
    let interpreter = Command::new(python())
        .args([
            "-c",
            "import sys; print(sys.executable); print(sys.version)",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("running the Python the runner was built against");
    assert!(
        interpreter.status.success(),
        "{} could not report its version: {}",
        python(),
        String::from_utf8_lossy(&interpreter.stderr)
    );
    format!(
        "{}{}\n",
        String::from_utf8_lossy(&interpreter.stdout),
        framework.requirements.join("\n")
    )
}

fn is_finished(venv: &Path, marker: &str) -> bool {
    fs::read_to_string(venv.join(MARKER)).is_ok_and(|text| text == marker)
}

/// The directory holding the environments, which the tests create and open to others:
/// as root, unitd runs the application as `nobody`, which must reach into it.
fn venvs_root() -> PathBuf {
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let root = target_tmp.join("python-frameworks");
    fs::create_dir_all(&root).expect("creating the virtual environments' directory");
    // Only the directory itself: the environments in it are opened as they are built.
    add_mode(&root, 0o005);
    if support::is_root() {
        // The directories above are not the tests' to change: they are only checked,
        // so that an unreachable one fails here, named, rather than as an import error.
        let real =
            fs::canonicalize(target_tmp).expect("resolving the target's temporary directory");
        for directory in real.ancestors() {
            let mode = fs::metadata(directory)
                .expect("the target directory's ancestors")
                .permissions()
                .mode();
            assert!(
                mode & 0o001 != 0,
                "{} is not searchable by others (mode {mode:o}): applications run as nobody \
                 could not reach the virtual environments below it; `chmod o+x` it",
                directory.display()
            );
        }
    }
    root
}

/// Builds the framework's environment unless a finished one for the same interpreter
/// and requirements is already in place.
fn build_or_reuse_venv(framework: &Framework) -> Result<PathBuf, String> {
    let root = venvs_root();
    let venv = root.join(format!("{}-venv", framework.name));
    let marker = marker_text(framework);
    if is_finished(&venv, &marker) {
        return Ok(venv);
    }
    remove_abandoned_builds(&root, framework);
    // Built under a name of this process and renamed into place when finished, so that
    // test binaries running at once never use a half-built environment.
    let building = root.join(format!(
        "{}-venv.building-{}",
        framework.name,
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&building);
    let made = Command::new(python())
        .args(["-m", "venv"])
        .arg(&building)
        .stdin(Stdio::null())
        .output()
        .expect("running python -m venv");
    assert!(
        made.status.success(),
        "python -m venv {} failed: {}",
        building.display(),
        String::from_utf8_lossy(&made.stderr)
    );
    // pip is run as a module of the environment's interpreter rather than as
    // `bin/pip`, whose `#!` line names the build directory and may be too long.
    let installed = Command::new(building.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "-q",
        ])
        .args(framework.requirements)
        .stdin(Stdio::null())
        .output()
        .expect("running pip");
    if !installed.status.success() {
        let _ = fs::remove_dir_all(&building);
        let stderr = String::from_utf8_lossy(&installed.stderr);
        let last_lines: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(format!(
            "pip could not install {} (is the package registry reachable?): {}",
            framework.requirements.join(" "),
            last_lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    open_to_others(&building);
    fs::write(building.join(MARKER), &marker).expect("writing the environment's marker");
    open_to_others(&building.join(MARKER));
    if venv.exists() {
        // Another build's leftover for other requirements, or a finished one that a
        // test binary running at once renamed into place meanwhile.
        if is_finished(&venv, &marker) {
            let _ = fs::remove_dir_all(&building);
            return Ok(venv);
        }
        fs::remove_dir_all(&venv).expect("removing an outdated virtual environment");
    }
    match fs::rename(&building, &venv) {
        Ok(()) => Ok(venv),
        Err(_) if is_finished(&venv, &marker) => {
            let _ = fs::remove_dir_all(&building);
            Ok(venv)
        }
        Err(error) => panic!(
            "renaming {} to {}: {error}",
            building.display(),
            venv.display()
        ),
    }
}

/// Removes this framework's build directories whose process is gone (a run that was
/// killed while pip worked).
fn remove_abandoned_builds(root: &Path, framework: &Framework) {
    let prefix = format!("{}-venv.building-", framework.name);
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(&prefix))
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if !support::process_alive(Pid::from_raw(pid)) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Lets others read `path` and everything below it, and search its directories,
/// keeping executables executable. Symbolic links are never followed: the
/// environment's `bin/python` is one, to the system's interpreter.
fn open_to_others(path: &Path) {
    let Ok(metadata) = fs::symlink_metadata(path) else {
        return;
    };
    let file_type = metadata.file_type();
    if file_type.is_symlink() {
        return;
    }
    let executable = metadata.permissions().mode() & 0o100 != 0;
    add_mode(
        path,
        if file_type.is_dir() || executable {
            0o005
        } else {
            0o004
        },
    );
    if file_type.is_dir() {
        let entries = fs::read_dir(path)
            .unwrap_or_else(|error| panic!("listing {}: {error}", path.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|error| panic!("listing {}: {error}", path.display()));
            open_to_others(&entry.path());
        }
    }
}

/// Adds the permission `bits` to what `path` (not a symbolic link) has.
fn add_mode(path: &Path, bits: u32) {
    let mode = fs::symlink_metadata(path)
        .unwrap_or_else(|error| panic!("the mode of {}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o7777;
    if mode & bits != bits {
        fs::set_permissions(path, fs::Permissions::from_mode(mode | bits))
            .unwrap_or_else(|error| panic!("chmod {}: {error}", path.display()));
    }
}

/// A request for `path` with a body (when not empty) of type `content_type`, closing
/// the connection after the answer.
fn request(method: &str, path: &str, host: &str, content_type: &str, body: &str) -> String {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    request
}

fn get(port: u16, path: &str) -> HttpReply {
    exchange(port, &request("GET", path, "localhost", "", ""))
}

fn post(port: u16, path: &str, content_type: &str, body: &str) -> HttpReply {
    exchange(
        port,
        &request("POST", path, "localhost", content_type, body),
    )
}

fn json_of(reply: &HttpReply) -> Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {reply:?}"))
}

fn content_type(reply: &HttpReply) -> String {
    reply.header("Content-Type").unwrap_or_default()
}

// --- Flask ---

/// The Flask tutorial's layout: a package whose `create_app` factory registers a
/// blueprint of views.
const FLASK_INIT: &str = r#"from flask import Flask


def create_app():
    app = Flask(__name__)
    app.config.from_mapping(GREETING="Hello")

    from . import views

    app.register_blueprint(views.bp)
    return app
"#;

const FLASK_VIEWS: &str = r#"from flask import Blueprint, current_app, request, url_for

bp = Blueprint("shop", __name__)


@bp.get("/")
def index():
    name = request.args.get("name", "world")
    return f"{current_app.config['GREETING']}, {name}!"


@bp.get("/items/<int:item_id>")
def item(item_id):
    return {"id": item_id, "url": url_for("shop.item", item_id=item_id, _external=True)}


@bp.post("/orders")
def order():
    if request.is_json:
        data, via = request.get_json(), "json"
    else:
        data, via = request.form, "form"
    answer = {"via": via, "item": data["item"], "quantity": int(data["quantity"])}
    if "note" in data:
        answer["note_length"] = len(data["note"])
    return answer, 201
"#;

#[test]
fn flask_serves_text_json_forms_and_json_bodies_from_its_factory() {
    let test = "python_flask";
    let Some(unit) = start_unit(test) else {
        return;
    };
    let Some(venv) = framework_venv(test, &FLASK) else {
        return;
    };
    let project = write_app(
        unit.paths.dir.path(),
        "flask-project",
        &[
            ("shop/__init__.py", FLASK_INIT),
            ("shop/views.py", FLASK_VIEWS),
        ],
    );
    let port = configure_app(
        &unit,
        json!({
            "type": "python",
            "path": project.display().to_string(),
            "home": venv.display().to_string(),
            "module": "shop",
            "callable": "create_app",
            "factory": true,
            "prefix": "/shop",
        }),
    );

    let greeting = get(port, "/shop/?name=Ada");
    assert_eq!(greeting.status, 200, "{}", unit.log_text());
    assert_eq!(greeting.text(), "Hello, Ada!");
    assert_eq!(content_type(&greeting), "text/html; charset=utf-8");

    // url_for builds from the Host header and the prefix unitd put in SCRIPT_NAME.
    let item = exchange(
        port,
        &request("GET", "/shop/items/7", "shop.example:8080", "", ""),
    );
    assert_eq!(item.status, 200);
    assert_eq!(content_type(&item), "application/json");
    assert_eq!(
        json_of(&item),
        json!({"id": 7, "url": "http://shop.example:8080/shop/items/7"})
    );

    let form = post(
        port,
        "/shop/orders",
        "application/x-www-form-urlencoded",
        "item=tea+cup%21&quantity=2",
    );
    assert_eq!(form.status, 201, "{}", form.text());
    assert_eq!(content_type(&form), "application/json");
    assert_eq!(
        json_of(&form),
        json!({"via": "form", "item": "tea cup!", "quantity": 2})
    );

    // A body larger than one read, so Flask's parser pulls wsgi.input more than once.
    let note = "n".repeat(200_000);
    let body = json!({"item": "kettle", "quantity": 3, "note": note}).to_string();
    let ordered = post(port, "/shop/orders", "application/json", &body);
    assert_eq!(ordered.status, 201, "{}", ordered.text());
    assert_eq!(
        json_of(&ordered),
        json!({"via": "json", "item": "kettle", "quantity": 3, "note_length": 200_000})
    );

    let missing = get(port, "/shop/no/such/page");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("Not Found"), "{}", missing.text());
    let wrong_method = get(port, "/shop/orders");
    assert_eq!(wrong_method.status, 405);
}

// --- Django ---

/// `django-admin startproject mysite` and `startapp polls`, trimmed to what a
/// project without a database needs.
const DJANGO_MANAGE: &str = r#"#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
"#;

const DJANGO_SETTINGS: &str = r#"from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "only-for-a-test-and-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = ["polls"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

# No database: the views do not need one.
DATABASES = {}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
"#;

const DJANGO_URLS: &str = r#"from django.urls import include, path

urlpatterns = [
    path("polls/", include("polls.urls")),
]
"#;

const DJANGO_WSGI: &str = r#"
"""
WSGI config for mysite project.

It exposes the WSGI callable as a module-level variable named ``application``.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()
"#;

const DJANGO_POLLS_APPS: &str = r#"from django.apps import AppConfig


class PollsConfig(AppConfig):
    name = "polls"
"#;

const DJANGO_POLLS_URLS: &str = r#"from django.urls import path

from . import views

app_name = "polls"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:question_id>/", views.detail, name="detail"),
    path("<int:question_id>/vote/", views.vote, name="vote"),
]
"#;

const DJANGO_POLLS_VIEWS: &str = r#"from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_POST


def index(request):
    return HttpResponse("Hello from the polls index.", content_type="text/plain")


def detail(request, question_id):
    url = request.build_absolute_uri(reverse("polls:detail", args=[question_id]))
    return JsonResponse({"question": question_id, "q": request.GET.get("q"), "url": url})


@require_POST
def vote(request, question_id):
    return JsonResponse({"question": question_id, "choice": request.POST["choice"]})
"#;

#[test]
fn django_serves_its_views_and_answers_404_redirects_and_bad_hosts() {
    let test = "python_django";
    let Some(unit) = start_unit(test) else {
        return;
    };
    let Some(venv) = framework_venv(test, &DJANGO) else {
        return;
    };
    let project = write_app(
        unit.paths.dir.path(),
        "mysite",
        &[
            ("manage.py", DJANGO_MANAGE),
            ("mysite/__init__.py", ""),
            ("mysite/settings.py", DJANGO_SETTINGS),
            ("mysite/urls.py", DJANGO_URLS),
            ("mysite/wsgi.py", DJANGO_WSGI),
            ("polls/__init__.py", ""),
            ("polls/apps.py", DJANGO_POLLS_APPS),
            ("polls/urls.py", DJANGO_POLLS_URLS),
            ("polls/views.py", DJANGO_POLLS_VIEWS),
        ],
    );
    // As Unit's documentation configures a startproject layout: the project root on
    // the path, and the settings named by wsgi.py itself.
    let port = configure_app(
        &unit,
        json!({
            "type": "python",
            "path": project.display().to_string(),
            "home": venv.display().to_string(),
            "module": "mysite.wsgi",
        }),
    );

    let index = get(port, "/polls/");
    assert_eq!(index.status, 200, "{}", unit.log_text());
    assert_eq!(index.text(), "Hello from the polls index.");
    assert_eq!(content_type(&index), "text/plain");

    let detail = get(port, "/polls/3/?q=why%20not");
    assert_eq!(detail.status, 200, "{}", detail.text());
    assert_eq!(content_type(&detail), "application/json");
    assert_eq!(
        json_of(&detail),
        json!({"question": 3, "q": "why not", "url": "http://localhost/polls/3/"})
    );

    let vote = post(
        port,
        "/polls/3/vote/",
        "application/x-www-form-urlencoded",
        "choice=blue",
    );
    assert_eq!(vote.status, 200, "{}", vote.text());
    assert_eq!(json_of(&vote), json!({"question": 3, "choice": "blue"}));
    assert_eq!(get(port, "/polls/3/vote/").status, 405);

    // CommonMiddleware's APPEND_SLASH, from the path unitd gave.
    let redirect = get(port, "/polls/3?q=1");
    assert_eq!(redirect.status, 301);
    assert_eq!(
        redirect.header("Location").as_deref(),
        Some("/polls/3/?q=1")
    );

    let missing = get(port, "/no/such/page/");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("Not Found"), "{}", missing.text());

    // ALLOWED_HOSTS is checked against the Host header unitd passed on.
    let foreign = exchange(port, &request("GET", "/polls/", "evil.example", "", ""));
    assert_eq!(foreign.status, 400);
}

// --- FastAPI ---

/// FastAPI's "bigger applications" layout: an `app` package with `main.py` and a
/// router module.
const FASTAPI_MAIN: &str = r#"import asyncio
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from .routers import items


@asynccontextmanager
async def lifespan(app: FastAPI):
    await asyncio.sleep(0)
    app.state.warmed_up = "by the lifespan startup"
    yield
    with open(os.environ["SHUTDOWN_FILE"], "w") as marker:
        marker.write("shut down")


app = FastAPI(lifespan=lifespan)
app.include_router(items.router)


@app.get("/")
async def root(request: Request):
    return {"message": "Hello from FastAPI", "warmed_up": request.app.state.warmed_up}


@app.get("/stream")
async def stream():
    async def lines():
        yield "first\n"
        await asyncio.sleep(2)
        yield "second\n"

    return StreamingResponse(lines(), media_type="text/plain")


@app.websocket("/ws")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            if text == "bye":
                await websocket.close(code=4000, reason="goodbye")
                return
            await websocket.send_text(f"echo: {text}")
    except WebSocketDisconnect:
        pass
"#;

const FASTAPI_ITEMS: &str = r#"from typing import List, Optional

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(prefix="/items")


class Item(BaseModel):
    name: str
    price: float
    tags: List[str] = []


@router.get("/{item_id}")
async def read_item(item_id: int, q: Optional[str] = None):
    return {"item_id": item_id, "q": q}


@router.post("")
async def create_item(item: Item):
    return item
"#;

/// Reads from `stream` until what arrived contains `needle`; all that arrived.
fn read_until(stream: &mut impl Read, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let read = stream.read(&mut buffer).expect("reading the answer");
        assert!(
            read > 0,
            "closed before {needle:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Opens a WebSocket to `path`; the stream after the 101 answer.
fn open_websocket(port: u16, path: &str) -> std::net::TcpStream {
    let mut stream = connect(port);
    stream
        .write_all(
            format!(
                "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("sending the handshake");
    let reply = read_reply(&mut stream, false).expect("the handshake's answer");
    assert_eq!(reply.status, 101, "{reply:?}");
    assert_eq!(
        reply.header("Sec-WebSocket-Accept").as_deref(),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    stream
}

/// Asserts that the server closed the connection after its close frame, as RFC 6455
/// has a server do.
fn assert_closed(stream: &mut std::net::TcpStream) {
    let mut byte = [0u8; 1];
    let read = stream.read(&mut byte);
    assert!(
        matches!(read, Ok(0)),
        "the connection stayed open after the close frame: {read:?}"
    );
}

/// unitd serving the FastAPI project, with its port and the file its lifespan
/// shutdown writes; `None` when the test is skipped.
/// The FastAPI project's package set up to run on uvloop, as a Unit user does it:
/// the event loop policy, set when the application is imported.
const UVLOOP_POLICY: &str = "import asyncio\n\nimport uvloop\n\n\
                             asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())\n";

/// Starts the FastAPI project with `framework`'s environment; `package_init` is its
/// package's `__init__.py`.
fn start_fastapi(
    test: &str,
    framework: &'static Framework,
    package_init: &str,
) -> Option<(TestUnit, u16, PathBuf)> {
    let unit = start_unit(test)?;
    let venv = framework_venv(test, framework)?;
    let project = write_app(
        unit.paths.dir.path(),
        "fastapi-project",
        &[
            ("app/__init__.py", package_init),
            ("app/main.py", FASTAPI_MAIN),
            ("app/routers/__init__.py", ""),
            ("app/routers/items.py", FASTAPI_ITEMS),
        ],
    );
    // The application runs as nobody when the test runs as root: its shutdown marker
    // goes where anyone may write.
    let markers = unit.paths.dir.path().join("markers");
    fs::create_dir(&markers).expect("the markers directory");
    fs::set_permissions(&markers, fs::Permissions::from_mode(0o777)).expect("chmod markers");
    let shutdown_marker = markers.join("shutdown");
    let port = configure_app(
        &unit,
        json!({
            "type": "python",
            "path": project.display().to_string(),
            "home": venv.display().to_string(),
            "module": "app.main",
            "callable": "app",
            "environment": {"SHUTDOWN_FILE": shutdown_marker.display().to_string()},
        }),
    );
    Some((unit, port, shutdown_marker))
}

/// What the runner logs of event loops that are not asyncio's own.
const LOOP_LINE: &str = "ASGI event loops:";

#[test]
fn fastapi_serves_json_streams_its_lifespan_and_a_websocket() {
    let Some((unit, port, shutdown_marker)) = start_fastapi("python_fastapi", &FASTAPI, "") else {
        return;
    };
    exercise_fastapi(&unit, port, &shutdown_marker);
    assert!(!unit.log_text().contains(LOOP_LINE), "{}", unit.log_text());
}

/// An application that sets uvloop's event loop policy runs on uvloop's loops, and
/// behaves the same on them.
#[test]
fn fastapi_on_uvloop_serves_the_same() {
    let Some((unit, port, shutdown_marker)) =
        start_fastapi("python_fastapi_uvloop", &FASTAPI_UVLOOP, UVLOOP_POLICY)
    else {
        return;
    };
    let uvloop_line = format!("{LOOP_LINE} uvloop.Loop");
    assert!(
        support::wait_until(|| unit.log_text().contains(&uvloop_line)),
        "{}",
        unit.log_text()
    );
    exercise_fastapi(&unit, port, &shutdown_marker);
}

/// JSON in and out, validation, a stream, WebSocket messages and closes, and the
/// lifespan's shutdown once the application is removed.
fn exercise_fastapi(unit: &TestUnit, port: u16, shutdown_marker: &Path) {
    let root = get(port, "/");
    assert_eq!(root.status, 200, "{root:?}\n{}", unit.log_text());
    assert_eq!(content_type(&root), "application/json");
    assert_eq!(
        json_of(&root),
        json!({"message": "Hello from FastAPI", "warmed_up": "by the lifespan startup"})
    );

    let item = get(port, "/items/42?q=green");
    assert_eq!(item.status, 200, "{}", item.text());
    assert_eq!(json_of(&item), json!({"item_id": 42, "q": "green"}));
    let not_a_number = get(port, "/items/forty-two");
    assert_eq!(not_a_number.status, 422, "{}", not_a_number.text());

    let created = post(
        port,
        "/items",
        "application/json",
        r#"{"name": "Tea", "price": 3.5, "tags": ["hot"]}"#,
    );
    assert_eq!(created.status, 200, "{}", created.text());
    assert_eq!(
        json_of(&created),
        json!({"name": "Tea", "price": 3.5, "tags": ["hot"]})
    );
    let invalid = post(port, "/items", "application/json", r#"{"name": "Tea"}"#);
    assert_eq!(invalid.status, 422, "{}", invalid.text());
    assert_eq!(
        json_of(&invalid)["detail"][0]["loc"],
        json!(["body", "price"])
    );

    // The first line of the stream arrives before the second is made.
    let mut stream = connect(port);
    stream
        .write_all(request("GET", "/stream", "localhost", "", "").as_bytes())
        .expect("sending the request");
    let started = Instant::now();
    let head_and_first = read_until(&mut stream, "first\n");
    let first_after = started.elapsed();
    assert!(
        first_after < Duration::from_millis(1500),
        "the first line waited for the second: {first_after:?}"
    );
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("reading the rest");
    let whole = head_and_first + &String::from_utf8_lossy(&rest);
    let (head, body) = whole.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; charset=utf-8"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert_eq!(dechunk(body), "first\nsecond\n");

    let mut websocket = open_websocket(port, "/ws");
    websocket
        .write_all(&client_frame(true, 0x1, b"hello"))
        .expect("sending a message");
    assert_eq!(server_frame(&mut websocket), (0x1, b"echo: hello".to_vec()));
    websocket
        .write_all(&client_frame(true, 0x1, "grüße".as_bytes()))
        .expect("sending a message");
    assert_eq!(
        server_frame(&mut websocket),
        (0x1, "echo: grüße".as_bytes().to_vec())
    );
    // A client's close is answered with a close, and the endpoint ends.
    websocket
        .write_all(&client_frame(true, 0x8, &1000u16.to_be_bytes()))
        .expect("sending a close");
    assert_eq!(
        server_frame(&mut websocket),
        (0x8, 1000u16.to_be_bytes().to_vec())
    );
    assert_closed(&mut websocket);
    // The client closes its end too, as RFC 6455 has a client do once the server has
    // closed (one that does not is the next test's case).
    drop(websocket);

    // The endpoint's own close carries its code and reason.
    let mut websocket = open_websocket(port, "/ws");
    websocket
        .write_all(&client_frame(true, 0x1, b"bye"))
        .expect("sending a message");
    let mut goodbye = 4000u16.to_be_bytes().to_vec();
    goodbye.extend_from_slice(b"goodbye");
    assert_eq!(server_frame(&mut websocket), (0x8, goodbye));
    assert_closed(&mut websocket);
    drop(websocket);

    // Removing the application stops its process: the lifespan's shutdown half runs.
    let response = unit.put("/config", r#"{"listeners": {}, "applications": {}}"#);
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        support::wait_until(|| shutdown_marker.is_file()),
        "no lifespan shutdown: {}",
        unit.log_text()
    );
}

/// Once an application has ended a WebSocket (close frames exchanged, its side
/// closed), the router ends the tunnel, so a client that keeps its end open holds
/// neither the application process nor the listening socket: removing the application
/// stops its process, and the same listener can be put back.
#[test]
fn a_finished_websocket_whose_client_lingers_does_not_hold_the_application() {
    let Some((unit, port, shutdown_marker)) = start_fastapi("python_fastapi_linger", &FASTAPI, "")
    else {
        return;
    };
    let mut websocket = open_websocket(port, "/ws");
    websocket
        .write_all(&client_frame(true, 0x1, b"bye"))
        .expect("sending a message");
    let (opcode, _) = server_frame(&mut websocket);
    assert_eq!(opcode, 0x8);
    assert_closed(&mut websocket);
    // The client keeps `websocket` open from here on.
    let conf = unit.get("/config").body;
    let response = unit.put("/config", r#"{"listeners": {}, "applications": {}}"#);
    assert_eq!(response.status, 200, "{}", response.body);
    // The process stops although the client has not closed.
    assert!(
        support::wait_until(|| shutdown_marker.is_file()),
        "the application was not stopped while the finished WebSocket's client lingered"
    );
    // The removed listener's socket is released.
    let response = unit.put("/config", &conf);
    assert_eq!(response.status, 200, "{}", response.body);
    drop(websocket);
}
