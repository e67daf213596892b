//! Network namespaces: opening them by path, creating named ones under
//! `/run/netns` (the `ip netns` layout), running code inside one on a
//! dedicated OS thread, and writing per-namespace sysctls.
//!
//! Nothing here changes the calling thread's namespace: every `setns` happens
//! on a short-lived thread that exits afterwards.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;

/// Where `ip netns` keeps named namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Errors of namespace handling.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The namespace file could not be opened (usually: it does not exist).
    #[error("cannot open network namespace {path}: {source}")]
    Open {
        /// The path that was tried.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `setns`, `unshare` or a mount failed.
    #[error("{op} for network namespace {path}: {source}")]
    Sys {
        /// What was attempted.
        op: &'static str,
        /// The namespace concerned.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A sysctl could not be written.
    #[error("cannot write sysctl {key}={value} in {path}: {source}")]
    Sysctl {
        /// The sysctl, slash-separated below /proc/sys.
        key: String,
        /// The value written.
        value: String,
        /// The namespace concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The worker thread panicked.
    #[error("thread running inside network namespace {0} panicked")]
    Panicked(PathBuf),
    /// A name that cannot be a namespace name.
    #[error("invalid network namespace name {0:?}")]
    BadName(String),
}

/// An open network namespace (a file descriptor on its nsfs inode).
#[derive(Debug)]
pub struct Netns {
    file: File,
    path: PathBuf,
}

impl Netns {
    /// Opens the namespace at `path` (e.g. `/run/netns/x`, `/proc/<pid>/ns/net`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, NetnsError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| NetnsError::Open {
            path: path.clone(),
            source,
        })?;
        Ok(Self { file, path })
    }

    /// The namespace of the calling thread.
    pub fn current() -> Result<Self, NetnsError> {
        Self::open("/proc/thread-self/ns/net")
    }

    /// The path this namespace was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A borrowed descriptor, e.g. for `IFLA_NET_NS_FD`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Whether this is the calling thread's own namespace.
    pub fn is_current(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (
            self.file.metadata(),
            std::fs::metadata("/proc/thread-self/ns/net"),
        ) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }

    /// Runs `f` inside this namespace and returns its result: inline when it
    /// is the caller's own namespace, else on a fresh OS thread that has
    /// entered it. The caller's thread is never moved.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
        if self.is_current() {
            return Ok(f());
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(
                    |source| NetnsError::Sys {
                        op: "setns",
                        path: self.path.clone(),
                        source,
                    },
                )?;
                Ok(f())
            })
            .join()
            .map_err(|_| NetnsError::Panicked(self.path.clone()))?
        })
    }

    /// Writes a sysctl below `/proc/sys` (key like `net/ipv4/ip_forward` or
    /// `net.ipv4.ip_forward`) as seen from inside this namespace.
    pub fn write_sysctl(&self, key: &str, value: &str) -> Result<(), NetnsError> {
        let rel = key.replace('.', "/");
        let res = self.run(|| std::fs::write(Path::new("/proc/sys").join(&rel), value))?;
        res.map_err(|source| NetnsError::Sysctl {
            key: rel.clone(),
            value: value.to_string(),
            path: self.path.clone(),
            source,
        })
    }

    /// Reads a sysctl as seen from inside this namespace (trimmed).
    pub fn read_sysctl(&self, key: &str) -> Result<String, NetnsError> {
        let rel = key.replace('.', "/");
        let res = self.run(|| std::fs::read_to_string(Path::new("/proc/sys").join(&rel)))?;
        res.map(|s| s.trim().to_string())
            .map_err(|source| NetnsError::Sysctl {
                key: rel.clone(),
                value: String::new(),
                path: self.path.clone(),
                source,
            })
    }
}

/// A named namespace at `/run/netns/<name>` that this process created; it is
/// removed (unmounted and unlinked) on drop, so tests and the lab never leak
/// one, even on panic.
#[derive(Debug)]
pub struct NamedNetns {
    name: String,
    ns: Netns,
    keep: bool,
}

impl NamedNetns {
    /// Creates `/run/netns/<name>` holding a fresh, empty network namespace
    /// (like `ip netns add`). Fails if the name is taken.
    pub fn create(name: &str) -> Result<Self, NetnsError> {
        if name.is_empty() || name.contains('/') || name.len() > 200 {
            return Err(NetnsError::BadName(name.to_string()));
        }
        let dir = Path::new(NETNS_RUN_DIR);
        std::fs::create_dir_all(dir).map_err(|source| NetnsError::Open {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| NetnsError::Open {
                path: path.clone(),
                source,
            })?;
        if let Err(e) = bind_new_netns(&path) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        let ns = Netns::open(&path)?;
        Ok(Self {
            name: name.to_string(),
            ns,
            keep: false,
        })
    }

    /// The name under `/run/netns`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The open namespace.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// The path `/run/netns/<name>`.
    pub fn path(&self) -> &Path {
        self.ns.path()
    }

    /// Leaves the namespace in place when this value is dropped.
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        if !self.keep {
            delete_named(&self.name);
        }
    }
}

/// Removes `/run/netns/<name>` (unmount + unlink); missing is fine. Links in
/// the namespace go away once nothing else holds it.
pub fn delete_named(name: &str) {
    let path = Path::new(NETNS_RUN_DIR).join(name);
    let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(&path);
}

/// On a fresh thread: `unshare(CLONE_NEWNET)`, then bind-mount the thread's
/// namespace onto `target` so it outlives the thread.
fn bind_new_netns(target: &Path) -> Result<(), NetnsError> {
    let target = target.to_path_buf();
    std::thread::scope(|s| {
        s.spawn(|| {
            let sys = |op, source| NetnsError::Sys {
                op,
                path: target.clone(),
                source,
            };
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|e| sys("unshare", e))?;
            nix::mount::mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                nix::mount::MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| sys("bind mount", e))
        })
        .join()
        .map_err(|_| NetnsError::Panicked(target.clone()))?
    })
}
