//! The typed messages of unitd's processes, one enum per direction, and their encoding.
//!
//! [`ToChild`] is what main tells a child, [`ToMain`] what a child asks of main, and
//! [`ToRouter`] what the controller asks of the router; [`Reply`] answers an RPC of any
//! of them. Each turns into a [`Message`] and back: payloads are binary, every field
//! length-prefixed, so nothing is split out of text and a payload with bytes left over
//! is refused.
//!
//! What it does not do: decide who may send what (the receiving loops do, from the
//! sender's pid the kernel reported) or send anything.

use std::os::fd::OwnedFd;

use nix::unistd::Pid;

use crate::error::PortError;
use crate::message::{Message, MsgType, NewPort};
use crate::port::PortSender;

/// What main tells a child.
#[derive(Debug)]
pub enum ToChild {
    /// Stop: finish what is under way and exit.
    Quit,
    /// A peer's port and the sender end to write to it.
    NewPort {
        /// Whose port it is.
        port: NewPort,
        /// Its sending end.
        sender: PortSender,
    },
    /// A process is gone: drop its ports.
    RemovePid(Pid),
    /// The reopened log file, to put over stderr.
    ChangeFile(OwnedFd),
    /// The stored configuration, for the controller at start.
    StoredConf(Vec<u8>),
    /// Every stored certificate bundle, name and PEM bytes, for the controller at start
    /// (sent before [`ToChild::StoredConf`], which may name them).
    StoredCertificates(Vec<(String, Vec<u8>)>),
    /// The router's access log, reopened after SIGUSR1.
    AccessLogReopened {
        /// The path it was opened at.
        path: String,
        /// The open file.
        file: OwnedFd,
    },
}

/// What a child asks of or tells main.
#[derive(Debug)]
pub enum ToMain {
    /// The child is up and serving.
    ProcessReady,
    /// Persist this configuration as `conf.json` (controller; RPC).
    ConfStore(Vec<u8>),
    /// Bind a listener address, or hand over the inherited socket with it (router; RPC,
    /// the ready reply carries the socket).
    Socket {
        /// The listener key, such as `127.0.0.1:8080` or `unix:/run/app.sock`.
        address: String,
        /// The listen backlog; `None` for the system's default.
        backlog: Option<i32>,
    },
    /// The router let go of a listener: main removes a unix socket file it made for it.
    SocketClose(String),
    /// Open an access log for appending (router; RPC, the ready reply carries the file).
    AccessLog(String),
    /// Start a process of an application (router; RPC, the ready reply carries an
    /// [`AppStarted`]).
    StartProcess(Box<AppStart>),
    /// Stop a process of an application: SIGTERM, then SIGKILL after a grace period
    /// (router).
    StopProcess(Pid),
    /// Store a certificate bundle as `certs/<name>` (controller; RPC).
    CertificateStore {
        /// The bundle's name, a plain file name.
        name: String,
        /// The PEM bytes as uploaded.
        pem: Vec<u8>,
    },
    /// Remove the certificate bundle `certs/<name>` (controller; RPC).
    CertificateDelete {
        /// The bundle's name.
        name: String,
    },
    /// Open the certificate bundle `certs/<name>` for reading (router; RPC, the ready
    /// reply carries the file).
    CertificateFile {
        /// The bundle's name.
        name: String,
    },
}

/// What an application process is started with, as the configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStart {
    /// The application's name.
    pub name: String,
    /// Its generation (a restart makes a new one).
    pub generation: u64,
    /// The file to execute.
    pub executable: String,
    /// Its arguments after `argv[0]`.
    pub arguments: Vec<String>,
    /// The configured environment, on top of main's base environment.
    pub environment: Vec<(String, String)>,
    /// Where it starts.
    pub working_directory: Option<String>,
    /// Its user and group; `None` for unitd's `--user` and `--group`.
    pub user: Option<String>,
    /// See `user`.
    pub group: Option<String>,
    /// Files for its standard output and error (used in daemon mode).
    pub stdout: Option<String>,
    /// See `stdout`.
    pub stderr: Option<String>,
    /// The program reports when it is ready to serve, and how many requests it serves
    /// at once, on a pipe (a language runner); main answers only then.
    pub reports_ready: bool,
    /// The application's `isolation` object as configured (JSON), which main reads
    /// and checks again; `None` when it has none.
    pub isolation: Option<String>,
}

