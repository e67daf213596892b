//! A container's console: what `kubectl attach` (and `kubectl run -it`)
//! reaches. A container with `stdin: true` gets its stdin from a pipe, or a
//! whole pseudo-terminal when `tty: true` as well; the console holds the
//! writing end of the current process and tells attachers when it exits.
//! Output always goes to the container's log file, which attachers follow.

use std::fs::File;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Where the container's current process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Not started yet (or waiting to restart).
    Waiting,
    /// Running; the number counts starts, so a restart is a new run.
    Running(u64),
    /// Run `n` ended with this exit code.
    Exited(u64, i32),
}

/// The stdio flags from the container's spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StdioSpec {
    /// `stdin: true`: the process reads from a pipe (or the terminal).
    pub stdin: bool,
    /// `stdinOnce: true`: the first attach session's end closes stdin.
    pub stdin_once: bool,
    /// `tty: true`: stdin, stdout and stderr are one pseudo-terminal.
    pub tty: bool,
}

impl StdioSpec {
    /// Reads `stdin`, `stdinOnce` and `tty` from a container spec.
    pub fn of(container: &serde_json::Value) -> Self {
        let flag = |k: &str| container[k].as_bool().unwrap_or(false);
        StdioSpec {
            stdin: flag("stdin"),
            stdin_once: flag("stdinOnce"),
            // The kubelet gives a terminal only together with stdin.
            tty: flag("tty") && flag("stdin"),
        }
    }
}

#[derive(Default)]
struct Ends {
    /// Writes to the process's stdin (the pipe, or the pty's master).
    stdin: Option<Arc<File>>,
    /// The pty's master, for window-size changes.
    master: Option<Arc<File>>,
}

/// One container's console.
pub struct Console {
    spec: StdioSpec,
    ends: Mutex<Ends>,
    state: watch::Sender<RunState>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("spec", &self.spec)
            .field("state", &*self.state.borrow())
            .finish()
    }
}

impl Console {
    /// A console for a container with these stdio flags.
    pub fn new(spec: StdioSpec) -> Arc<Self> {
        Arc::new(Console {
            spec,
            ends: Mutex::new(Ends::default()),
            state: watch::channel(RunState::Waiting).0,
        })
    }

    /// The container's stdio flags.
    pub fn spec(&self) -> StdioSpec {
        self.spec
    }

    fn ends(&self) -> std::sync::MutexGuard<'_, Ends> {
        self.ends.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a new process: its stdin writer and, with a terminal, the master.
    pub(crate) fn started(&self, stdin: Option<File>, master: Option<File>) {
        let mut ends = self.ends();
        ends.stdin = stdin.map(Arc::new);
        ends.master = master.map(Arc::new);
        drop(ends);
        self.state.send_modify(|s| {
            let n = match *s {
                RunState::Running(n) | RunState::Exited(n, _) => n + 1,
                RunState::Waiting => 1,
            };
            *s = RunState::Running(n);
        });
    }

    /// Records the current process's exit.
    pub(crate) fn exited(&self, code: i32) {
        *self.ends() = Ends::default();
        self.state.send_modify(|s| {
            if let RunState::Running(n) = *s {
                *s = RunState::Exited(n, code);
            }
        });
    }

    /// The writer of the running process's stdin, if it reads one.
    pub fn stdin(&self) -> Option<Arc<File>> {
        self.ends().stdin.clone()
    }

    /// Closes the running process's stdin (`stdinOnce` after an attach):
    /// a pipe reader sees EOF; a terminal gets end-of-file (Ctrl-D).
    pub fn close_stdin(&self) {
        let mut ends = self.ends();
        if ends.master.is_some()
            && let Some(w) = &ends.stdin
        {
            use std::io::Write;
            let _ = (&**w).write_all(&[4]);
        }
        ends.stdin = None;
    }

    /// Sets the terminal's window size, when there is a terminal.
    pub fn resize(&self, cols: u16, rows: u16) {
        use std::os::fd::AsFd;
        if let Some(m) = self.ends().master.clone()
            && let Err(e) = crate::sandbox::set_window_size(m.as_fd(), cols, rows)
        {
            tracing::debug!(error = %e, "attach: terminal resize");
        }
    }

    /// Follows the run state.
    pub fn subscribe(&self) -> watch::Receiver<RunState> {
        self.state.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_flags_follow_the_kubelet() {
        let s = StdioSpec::of(&json!({"stdin": true, "stdinOnce": true, "tty": true}));
        assert_eq!(
            s,
            StdioSpec {
                stdin: true,
                stdin_once: true,
                tty: true
            }
        );
        // A terminal needs stdin.
        assert!(!StdioSpec::of(&json!({"tty": true})).tty);
        assert_eq!(StdioSpec::of(&json!({})), StdioSpec::default());
    }

    #[test]
    fn runs_are_counted_across_restarts() {
        let c = Console::new(StdioSpec::default());
        let rx = c.subscribe();
        assert_eq!(*rx.borrow(), RunState::Waiting);
        c.started(None, None);
        assert_eq!(*rx.borrow(), RunState::Running(1));
        c.exited(3);
        assert_eq!(*rx.borrow(), RunState::Exited(1, 3));
        c.exited(4); // no second exit for the same run
        assert_eq!(*rx.borrow(), RunState::Exited(1, 3));
        c.started(None, None);
        assert_eq!(*rx.borrow(), RunState::Running(2));
    }

    #[test]
    fn stdin_is_dropped_on_exit_and_close() {
        let c = Console::new(StdioSpec {
            stdin: true,
            ..StdioSpec::default()
        });
        let (r, w) = std::io::pipe().expect("pipe");
        c.started(Some(File::from(std::os::fd::OwnedFd::from(w))), None);
        assert!(c.stdin().is_some());
        c.close_stdin();
        assert!(c.stdin().is_none());
        // The only writer is gone: the reader sees EOF.
        let mut buf = Vec::new();
        use std::io::Read;
        let mut r = r;
        assert_eq!(r.read_to_end(&mut buf).expect("read"), 0);
    }
}
