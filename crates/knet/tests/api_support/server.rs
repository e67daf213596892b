//! Runs the real `knet api` binary for tests, and kubectl against it.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `knet api` child process; killed on drop.
pub struct ApiProc {
    child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub kubeconfig: PathBuf,
}

impl ApiProc {
    /// Starts `knet api` on a free port with its data in `<dir>/data`.
    pub fn start(dir: &Path) -> Self {
        Self::start_on(dir, "127.0.0.1:0")
    }

    /// Starts `knet api` listening on `listen`.
    pub fn start_on(dir: &Path, listen: &str) -> Self {
        let data_dir = dir.join("data");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("server log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_knet"))
            .args(["api", "--data-dir"])
            .arg(&data_dir)
            .args(["--listen", listen])
            .env("KNET_LOG", "knet_api=debug,info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn knet api");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("knet API server listening on https://") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a.parse().expect("address"),
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                panic!("knet api did not report its address; log:\n{log}");
            }
        };
        let kubeconfig = data_dir.join("kubeconfig");
        Self {
            child,
            addr,
            data_dir,
            kubeconfig,
        }
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ApiProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// kubectl with a temp kubeconfig and cache dir.
pub struct Kubectl {
    pub kubeconfig: PathBuf,
    pub cache: PathBuf,
    pub cwd: PathBuf,
}

/// What kubectl did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rc={} stdout={:?} stderr={:?}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Kubectl {
    pub fn new(api: &ApiProc, dir: &Path) -> Self {
        Self {
            kubeconfig: api.kubeconfig.clone(),
            cache: dir.join("kcache"),
            cwd: dir.to_path_buf(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(["--request-timeout", "30s"])
            .args(args)
            .current_dir(&self.cwd)
            .env_remove("KUBECONFIG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out: Output = self.command(args).output().expect("run kubectl");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and requires exit code 0.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, 0, "kubectl {args:?} failed: {r:?}");
        r.stdout
    }

    /// Runs and requires failure with `needle` in stderr.
    pub fn fails(&self, args: &[&str], needle: &str) -> Run {
        let r = self.run(args);
        assert_ne!(r.code, 0, "kubectl {args:?} should fail: {r:?}");
        assert!(
            r.stderr.contains(needle),
            "kubectl {args:?}: expected {needle:?} in stderr: {r:?}"
        );
        r
    }

    /// Writes `text` to `<cwd>/<name>`.
    pub fn file(&self, name: &str, text: &str) {
        std::fs::write(self.cwd.join(name), text).expect("write manifest");
    }
}