/// The ready reply to [`ToMain::StartProcess`]: the process and where it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStarted {
    /// The process.
    pub pid: Pid,
    /// The unix socket it serves HTTP on.
    pub socket: String,
    /// How many requests it serves at once, as it reported; 0 when it does not report.
    pub capacity: u32,
}

impl AppStarted {
    /// The reply's payload.
    pub fn encode(&self) -> Vec<u8> {
        Fields::new()
            .i32(self.pid.as_raw())
            .text(&self.socket)
            .u64(u64::from(self.capacity))
            .finish()
    }

    /// Reads a reply's payload.
    pub fn decode(payload: &[u8]) -> Result<AppStarted, PortError> {
        let mut fields = Reader::new(payload);
        let pid = Pid::from_raw(fields.i32()?);
        let socket = fields.text()?;
        let capacity = u32::try_from(fields.u64()?)
            .map_err(|_| PortError::Malformed("a process capacity out of range"))?;
        fields.end()?;
        Ok(AppStarted {
            pid,
            socket,
            capacity,
        })
    }
}

/// What the controller asks of the router; every one is an RPC.
#[derive(Debug, PartialEq, Eq)]
pub enum ToRouter {
    /// Apply this configuration (JSON).
    Apply(Vec<u8>),
    /// The status counters (the ready reply carries JSON).
    Status,
    /// Move the application with this name to new processes.
    AppRestart(String),
}

/// The answer to an RPC.
#[derive(Debug)]
pub enum Reply {
    /// Done; with a payload and descriptors when the request asked for them.
    Ready {
        /// What the request asked for (JSON, say), or nothing.
        payload: Vec<u8>,
        /// Descriptors the request asked for (a socket, a file).
        fds: Vec<OwnedFd>,
    },
    /// Refused, with the reason.
    Error(String),
}

// === impl ToChild ===

impl ToChild {
    /// The message to send.
    pub fn into_message(self) -> Message {
        match self {
            ToChild::Quit => Message::new(MsgType::Quit),
            ToChild::NewPort { port, sender } => Message::new(MsgType::NewPort)
                .with_payload(port.encode())
                .with_fd(sender.into_fd()),
            ToChild::RemovePid(pid) => {
                Message::new(MsgType::RemovePid).with_payload(pid.as_raw().to_ne_bytes())
            }
            ToChild::ChangeFile(file) => Message::new(MsgType::ChangeFile).with_fd(file),
            ToChild::StoredConf(conf) => Message::new(MsgType::StoredConf).with_payload(conf),
            ToChild::StoredCertificates(certificates) => {
                let mut fields = Fields::new().i32(certificates.len() as i32);
                for (name, pem) in &certificates {
                    fields = fields.text(name).bytes(pem);
                }
                Message::new(MsgType::StoredCertificates).with_payload(fields.finish())
            }
            ToChild::AccessLogReopened { path, file } => Message::new(MsgType::AccessLogReopened)
                .with_payload(Fields::new().text(&path).finish())
                .with_fd(file),
        }
    }

