//! Pod sandboxes: a `pause` process holds the pod's namespaces (the pod's
//! network namespace, plus its own UTS namespace with the pod hostname and a
//! mount namespace where the pod's `/etc/resolv.conf`, `/etc/hosts` and
//! `/etc/hostname` are bind-mounted) — the role of Kubernetes' pause
//! container. Every container of the pod joins those namespaces through
//! [`run_in`], so they share one IP, one hostname and one set of files.
//!
//! Both functions run in a fresh single-threaded `knet` process (`knet pause`,
//! `knet run-in`): joining a mount namespace needs a single-threaded caller.

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};
use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// Why a sandbox step failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Opening a namespace or file failed.
    #[error("cannot open {path}: {source}")]
    Open {
        /// What was opened.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A namespace or mount system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// The step that failed.
        what: String,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// exec of the container command failed.
    #[error("cannot run {cmd:?}: {source}")]
    Exec {
        /// The command.
        cmd: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What the pause process sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseSpec {
    /// Path of the pod's network namespace (`/run/netns/...`); None keeps the
    /// caller's (hostNetwork pods run in the node's namespace).
    pub netns: Option<PathBuf>,
    /// Hostname set in the pod's UTS namespace.
    pub hostname: String,
    /// `(target, source)` files bind-mounted in the pod's mount namespace.
    pub binds: Vec<(PathBuf, PathBuf)>,
    /// A directory served at [`SERVICE_ACCOUNT_DIR`] (token, ca.crt,
    /// namespace). The pod then gets a private `/run`.
    pub service_account: Option<PathBuf>,
}

/// Where pods find their service account credentials (in-cluster config).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Sys { what, source }
}

fn open(path: &Path) -> Result<File, SandboxError> {
    File::open(path).map_err(|source| SandboxError::Open {
        path: path.into(),
        source,
    })
}

/// Builds the sandbox in the calling process, reports `ready` on stdout, and
/// then waits until killed. Never returns on success.
pub fn pause(spec: &PauseSpec) -> Result<std::convert::Infallible, SandboxError> {
    if let Some(netns) = &spec.netns {
        setns(open(netns)?, CloneFlags::CLONE_NEWNET)
            .map_err(sys("join the pod network namespace"))?;
    }
    unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWNS)
        .map_err(sys("create the pod UTS and mount namespaces"))?;
    nix::unistd::sethostname(&spec.hostname)
        .map_err(sys(format!("set hostname {:?}", spec.hostname)))?;
    // Keep the pod's mounts out of the host: make every mount private first.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys("make / private in the pod mount namespace"))?;
    for (target, source) in &spec.binds {
        mount(
            Some(source.as_path()),
            target.as_path(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(sys(format!(
            "bind {} over {}",
            source.display(),
            target.display()
        )))?;
    }
    if let Some(src) = &spec.service_account {
        mount_service_account(src)?;
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    loop {
        nix::unistd::pause();
    }
}

/// Gives the pod a private tmpfs `/run` (hiding the host's) holding the
/// service account directory. `src` is opened first: it lives under the
/// host's `/run`, which the tmpfs covers.
fn mount_service_account(src: &Path) -> Result<(), SandboxError> {
    let dir = open(src)?;
    use std::os::fd::AsRawFd;
    let via_fd = format!("/proc/self/fd/{}", dir.as_raw_fd());
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755"),
    )
    .map_err(sys("mount a private /run for the pod"))?;
    let target = Path::new(SERVICE_ACCOUNT_DIR);
    std::fs::create_dir_all(target).map_err(|source| SandboxError::Open {
        path: target.into(),
        source,
    })?;
    mount(
        Some(via_fd.as_str()),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys(format!(
        "bind the service account at {SERVICE_ACCOUNT_DIR}"
    )))?;
    Ok(())
}

/// Sets a pseudo-terminal's window size (`kubectl exec -t` resize events).
pub fn set_window_size(
    fd: std::os::fd::BorrowedFd<'_>,
    cols: u16,
    rows: u16,
) -> Result<(), SandboxError> {
    tty::set_window_size(fd, cols, rows).map_err(sys("set the terminal size"))
}

/// Joins the namespaces of the sandbox held by `pause_pid` and replaces this
/// process with `argv` (with `env` added and `dir` as working directory).
pub fn run_in(
    pause_pid: u32,
    argv: &[String],
    env: &[(String, String)],
    dir: Option<&Path>,
    tty: bool,
) -> Result<std::convert::Infallible, SandboxError> {
    let Some((prog, args)) = argv.split_first() else {
        return Err(SandboxError::Exec {
            cmd: String::new(),
            source: std::io::ErrorKind::InvalidInput.into(),
        });
    };
    let ns = |kind: &str| open(Path::new(&format!("/proc/{pause_pid}/ns/{kind}")));
    // Open all three before joining any: the mount namespace changes /proc.
    let (net, uts, mnt) = (ns("net")?, ns("uts")?, ns("mnt")?);
    setns(net, CloneFlags::CLONE_NEWNET).map_err(sys("join the pod network namespace"))?;
    setns(uts, CloneFlags::CLONE_NEWUTS).map_err(sys("join the pod UTS namespace"))?;
    setns(mnt, CloneFlags::CLONE_NEWNS).map_err(sys("join the pod mount namespace"))?;
    if tty {
        // A new session whose controlling terminal is the pty on stdin, so
        // shells get job control and the terminal's signals (Ctrl-C).
        nix::unistd::setsid().map_err(sys("start a session for the terminal"))?;
        tty::take_controlling_terminal().map_err(sys("make the pty the controlling terminal"))?;
    }
    let mut cmd = std::process::Command::new(prog);
    cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    cmd.current_dir(dir.unwrap_or(Path::new("/")));
    let source = cmd.exec();
    Err(SandboxError::Exec {
        cmd: prog.clone(),
        source,
    })
}

#[allow(unsafe_code)]
mod tty {
    nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);
    nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);

    /// Sets the window size of the terminal behind `fd`.
    pub(super) fn set_window_size(
        fd: std::os::fd::BorrowedFd<'_>,
        cols: u16,
        rows: u16,
    ) -> nix::Result<()> {
        use std::os::fd::AsRawFd;
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one `winsize` through the pointer, which
        // points at a live local value for the duration of the call.
        unsafe { tiocswinsz(fd.as_raw_fd(), &ws) }.map(drop)
    }

    /// Makes stdin (a pty) the controlling terminal of the calling session leader.
    pub(super) fn take_controlling_terminal() -> nix::Result<()> {
        // SAFETY: TIOCSCTTY on fd 0 takes a plain int (0: do not steal the
        // terminal from another session); no memory of ours is passed.
        unsafe { tiocsctty(0, 0) }.map(drop)
    }
}
