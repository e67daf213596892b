//! Helpers shared by knet's integration tests: the root check every
//! namespace test starts with, names that cannot collide between test
//! processes, child processes that are killed (by PID) when a test ends,
//! and polling for state that settles asynchronously.

use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// True when a test that needs root may run. Without root it panics, unless
/// `KNET_SKIP_PRIVILEGED=1` is set: then it prints "skipped" and returns false.
pub fn require_root() -> bool {
    skip_decision(
        nix::unistd::geteuid().is_root(),
        std::env::var("KNET_SKIP_PRIVILEGED").ok().as_deref(),
    )
}

fn skip_decision(root: bool, skip: Option<&str>) -> bool {
    if root {
        return true;
    }
    if skip == Some("1") {
        eprintln!("skipped: needs root (KNET_SKIP_PRIVILEGED=1)");
        return false;
    }
    panic!(
        "this test needs root (network namespaces, nftables); run as root or set KNET_SKIP_PRIVILEGED=1 to skip it"
    );
}

/// A name unique to this process and call: `knt<tag><pid>x<n>` (short
/// enough for interface names when `tag` is a few letters).
pub fn uniq(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "knt{tag}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A child process the test started; killed by its PID and reaped on drop,
/// so a failing assertion leaves nothing running.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// The child's PID.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Sends SIGTERM and waits: whether the process then exited successfully.
    pub fn terminate(&mut self) -> bool {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_err() {
            return false;
        }
        self.0.wait().is_ok_and(|s| s.success())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` to completion, fails the test with its stderr unless it exits
/// successfully, and returns its stdout.
pub fn stdout_of_success(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run the command");
    assert!(
        out.status.success(),
        "{:?} failed ({}): {}",
        cmd.get_program(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Calls `f` every 200 ms until it returns `Some`, and returns that value;
/// fails the test with `what` after `secs` seconds.
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs}s: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Named network namespaces (under `/run/netns`) whose names start with `prefix`.
pub fn netns_named(prefix: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_runs_and_skip_needs_exactly_one() {
        assert!(skip_decision(true, None));
        assert!(!skip_decision(false, Some("1")));
        let refused = std::panic::catch_unwind(|| skip_decision(false, Some("yes")));
        assert!(refused.is_err(), "only KNET_SKIP_PRIVILEGED=1 skips");
        assert!(std::panic::catch_unwind(|| skip_decision(false, None)).is_err());
    }

    #[test]
    fn names_do_not_repeat() {
        let (a, b) = (uniq("t"), uniq("t"));
        assert_ne!(a, b);
        assert!(
            a.starts_with(&format!("kntt{}x", std::process::id())),
            "{a}"
        );
    }

    #[test]
    fn eventually_returns_the_first_value() {
        let mut n = 0;
        assert_eq!(
            eventually(5, "counter", || {
                n += 1;
                (n == 3).then_some(n)
            }),
            3
        );
        let late = std::panic::catch_unwind(|| eventually(0, "never", || None::<()>));
        assert!(late.is_err());
    }

    #[test]
    fn terminate_reports_a_clean_exit() {
        let mut g = ChildGuard(
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn sleep"),
        );
        // sleep dies of SIGTERM: not a success.
        assert!(!g.terminate());
    }

    #[test]
    fn stdout_of_success_returns_output_and_fails_on_error() {
        assert_eq!(stdout_of_success(Command::new("echo").arg("hi")), "hi\n");
        let failed = std::panic::catch_unwind(|| stdout_of_success(&mut Command::new("false")));
        assert!(failed.is_err(), "a failing command fails the test");
    }

    #[test]
    fn guard_kills_its_child() {
        let g = ChildGuard(
            std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn sleep"),
        );
        let pid = g.id();
        drop(g);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "killed and reaped"
        );
    }
}
