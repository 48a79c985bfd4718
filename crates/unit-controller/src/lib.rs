//! The unitd controller process: the JSON control API on the control socket.
//!
//! Main hands the controller the listening control socket, its port, the stored
//! certificate bundles and the stored configuration. The controller sends that
//! configuration to the router, and only once the router has answered does it start
//! accepting on the control socket (early clients wait in the backlog). It then answers
//! control API requests over HTTP/1.x, one request per connection, among them uploads
//! and deletions of certificate bundles (`/certificates`), which main stores.
//!
//! Not here: binding sockets or writing files (main does that, privileged), and serving
//! traffic (the router).

#![forbid(unsafe_code)]

mod api;
mod certificates;
mod connection;
mod controller;
mod error;
mod plan;
mod tree;

pub use controller::{ControllerSetup, run};
pub use error::ControllerError;
