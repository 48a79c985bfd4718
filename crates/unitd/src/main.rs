//! `unitd`: the command users run, and, executed again by itself, each of its processes.
//!
//! Without a role in the environment this is the user's command: parse the command line,
//! print help or version, or launch the main process. With a role (set by the process
//! that executed it) it becomes that process: main, the controller, the router, or (the
//! `exec` role) the program of an application process.

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use anyhow::Context;
use unit_conf::{Action, Settings, help_text, parse_command_line, version_text};
use unit_controller::ControllerSetup;
use unit_port::{ChildPort, PortReceiver, PortSender};
use unit_process::{Credentials, EXEC_ROLE, ROLE_ENV, take_inherited_fds};
use unit_router::RouterSetup;
use unit_runtime::{CONTROL_FD_NAME, CREDENTIALS_ENV, MAIN_FD_NAME, PORT_FD_NAME};

fn main() -> ExitCode {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("main") => exit_code(unit_runtime::run_main()),
        Ok(role @ ("controller" | "router")) => run_child(role),
        Ok(EXEC_ROLE) => run_program(),
        _ => launch(),
    }
}

/// The user's command.
fn launch() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let command_line = parse_command_line(&argv);
    for line in &command_line.deprecations {
        eprintln!("{line}");
    }
    match command_line.outcome {
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
        Ok(Action::Version) => {
            eprint!("{}", version_text());
            ExitCode::SUCCESS
        }
        Ok(Action::Help) => {
            print!("{}", help_text(&Settings::default()));
            ExitCode::SUCCESS
        }
        Ok(Action::Run(settings)) => match unit_runtime::launch(&settings, &argv) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{error}");
                ExitCode::FAILURE
            }
        },
    }
}

/// A child process: adopt what main handed over, drop privileges, run the role.
fn run_child(role: &str) -> ExitCode {
    unit_log::init();
    match child(role) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            unit_log::alert!("{role}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn child(role: &str) -> anyhow::Result<()> {
    let mut fds = take_inherited_fds()?;
    let mut take = |name: &str| {
        fds.remove(name)
            .with_context(|| format!("no \"{name}\" descriptor handed over"))
    };
    let port = PortReceiver::from_fd(take(PORT_FD_NAME)?)?;
    let main = PortSender::from_fd(take(MAIN_FD_NAME)?);
    let listener = if role == "controller" {
        Some(take(CONTROL_FD_NAME)?)
    } else {
        None
    };
    if let Ok(text) = std::env::var(CREDENTIALS_ENV) {
        let credentials =
            Credentials::from_env(&text).with_context(|| format!("bad credentials \"{text}\""))?;
        credentials.drop_privileges()?;
    }
    let port = ChildPort::new(port, main, nix::unistd::getppid());
    match listener {
        Some(listener) => unit_controller::run(ControllerSetup { port, listener })?,
        None => unit_router::run(RouterSetup { port })?,
    }
    Ok(())
}

/// The `exec` role: becomes an application's program, or says why it cannot.
fn run_program() -> ExitCode {
    unit_log::init();
    let error = unit_process::run_program();
    unit_log::alert!("{error}");
    ExitCode::FAILURE
}

fn exit_code(status: i32) -> ExitCode {
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}
