//! The `CNI_*` environment, parsed once and checked per command (§2).

use super::error::{CniError, ErrorCode};
use crate::types::IfName;

/// `CNI_COMMAND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Attach.
    Add,
    /// Detach (idempotent).
    Del,
    /// Verify an attachment.
    Check,
    /// Report readiness.
    Status,
    /// Report supported versions.
    Version,
    /// Garbage-collect stale attachments.
    Gc,
}

/// The parsed environment of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniEnv {
    /// The command.
    pub command: Command,
    /// `CNI_CONTAINERID`.
    pub container_id: Option<String>,
    /// `CNI_NETNS`.
    pub netns: Option<String>,
    /// `CNI_IFNAME`.
    pub ifname: Option<IfName>,
    /// `CNI_ARGS` pairs.
    pub args: Vec<(String, String)>,
    /// `CNI_PATH` entries.
    pub path: Vec<String>,
}

impl CniEnv {
    /// Parses the environment through `get` (e.g. `|k| std::env::var(k).ok()`),
    /// checking that the variables `CNI_COMMAND` requires are present.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, CniError> {
        let get = |k: &str| get(k).filter(|v| !v.is_empty());
        let command = match get("CNI_COMMAND").as_deref() {
            Some("ADD") => Command::Add,
            Some("DEL") => Command::Del,
            Some("CHECK") => Command::Check,
            Some("STATUS") => Command::Status,
            Some("VERSION") => Command::Version,
            Some("GC") => Command::Gc,
            Some(other) => {
                return Err(CniError::new(
                    ErrorCode::InvalidEnv,
                    format!(
                        "unknown CNI_COMMAND {other:?}: expected ADD, DEL, CHECK, STATUS, VERSION or GC"
                    ),
                ));
            }
            None => {
                return Err(CniError::new(
                    ErrorCode::InvalidEnv,
                    "missing env var CNI_COMMAND",
                ));
            }
        };
        let ifname =
            match get("CNI_IFNAME") {
                Some(s) => Some(IfName::new(&s).map_err(|e| {
                    CniError::new(ErrorCode::InvalidEnv, format!("CNI_IFNAME: {e}"))
                })?),
                None => None,
            };
        let env = Self {
            command,
            container_id: get("CNI_CONTAINERID"),
            netns: get("CNI_NETNS"),
            ifname,
            args: parse_args(get("CNI_ARGS").as_deref().unwrap_or(""))?,
            path: get("CNI_PATH")
                .map(|p| {
                    p.split(':')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
        };
        env.check_required()?;
        Ok(env)
    }

    fn check_required(&self) -> Result<(), CniError> {
        let mut missing = Vec::new();
        let need_id_if = matches!(self.command, Command::Add | Command::Del | Command::Check);
        if need_id_if && self.container_id.is_none() {
            missing.push("CNI_CONTAINERID");
        }
        if matches!(self.command, Command::Add | Command::Check) && self.netns.is_none() {
            missing.push("CNI_NETNS");
        }
        if need_id_if && self.ifname.is_none() {
            missing.push("CNI_IFNAME");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(CniError::new(
                ErrorCode::InvalidEnv,
                format!(
                    "missing env var(s) {} for {:?}",
                    missing.join(", "),
                    self.command
                ),
            ))
        }
    }

    /// A `CNI_ARGS` value (`IP=…`, `K8S_POD_NAME=…`).
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn parse_args(s: &str) -> Result<Vec<(String, String)>, CniError> {
    s.split(';')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(CniError::new(
                ErrorCode::InvalidEnv,
                format!("CNI_ARGS: invalid pair {p:?}, expected KEY=VALUE"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<CniEnv, CniError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CniEnv::parse(|k| m.get(k).cloned())
    }

    #[test]
    fn add_requires_everything() {
        let e = env(&[("CNI_COMMAND", "ADD")]).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidEnv);
        assert!(
            e.msg.contains("CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME"),
            "{}",
            e.msg
        );
        let ok = env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", "/run/netns/x"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_ARGS", "IP=10.0.0.5;K8S_POD_NAME=a"),
            ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
        ])
        .unwrap();
        assert_eq!(ok.arg("IP"), Some("10.0.0.5"));
        assert_eq!(ok.path.len(), 2);
    }

    #[test]
    fn del_needs_no_netns_version_needs_nothing() {
        env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c"),
            ("CNI_IFNAME", "eth0"),
        ])
        .unwrap();
        env(&[("CNI_COMMAND", "VERSION")]).unwrap();
        env(&[("CNI_COMMAND", "STATUS")]).unwrap();
    }

    #[test]
    fn bad_values() {
        assert_eq!(
            env(&[("CNI_COMMAND", "FOO")]).unwrap_err().code,
            ErrorCode::InvalidEnv
        );
        assert_eq!(env(&[]).unwrap_err().code, ErrorCode::InvalidEnv);
        let long = env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c"),
            ("CNI_NETNS", "/x"),
            ("CNI_IFNAME", "a-very-long-interface-name"),
        ]);
        assert_eq!(long.unwrap_err().code, ErrorCode::InvalidEnv);
        let args = env(&[("CNI_COMMAND", "VERSION"), ("CNI_ARGS", "novalue")]);
        assert_eq!(args.unwrap_err().code, ErrorCode::InvalidEnv);
    }
}
