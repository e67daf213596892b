//! The command dispatcher: `CNI_*` environment + stdin in, stdout + exit
//! status out. Errors are JSON on stdout with a non-zero exit (as the
//! reference plugins do).

use std::path::Path;

use serde_json::json;

use super::bridge::{self, Request};
use super::conf::{BridgeConf, NetConf};
use super::env::{CniEnv, Command};
use super::error::{CniError, ErrorCode};
use super::{CNI_VERSION, SUPPORTED_VERSIONS};
use crate::netns::Netns;

/// What the plugin prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// stdout.
    pub stdout: String,
    /// Exit status.
    pub exit: u8,
}

/// Runs one invocation with the process environment and stdin.
pub fn run_process() -> Outcome {
    let mut stdin = String::new();
    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut stdin) {
        let err = CniError::with(ErrorCode::Io, "cannot read stdin", &e);
        return Outcome {
            stdout: err.to_json(CNI_VERSION),
            exit: 1,
        };
    }
    run(|k| std::env::var(k).ok(), &stdin)
}

/// Runs one invocation (pure inputs; the kernel work happens in the
/// calling process's namespace, which is the node's).
pub fn run(get: impl Fn(&str) -> Option<String>, stdin: &str) -> Outcome {
    let version = serde_json::from_str::<serde_json::Value>(stdin)
        .ok()
        .and_then(|v| v["cniVersion"].as_str().map(String::from))
        .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
        .unwrap_or_else(|| CNI_VERSION.to_string());
    match dispatch(get, stdin) {
        Ok(stdout) => Outcome { stdout, exit: 0 },
        Err(e) => {
            tracing::warn!(code = e.code.code(), msg = %e.msg, details = %e.details, "CNI error");
            Outcome {
                stdout: e.to_json(&version),
                exit: 1,
            }
        }
    }
}

fn dispatch(get: impl Fn(&str) -> Option<String>, stdin: &str) -> Result<String, CniError> {
    let env = CniEnv::parse(get)?;
    if env.command == Command::Version {
        return Ok(
            json!({"cniVersion": CNI_VERSION, "supportedVersions": SUPPORTED_VERSIONS}).to_string(),
        );
    }
    let conf = NetConf::parse(stdin)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CniError::with(ErrorCode::Io, "cannot start the runtime", &e))?;
    let host_ns =
        Netns::current().map_err(|e| CniError::with(ErrorCode::Io, "cannot open own netns", &e))?;
    rt.block_on(command(&env, &conf, &host_ns))
}

fn read_file(p: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(p)
}

async fn command(env: &CniEnv, conf: &NetConf, host_ns: &Netns) -> Result<String, CniError> {
    let id = env.container_id.as_deref().unwrap_or_default();
    match env.command {
        Command::Add | Command::Check => {
            let bc = conf.resolve(read_file)?;
            let netns = env.netns.as_deref().unwrap_or_default();
            let ifname = env.ifname.as_ref().expect("checked by CniEnv::parse");
            let req = Request {
                host_ns,
                netns: Path::new(netns),
                ifname,
                container_id: id,
            };
            if env.command == Command::Add {
                let res = bridge::add(&bc, &req).await?;
                Ok(res.to_json(&bc.cni_version).to_string())
            } else {
                let prev = conf.prev_result.as_ref().ok_or_else(|| {
                    CniError::new(ErrorCode::InvalidConfig, "CHECK requires prevResult")
                })?;
                bridge::check(&bc, &req, prev).await.map(|()| String::new())
            }
        }
        Command::Del => {
            let bc = resolve_for_cleanup(conf)?;
            let ifname = env.ifname.as_ref().expect("checked by CniEnv::parse");
            let netns = env.netns.as_deref().map(Path::new);
            bridge::del(&bc, host_ns, netns, ifname, id)
                .await
                .map(|()| String::new())
        }
        Command::Gc => {
            let bc = resolve_for_cleanup(conf)?;
            let valid = conf
                .valid_attachments
                .clone()
                .or(conf.attachments.clone())
                .unwrap_or_default();
            let released = bridge::gc(&bc, &valid)?;
            tracing::info!(?released, "GC released addresses");
            Ok(String::new())
        }
        Command::Status => {
            let bc = resolve_for_cleanup(conf)?;
            crate::ipam::FileStore::open(&bc.ipam.state_dir(&bc.network)).map_err(|e| {
                CniError::with(
                    ErrorCode::NotAvailable,
                    "IPAM state directory is not usable",
                    &e,
                )
            })?;
            Ok(String::new())
        }
        Command::Version => unreachable!("handled before"),
    }
}

/// DEL/GC/STATUS must work even when the lease file that ADD read is gone.
fn resolve_for_cleanup(conf: &NetConf) -> Result<BridgeConf, CniError> {
    conf.resolve_for_cleanup(read_file)
}
