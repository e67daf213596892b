//! A thin rtnetlink layer bound to one network namespace.
//!
//! [`Netlink::connect`] opens a netlink socket from a thread that has entered
//! the target namespace; the socket stays bound to that namespace, so every
//! request made through the handle acts there, whatever thread or runtime
//! the caller runs on. Methods are one kernel operation each; policy
//! (ordering, idempotence, rollback) lives in the callers.

mod addr;
mod link;
mod neigh;
mod route;

use std::path::PathBuf;

use crate::netns::{Netns, NetnsError};

pub use link::{Link, VethSpec, VxlanSpec};
pub use neigh::{FdbEntry, Neighbour};
pub use route::Route4;

/// Errors of netlink requests.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// Entering the namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// Opening the netlink socket failed.
    #[error("cannot open a netlink socket in {ns}: {source}")]
    Connect {
        /// The namespace.
        ns: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused a request.
    #[error("netlink: {op} in {ns}: {source}")]
    Request {
        /// What was asked, with its inputs.
        op: String,
        /// The namespace.
        ns: PathBuf,
        /// The kernel's answer.
        #[source]
        source: rtnetlink::Error,
    },
    /// A link that must exist does not.
    #[error("no link named {name} in {ns}")]
    NoSuchLink {
        /// The missing name.
        name: String,
        /// The namespace.
        ns: PathBuf,
    },
}

impl NetlinkError {
    /// The positive errno the kernel answered, if it was a kernel error.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Request {
                source: rtnetlink::Error::NetlinkError(m),
                ..
            } => Some(m.raw_code().abs()),
            _ => None,
        }
    }

    /// Whether the kernel said "already exists".
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }

    /// Whether the kernel said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::ENODEV) | Some(libc::ENOENT) | Some(libc::ESRCH) | Some(libc::EADDRNOTAVAIL)
        ) || matches!(self, Self::NoSuchLink { .. })
    }
}

/// A netlink handle whose requests act in one namespace.
#[derive(Debug)]
pub struct Netlink {
    handle: rtnetlink::Handle,
    task: tokio::task::JoinHandle<()>,
    ns: PathBuf,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Netlink {
    /// Opens a netlink socket inside `ns`. Must be called within a tokio
    /// runtime; the connection task is spawned on it.
    pub fn connect(ns: &Netns) -> Result<Self, NetlinkError> {
        let rt = tokio::runtime::Handle::current();
        let path = ns.path().to_path_buf();
        let (conn, handle, _) = ns
            .run(move || {
                let _guard = rt.enter();
                rtnetlink::new_connection()
            })?
            .map_err(|source| NetlinkError::Connect {
                ns: path.clone(),
                source,
            })?;
        let task = tokio::spawn(conn);
        Ok(Self {
            handle,
            task,
            ns: path,
        })
    }

    /// The namespace this handle acts in.
    pub fn ns_path(&self) -> &std::path::Path {
        &self.ns
    }

    fn err(&self, op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetlinkError + '_ {
        let op = op.into();
        move |source| NetlinkError::Request {
            op,
            ns: self.ns.clone(),
            source,
        }
    }
}