    /// Reads a message main sent; `Ok(None)` when it is not one of these.
    pub fn from_message(message: &mut Message) -> Result<Option<ToChild>, PortError> {
        let decoded = match message.msg_type {
            MsgType::Quit => ToChild::Quit,
            MsgType::NewPort => ToChild::NewPort {
                port: NewPort::decode(&message.payload)?,
                sender: PortSender::from_fd(take_fd(message, "NEW_PORT")?),
            },
            MsgType::RemovePid => {
                let bytes: [u8; 4] = message
                    .payload
                    .as_slice()
                    .try_into()
                    .map_err(|_| PortError::Malformed("REMOVE_PID payload is not a pid"))?;
                ToChild::RemovePid(Pid::from_raw(i32::from_ne_bytes(bytes)))
            }
            MsgType::ChangeFile => ToChild::ChangeFile(take_fd(message, "CHANGE_FILE")?),
            MsgType::StoredConf => ToChild::StoredConf(std::mem::take(&mut message.payload)),
            MsgType::StoredCertificates => {
                let mut fields = Reader::new(&message.payload);
                let n_certificates = fields.count()?;
                let certificates = (0..n_certificates)
                    .map(|_| Ok((fields.text()?, fields.bytes()?)))
                    .collect::<Result<Vec<_>, PortError>>()?;
                fields.end()?;
                ToChild::StoredCertificates(certificates)
            }
            MsgType::AccessLogReopened => {
                let mut fields = Reader::new(&message.payload);
                let path = fields.text()?;
                fields.end()?;
                ToChild::AccessLogReopened {
                    path,
                    file: take_fd(message, "ACCESS_LOG_REOPENED")?,
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(decoded))
    }
}

// === impl ToMain ===

impl ToMain {
    /// The message to send.
    pub fn into_message(self) -> Message {
        match self {
            ToMain::ProcessReady => Message::new(MsgType::ProcessReady),
            ToMain::ConfStore(conf) => Message::new(MsgType::ConfStore).with_payload(conf),
            ToMain::Socket { address, backlog } => Message::new(MsgType::Socket).with_payload(
                Fields::new()
                    .text(&address)
                    .i32(backlog.unwrap_or(-1))
                    .finish(),
            ),
            ToMain::SocketClose(address) => Message::new(MsgType::SocketClose)
                .with_payload(Fields::new().text(&address).finish()),
            ToMain::AccessLog(path) => {
                Message::new(MsgType::AccessLog).with_payload(Fields::new().text(&path).finish())
            }
            ToMain::StartProcess(start) => {
                Message::new(MsgType::StartProcess).with_payload(start.encode())
            }
            ToMain::StopProcess(pid) => Message::new(MsgType::StopProcess)
                .with_payload(Fields::new().i32(pid.as_raw()).finish()),
            ToMain::CertificateStore { name, pem } => Message::new(MsgType::CertificateStore)
                .with_payload(Fields::new().text(&name).bytes(&pem).finish()),
            ToMain::CertificateDelete { name } => Message::new(MsgType::CertificateDelete)
                .with_payload(Fields::new().text(&name).finish()),
            ToMain::CertificateFile { name } => Message::new(MsgType::CertificateFile)
                .with_payload(Fields::new().text(&name).finish()),
        }
    }

    /// Reads a message a child sent; `Ok(None)` when it is not one of these.
    pub fn from_message(message: &mut Message) -> Result<Option<ToMain>, PortError> {
        let mut fields = Reader::new(&message.payload);
        let decoded = match message.msg_type {
            MsgType::ProcessReady => ToMain::ProcessReady,
            MsgType::ConfStore => return Ok(Some(ToMain::ConfStore(message.payload.clone()))),
            MsgType::Socket => {
                let address = fields.text()?;
                let backlog = fields.i32()?;
                ToMain::Socket {
                    address,
                    backlog: (backlog >= 0).then_some(backlog),
                }
            }
            MsgType::SocketClose => ToMain::SocketClose(fields.text()?),
            MsgType::AccessLog => ToMain::AccessLog(fields.text()?),
            MsgType::StartProcess => ToMain::StartProcess(Box::new(AppStart::read(&mut fields)?)),
            MsgType::StopProcess => ToMain::StopProcess(Pid::from_raw(fields.i32()?)),
            MsgType::CertificateStore => ToMain::CertificateStore {
                name: fields.text()?,
                pem: fields.bytes()?,
            },
            MsgType::CertificateDelete => ToMain::CertificateDelete {
                name: fields.text()?,
            },
            MsgType::CertificateFile => ToMain::CertificateFile {
                name: fields.text()?,
            },
            _ => return Ok(None),
        };
        fields.end()?;
        Ok(Some(decoded))
    }
}

// === impl AppStart ===

impl AppStart {
    fn encode(&self) -> Vec<u8> {
        let optional = |fields: Fields, text: &Option<String>| match text {
            Some(text) => fields.i32(1).text(text),
            None => fields.i32(0),
        };
        let mut fields = Fields::new()
            .text(&self.name)
            .u64(self.generation)
            .text(&self.executable)
            .i32(self.arguments.len() as i32);
        for argument in &self.arguments {
            fields = fields.text(argument);
        }
        fields = fields.i32(self.environment.len() as i32);
        for (name, value) in &self.environment {
            fields = fields.text(name).text(value);
        }
        for text in [
            &self.working_directory,
            &self.user,
            &self.group,
            &self.stdout,
            &self.stderr,
        ] {
            fields = optional(fields, text);
        }
        fields = fields.i32(i32::from(self.reports_ready));
        optional(fields, &self.isolation).finish()
    }

    fn read(fields: &mut Reader<'_>) -> Result<AppStart, PortError> {
        let name = fields.text()?;
        let generation = fields.u64()?;
        let executable = fields.text()?;
        let n_arguments = fields.count()?;
        let arguments = (0..n_arguments)
            .map(|_| fields.text())
            .collect::<Result<Vec<_>, _>>()?;
        let n_variables = fields.count()?;
        let environment = (0..n_variables)
            .map(|_| Ok((fields.text()?, fields.text()?)))
            .collect::<Result<Vec<_>, PortError>>()?;
        let mut optional = || -> Result<Option<String>, PortError> {
            match fields.i32()? {
                0 => Ok(None),
                1 => fields.text().map(Some),
                _ => Err(PortError::Malformed(
                    "an optional field is neither absent nor present",
                )),
            }
        };
        let working_directory = optional()?;
        let user = optional()?;
        let group = optional()?;
        let stdout = optional()?;
        let stderr = optional()?;
        let reports_ready = match fields.i32()? {
            0 => false,
            1 => true,
            _ => return Err(PortError::Malformed("a flag is neither 0 nor 1")),
        };
        let isolation = match fields.i32()? {
            0 => None,
            1 => Some(fields.text()?),
            _ => {
                return Err(PortError::Malformed(
                    "an optional field is neither absent nor present",
                ));
            }
        };
        Ok(AppStart {
            name,
            generation,
            executable,
            arguments,
            environment,
            working_directory,
            user,
            group,
            stdout,
            stderr,
            reports_ready,
            isolation,
        })
    }
}

// === impl ToRouter ===

impl ToRouter {
    /// The message to send.
    pub fn into_message(self) -> Message {
        match self {
            ToRouter::Apply(conf) => Message::new(MsgType::Apply).with_payload(conf),
            ToRouter::Status => Message::new(MsgType::Status),
            ToRouter::AppRestart(name) => {
                Message::new(MsgType::AppRestart).with_payload(Fields::new().text(&name).finish())
            }
        }
    }

    /// Reads a message the controller sent; `Ok(None)` when it is not one of these.
    pub fn from_message(message: &mut Message) -> Result<Option<ToRouter>, PortError> {
        let decoded = match message.msg_type {
            MsgType::Apply => ToRouter::Apply(std::mem::take(&mut message.payload)),
            MsgType::Status if message.payload.is_empty() => ToRouter::Status,
            MsgType::Status => return Err(PortError::Malformed("STATUS with a payload")),
            MsgType::AppRestart => {
                let mut fields = Reader::new(&message.payload);
                let name = fields.text()?;
                fields.end()?;
                ToRouter::AppRestart(name)
            }
            _ => return Ok(None),
        };
        Ok(Some(decoded))
    }
}

// === impl Reply ===

impl Reply {
    /// A ready reply with nothing in it.
    pub fn ready() -> Reply {
        Reply::Ready {
            payload: Vec::new(),
            fds: Vec::new(),
        }
    }

    /// A ready reply carrying one descriptor.
    pub fn ready_with_fd(fd: OwnedFd) -> Reply {
        Reply::Ready {
            payload: Vec::new(),
            fds: vec![fd],
        }
    }

    /// A ready reply carrying a payload.
    pub fn ready_with_payload(payload: impl Into<Vec<u8>>) -> Reply {
        Reply::Ready {
            payload: payload.into(),
            fds: Vec::new(),
        }
    }

    /// The message to send on the request's `stream`.
    pub fn into_message(self, stream: u32) -> Message {
        let message = match self {
            Reply::Ready { payload, fds } => {
                let mut message = Message::new(MsgType::RpcReady).with_payload(payload);
                message.fds = fds;
                message
            }
            Reply::Error(reason) => Message::new(MsgType::RpcError).with_payload(reason),
        };
        message.with_stream(stream)
    }

    /// Reads a reply; `Ok(None)` when the message is not one.
    pub fn from_message(message: &mut Message) -> Result<Option<Reply>, PortError> {
        Ok(Some(match message.msg_type {
            MsgType::RpcReady => Reply::Ready {
                payload: std::mem::take(&mut message.payload),
                fds: std::mem::take(&mut message.fds),
            },
            MsgType::RpcError => Reply::Error(message.payload_text().into_owned()),
            _ => return Ok(None),
        }))
    }

    /// Whether this is a ready reply.
    pub fn is_ready(&self) -> bool {
        matches!(self, Reply::Ready { .. })
    }
}

// === Payload fields ===

/// Writes a payload of length-prefixed fields.
struct Fields(Vec<u8>);

impl Fields {
    fn new() -> Fields {
        Fields(Vec::new())
    }

    fn text(self, text: &str) -> Fields {
        self.bytes(text.as_bytes())
    }

    fn bytes(mut self, bytes: &[u8]) -> Fields {
        let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&length.to_ne_bytes());
        self.0.extend_from_slice(&bytes[..length as usize]);
        self
    }

    fn i32(mut self, value: i32) -> Fields {
        self.0.extend_from_slice(&value.to_ne_bytes());
        self
    }

    fn u64(mut self, value: u64) -> Fields {
        self.0.extend_from_slice(&value.to_ne_bytes());
        self
    }

    fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads what [`Fields`] wrote, refusing anything short or left over.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(payload: &'a [u8]) -> Reader<'a> {
        Reader { rest: payload }
    }

    fn take(&mut self, n_bytes: usize) -> Result<&'a [u8], PortError> {
        if self.rest.len() < n_bytes {
            return Err(PortError::Malformed("payload shorter than its fields"));
        }
        let (taken, rest) = self.rest.split_at(n_bytes);
        self.rest = rest;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, PortError> {
        let bytes = self.take(4)?;
        Ok(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn i32(&mut self) -> Result<i32, PortError> {
        let bytes = self.take(4)?;
        Ok(i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn u64(&mut self) -> Result<u64, PortError> {
        let bytes = self.take(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_ne_bytes(array))
    }

    /// A count of the items that follow, each at least four bytes long.
    fn count(&mut self) -> Result<usize, PortError> {
        let count =
            usize::try_from(self.i32()?).map_err(|_| PortError::Malformed("a negative count"))?;
        if count > self.rest.len() / 4 {
            return Err(PortError::Malformed("a count longer than the payload"));
        }
        Ok(count)
    }

    fn text(&mut self) -> Result<String, PortError> {
        String::from_utf8(self.bytes()?)
            .map_err(|_| PortError::Malformed("payload text is not UTF-8"))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, PortError> {
        let length = self.u32()? as usize;
        Ok(self.take(length)?.to_vec())
    }

    fn end(&self) -> Result<(), PortError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(PortError::Malformed("payload longer than its fields"))
        }
    }
}

/// The one descriptor a message of `kind` must carry.
fn take_fd(message: &mut Message, kind: &'static str) -> Result<OwnedFd, PortError> {
    match (message.fds.pop(), message.fds.is_empty()) {
        (Some(fd), true) => Ok(fd),
        _ => Err(PortError::MissingFd(kind)),
    }
}

#[cfg(test)]
mod tests;
