//! Shared helpers of the lab end-to-end tests: a `knet up --detach` lab with a
//! unique name and API port, torn down (also on panic) by `knet down --force`,
//! and real `kubectl` pointed at it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The `knet` binary under test.
pub(crate) fn knet() -> &'static str {
    env!("CARGO_BIN_EXE_knet")
}

/// Whether the test may run: root, or an explicit opt-out.
pub(crate) use knet_testing::require_root as privileged;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running lab; dropping it runs `knet down --force`.
pub(crate) struct Lab {
    pub(crate) name: String,
    pub(crate) kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

impl Lab {
    /// `knet up --detach` with `nodes` nodes and extra flags.
    pub(crate) fn up(tag: &str, nodes: u16, extra: &[&str]) -> Lab {
        let name = format!("kt{tag}{}", std::process::id() % 100_000);
        let port = free_port().to_string();
        let n = nodes.to_string();
        let mut args = vec![
            "up",
            "--detach",
            "--name",
            &name,
            "--nodes",
            &n,
            "--api-listen",
        ];
        let listen = format!("127.0.0.1:{port}");
        args.push(&listen);
        args.extend_from_slice(extra);
        let out = Command::new(knet())
            .args(&args)
            .output()
            .expect("run knet up");
        let lab = Lab {
            kubeconfig: PathBuf::from(format!("/run/knet/{name}/api/kubeconfig")),
            name,
            cache: tempfile::tempdir().unwrap(),
        };
        assert!(
            out.status.success(),
            "knet up failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(format!("/run/knet/{}/up.log", lab.name)).unwrap_or_default()
        );
        lab
    }

    /// Runs kubectl against the lab.
    pub(crate) fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// Runs kubectl with `input` on its stdin.
    pub(crate) fn kubectl_with_input(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run kubectl");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .expect("write kubectl's stdin");
        drop(stdin);
        child.wait_with_output().expect("wait for kubectl")
    }

    /// Starts `kubectl port-forward TARGET :PORT`; returns the process and
    /// the local port kubectl listens on.
    pub(crate) fn port_forward(&self, target: &str, port: u16) -> (knet_testing::ChildGuard, u16) {
        use std::io::BufRead;
        let mut child = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(["port-forward", target, &format!(":{port}")])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run kubectl port-forward");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let guard = knet_testing::ChildGuard(child);
        let mut line = String::new();
        out.read_line(&mut line)
            .expect("kubectl port-forward output");
        // Keep draining: kubectl dies of SIGPIPE when its stdout closes.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let local = line
            .strip_prefix("Forwarding from 127.0.0.1:")
            .and_then(|r| r.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("kubectl port-forward printed {line:?}"));
        (guard, local)
    }

    /// Runs kubectl and returns stdout, failing the test on a non-zero exit.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Applies a manifest given as YAML text.
    pub(crate) fn apply(&self, yaml: &str) {
        let f = self.cache.path().join(format!("m{}.yaml", rand_suffix()));
        std::fs::write(&f, yaml).unwrap();
        self.ok(&["apply", "-f", f.to_str().unwrap()]);
    }

    /// `knet exec NODE -- CMD` output (stdout), with its success.
    pub(crate) fn on_node(&self, node: &str, cmd: &[&str]) -> (bool, String) {
        let out = Command::new(knet())
            .args(["exec", "--name", &self.name, node, "--"])
            .args(cmd)
            .output()
            .expect("run knet exec");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Runs `cmd` on `node` until it succeeds (or `secs` pass) and returns
    /// its last stdout — for paths that the dataplane programs asynchronously.
    pub(crate) fn eventually_on_node(&self, node: &str, cmd: &[&str], secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (ok, out) = self.on_node(node, cmd);
            if ok || Instant::now() >= deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Node name `i` (0 = control plane, 1 = worker, 2 = worker2 …).
    pub(crate) fn node(&self, i: usize) -> String {
        match i {
            0 => format!("{}-control-plane", self.name),
            1 => format!("{}-worker", self.name),
            n => format!("{}-worker{n}", self.name),
        }
    }

    /// Waits until `jsonpath` of `kind/name` equals `want`.
    pub(crate) fn wait_for(&self, what: &[&str], jsonpath: &str, want: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last = String::new();
        while Instant::now() < deadline {
            let mut args = what.to_vec();
            let jp = format!("jsonpath={jsonpath}");
            args.extend(["-o", &jp]);
            let out = self.kubectl(&args);
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && last == want {
                return last;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{what:?} {jsonpath}: wanted {want:?}, last saw {last:?}");
    }

    /// Waits until `jsonpath` of `what` is non-empty and returns it.
    pub(crate) fn wait_for_nonempty(&self, what: &[&str], jsonpath: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            let mut args = what.to_vec();
            let jp = format!("jsonpath={jsonpath}");
            args.extend(["-o", &jp]);
            let out = self.kubectl(&args);
            let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !v.is_empty() {
                return v;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{what:?} {jsonpath} stayed empty for {secs}s");
    }

    /// The lab's network namespaces that exist now.
    pub(crate) fn namespaces(&self) -> Vec<String> {
        namespaces_of(&self.name)
    }
}

/// Network namespaces whose name starts with `<name>-`.
pub(crate) fn namespaces_of(name: &str) -> Vec<String> {
    let prefix = format!("{name}-");
    std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(knet())
            .args(["down", "--force", "--name", &self.name])
            .output();
    }
}
