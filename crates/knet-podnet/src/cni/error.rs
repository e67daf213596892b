//! CNI error results: the spec's well-known codes and the JSON shape
//! `{cniVersion, code, msg, details}`.

use serde::Serialize;

/// The spec's error codes (§6) plus knet's plugin-specific ones (≥ 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 1: incompatible CNI version.
    IncompatibleVersion,
    /// 2: unsupported field in the network config.
    UnsupportedField,
    /// 3: container unknown or does not exist.
    UnknownContainer,
    /// 4: invalid necessary environment variables.
    InvalidEnv,
    /// 5: I/O failure.
    Io,
    /// 6: failed to decode content.
    Decode,
    /// 7: invalid network config.
    InvalidConfig,
    /// 11: try again later.
    TryAgainLater,
    /// 50: the plugin is not available.
    NotAvailable,
    /// 100: the interface already exists in the container.
    InterfaceExists,
    /// 101: no free address in the pool.
    NoAddress,
    /// 102: a kernel (netlink) operation failed.
    Kernel,
    /// 103: CHECK found the attachment differs from the previous result.
    CheckFailed,
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub fn code(self) -> u32 {
        match self {
            Self::IncompatibleVersion => 1,
            Self::UnsupportedField => 2,
            Self::UnknownContainer => 3,
            Self::InvalidEnv => 4,
            Self::Io => 5,
            Self::Decode => 6,
            Self::InvalidConfig => 7,
            Self::TryAgainLater => 11,
            Self::NotAvailable => 50,
            Self::InterfaceExists => 100,
            Self::NoAddress => 101,
            Self::Kernel => 102,
            Self::CheckFailed => 103,
        }
    }
}

/// A CNI error: what went wrong, with which input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CNI error {}: {msg}{}", code.code(), if details.is_empty() { String::new() } else { format!(" ({details})") })]
pub struct CniError {
    /// The code.
    pub code: ErrorCode,
    /// A short message.
    pub msg: String,
    /// Longer details (the underlying error chain).
    pub details: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    cni_version: &'a str,
    code: u32,
    msg: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    details: &'a str,
}

impl CniError {
    /// An error with a message and no details.
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// An error whose details are `err` and its sources.
    pub fn with(code: ErrorCode, msg: impl Into<String>, err: &dyn std::error::Error) -> Self {
        let mut details = err.to_string();
        let mut src = err.source();
        while let Some(s) = src {
            let text = s.to_string();
            if !details.contains(&text) {
                details.push_str(": ");
                details.push_str(&text);
            }
            src = s.source();
        }
        Self {
            code,
            msg: msg.into(),
            details,
        }
    }

    /// The JSON written on stdout.
    pub fn to_json(&self, cni_version: &str) -> String {
        serde_json::to_string(&Wire {
            cni_version,
            code: self.code.code(),
            msg: &self.msg,
            details: &self.details,
        })
        .expect("error JSON serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let e = CniError::new(ErrorCode::InvalidEnv, "missing CNI_IFNAME");
        let v: serde_json::Value = serde_json::from_str(&e.to_json("1.1.0")).unwrap();
        assert_eq!(v["code"], 4);
        assert_eq!(v["msg"], "missing CNI_IFNAME");
        assert_eq!(v["cniVersion"], "1.1.0");
        assert!(v.get("details").is_none());
    }
}
