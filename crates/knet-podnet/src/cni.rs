//! The CNI plugin (spec 1.1.0): protocol types and parsing ([`conf`],
//! [`env`], [`result`], [`error`]), the bridge behaviour ([`bridge`]), and the
//! command dispatcher ([`exec`]) that `knet cni` and an installed plugin
//! binary call.
//!
//! Library entry points for the lab: [`add`], [`del`] and [`check`] take an
//! explicit host namespace, so they work from any thread.

pub mod bridge;
pub mod conf;
pub mod env;
pub mod error;
pub mod exec;
pub mod masq;
pub mod result;

pub use bridge::{add, check, del, gc};
pub use conf::NetConf;
pub use env::{CniEnv, Command};
pub use error::{CniError, ErrorCode};
pub use result::CniResult;

/// The spec version knet speaks.
pub const CNI_VERSION: &str = "1.1.0";

/// Config versions knet accepts (results are written in the config's version).
pub const SUPPORTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
