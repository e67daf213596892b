//! knet-api: an embedded, kubectl-compatible Kubernetes API server.
//!
//! Pure request semantics (patches, protobuf decoding, Tables, defaulting,
//! validation, allocation) live in their own modules; `store` is the on-disk
//! revision log and `server` wires HTTP to them.

// `ApiError` (a whole Kubernetes Status) is the error type of every request
// path; it is built at most once per failed request, so its size is not worth
// boxing at every call site.
#![allow(clippy::result_large_err)]

pub mod alloc;
pub mod auth;
pub mod defaults;
pub mod discovery;
pub mod exec;
pub mod fieldselector;
pub mod kubeconfig;
pub mod openapi;
pub mod patch;
pub mod portforward;
pub mod protobuf;
pub mod resources;
pub mod server;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod validation;
pub mod watch;

pub use server::{Config, Server, StartError};
