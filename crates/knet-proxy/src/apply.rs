//! The thin kernel layer: one `nft -f -` transaction per sync, run inside the
//! node's network namespace, behind the narrow [`Nft`] trait.

#[allow(unsafe_code)]
mod libnft;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Errors from the kernel layer.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The network namespace could not be opened or entered.
    #[error("cannot enter network namespace {path}")]
    Netns {
        /// Namespace file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The helper program could not be started.
    #[error("cannot run {program} (is it installed, and are we root?)")]
    Spawn {
        /// Program.
        program: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// nft rejected the transaction; nothing was changed.
    #[error("nft rejected the transaction: {stderr}")]
    Rejected {
        /// nft's message.
        stderr: String,
    },
}

/// Loads nft transactions into the kernel.
pub trait Nft: Send {
    /// Applies `script` as one atomic transaction.
    fn apply(&mut self, script: &str) -> Result<(), ApplyError>;
}

/// Where helper programs run: this process's namespace or a named one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Netns {
    path: Option<PathBuf>,
}

impl Netns {
    /// The current namespace.
    pub fn current() -> Netns {
        Netns { path: None }
    }

    /// A namespace by path (`/proc/PID/ns/net`, `/run/netns/NAME`) or by the
    /// name `ip netns` gives it.
    pub fn named(name_or_path: &str) -> Netns {
        let path = if name_or_path.contains('/') {
            PathBuf::from(name_or_path)
        } else {
            Path::new("/run/netns").join(name_or_path)
        };
        Netns { path: Some(path) }
    }

    /// Moves the calling thread into the namespace (for long-lived worker
    /// threads; sockets they open stay there).
    pub fn enter(&self) -> Result<(), ApplyError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = std::fs::File::open(path).map_err(|source| ApplyError::Netns {
            path: path.clone(),
            source,
        })?;
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            ApplyError::Netns {
                path: path.clone(),
                source: std::io::Error::from(e),
            }
        })
    }

    /// Binds a TCP listener inside the namespace (sockets stay in the
    /// namespace they were created in, whichever thread later uses them).
    pub fn bind_tcp(&self, addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
        let path = self.path.clone();
        std::thread::scope(|s| {
            s.spawn(move || {
                if let Some(path) = path {
                    let file = std::fs::File::open(&path)?;
                    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(std::io::Error::from)?;
                }
                let l = std::net::TcpListener::bind(addr)?;
                l.set_nonblocking(true)?;
                Ok(l)
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("netns thread panicked")))
        })
    }

    /// Runs `cmd` with `stdin` inside the namespace: a short-lived thread enters
    /// it with setns(2) and spawns the child, which inherits it.
    pub fn run(&self, mut cmd: Command, stdin: &[u8]) -> Result<Output, ApplyError> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        std::thread::scope(|s| {
            s.spawn(move || {
                self.enter()?;
                let spawn_err = |source| ApplyError::Spawn {
                    program: program.clone(),
                    source,
                };
                let mut child = cmd
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(spawn_err)?;
                if let Some(mut pipe) = child.stdin.take() {
                    pipe.write_all(stdin).map_err(spawn_err)?;
                }
                child.wait_with_output().map_err(spawn_err)
            })
            .join()
            .unwrap_or_else(|_| {
                Err(ApplyError::Spawn {
                    program: "netns thread".into(),
                    source: std::io::Error::other("panicked"),
                })
            })
        })
    }
}

pub use libnft::NftLib;

/// The fastest [`Nft`] available for `netns`: libnftables on a long-lived
/// worker thread, else the `nft` program.
pub fn nft_for(netns: &Netns) -> Result<Box<dyn Nft>, ApplyError> {
    Ok(match NftLib::new(netns)? {
        Some(lib) => Box::new(lib),
        None => {
            tracing::info!("libnftables not found; running the nft program per sync");
            Box::new(NftCommand::new(netns.clone()))
        }
    })
}

/// [`Nft`] that pipes the transaction to the `nft` program.
#[derive(Debug, Clone)]
pub struct NftCommand {
    netns: Netns,
    program: PathBuf,
}

impl NftCommand {
    /// `nft` from `PATH`, run in `netns`.
    pub fn new(netns: Netns) -> NftCommand {
        NftCommand {
            netns,
            program: PathBuf::from("nft"),
        }
    }
}

impl Nft for NftCommand {
    fn apply(&mut self, script: &str) -> Result<(), ApplyError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(["-f", "-"]);
        let out = self.netns.run(cmd, script.as_bytes())?;
        if out.status.success() {
            Ok(())
        } else {
            let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            stderr.truncate(4000);
            Err(ApplyError::Rejected { stderr })
        }
    }
}

/// Test double that records transactions.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct RecordingNft {
    /// Every script applied, in order.
    pub scripts: Vec<String>,
    /// When set, the next apply fails with this message.
    pub fail_next: Option<String>,
}

#[cfg(any(test, feature = "testing"))]
impl Nft for RecordingNft {
    fn apply(&mut self, script: &str) -> Result<(), ApplyError> {
        if let Some(stderr) = self.fail_next.take() {
            return Err(ApplyError::Rejected { stderr });
        }
        self.scripts.push(script.to_string());
        Ok(())
    }
}
