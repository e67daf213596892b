//! Readiness and liveness probes as the kubelet runs them: `httpGet` and
//! `tcpSocket` connect from the node's network namespace to the pod IP;
//! `exec` runs the command inside the sandbox. Thresholds, period, timeout
//! and initial delay follow the probe spec and its defaults.

use knet_podnet::netns::Netns;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// HTTP GET; success is a 2xx or 3xx status.
    Http {
        /// Port.
        port: u16,
        /// Path.
        path: String,
    },
    /// TCP connect.
    Tcp {
        /// Port.
        port: u16,
    },
    /// Command in the container; success is exit code 0.
    Exec {
        /// argv.
        command: Vec<String>,
    },
}

/// A parsed probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The check.
    pub check: Check,
    /// `initialDelaySeconds`.
    pub initial_delay: Duration,
    /// `periodSeconds` (default 10).
    pub period: Duration,
    /// `timeoutSeconds` (default 1).
    pub timeout: Duration,
    /// `successThreshold` (default 1).
    pub success_threshold: u32,
    /// `failureThreshold` (default 3).
    pub failure_threshold: u32,
}

/// Where network probes go: the pod IP, reached from the node's namespace.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// Pod IP.
    pub ip: IpAddr,
    /// The node's namespace.
    pub node_netns: Arc<Netns>,
}

fn secs(v: &Value, default: u64) -> Duration {
    Duration::from_secs(v.as_u64().unwrap_or(default))
}

/// Resolves a probe port: a number, or a name of one of the container's ports.
fn port(v: &Value, container: &Value) -> Option<u16> {
    if let Some(n) = v.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = v.as_str()?;
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)?["containerPort"]
        .as_u64()?
        .try_into()
        .ok()
}

impl Probe {
    /// Parses `probe` (e.g. `container.readinessProbe`); None when absent or unusable.
    pub fn parse(probe: &Value, container: &Value) -> Option<Self> {
        let check = if let Some(h) = probe.get("httpGet") {
            Check::Http {
                port: port(&h["port"], container)?,
                path: h["path"].as_str().unwrap_or("/").to_string(),
            }
        } else if let Some(t) = probe.get("tcpSocket") {
            Check::Tcp {
                port: port(&t["port"], container)?,
            }
        } else {
            let command = probe["exec"]["command"]
                .as_array()?
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect();
            Check::Exec { command }
        };
        Some(Self {
            check,
            initial_delay: secs(&probe["initialDelaySeconds"], 0),
            period: secs(&probe["periodSeconds"], 10),
            timeout: secs(&probe["timeoutSeconds"], 1),
            success_threshold: probe["successThreshold"].as_u64().unwrap_or(1) as u32,
            failure_threshold: probe["failureThreshold"].as_u64().unwrap_or(3) as u32,
        })
    }

    /// A runner that starts counting now.
    pub fn runner(self) -> Runner {
        let first = Instant::now() + self.initial_delay;
        Runner {
            probe: self,
            next: first,
            successes: 0,
            failures: 0,
        }
    }
}

impl Check {
    /// What failed, for the `Unhealthy` event (`ip` is the pod's address).
    pub fn failure(&self, ip: IpAddr) -> String {
        let addr = SocketAddr::new(ip, 0);
        let host = match addr {
            SocketAddr::V4(_) => ip.to_string(),
            SocketAddr::V6(_) => format!("[{ip}]"),
        };
        match self {
            Check::Http { port, path } => {
                format!("Get \"http://{host}:{port}{path}\": no 2xx/3xx answer")
            }
            Check::Tcp { port } => format!("dial tcp {host}:{port}: connection failed"),
            Check::Exec { command } => format!("command {command:?} did not exit 0"),
        }
    }
}

/// Runs a probe on its schedule and applies the thresholds.
#[derive(Debug)]
pub struct Runner {
    probe: Probe,
    next: Instant,
    successes: u32,
    failures: u32,
}

impl Runner {
    /// The probe this runner runs.
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// Runs the probe if it is due; returns the new verdict when a threshold is crossed.
    pub async fn poll(
        &mut self,
        target: &ProbeTarget,
        pause_pid: u32,
        knet_exe: &Path,
    ) -> Option<bool> {
        if Instant::now() < self.next {
            return None;
        }
        self.next = Instant::now() + self.probe.period;
        let ok = run_check(&self.probe, target, pause_pid, knet_exe).await;
        self.record(ok)
    }

    /// Counts one result; returns the verdict when a threshold is reached.
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        if ok {
            self.failures = 0;
            self.successes += 1;
            (self.successes >= self.probe.success_threshold).then_some(true)
        } else {
            self.successes = 0;
            self.failures += 1;
            (self.failures >= self.probe.failure_threshold).then_some(false)
        }
    }
}

async fn run_check(p: &Probe, target: &ProbeTarget, pause_pid: u32, knet_exe: &Path) -> bool {
    let timeout = p.timeout;
    match &p.check {
        Check::Exec { command } => exec(command, pause_pid, knet_exe.to_path_buf(), timeout).await,
        Check::Tcp { port } | Check::Http { port, .. } => {
            let addr = SocketAddr::new(target.ip, *port);
            let path = match &p.check {
                Check::Http { path, .. } => Some(path.clone()),
                _ => None,
            };
            let ns = target.node_netns.clone();
            let res = tokio::task::spawn_blocking(move || {
                ns.run(move || connect(addr, path.as_deref(), timeout))
            });
            matches!(res.await, Ok(Ok(true)))
        }
    }
}

/// Blocking: TCP connect, and for HTTP a GET whose status must be 2xx/3xx.
fn connect(addr: SocketAddr, http_path: Option<&str>, timeout: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let Some(path) = http_path else { return true };
    let _ = s.set_read_timeout(Some(timeout));
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.33\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    if s.read_exact(&mut head).is_err() {
        return false;
    }
    let code = std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|c| c.parse::<u16>().ok());
    matches!(code, Some(200..=399))
}

async fn exec(command: &[String], pause_pid: u32, knet_exe: PathBuf, timeout: Duration) -> bool {
    let mut cmd = tokio::process::Command::new(knet_exe);
    cmd.arg("run-in")
        .arg("--pid")
        .arg(pause_pid.to_string())
        .arg("--")
        .args(command);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    matches!(tokio::time::timeout(timeout, child.wait()).await, Ok(Ok(s)) if s.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_named_ports_and_defaults() {
        let c = json!({"ports": [{"name": "http", "containerPort": 8080}]});
        let p = Probe::parse(
            &json!({"httpGet": {"port": "http", "path": "/healthz"}}),
            &c,
        )
        .unwrap();
        assert_eq!(
            p.check,
            Check::Http {
                port: 8080,
                path: "/healthz".into()
            }
        );
        assert_eq!(
            (p.period, p.timeout, p.failure_threshold),
            (Duration::from_secs(10), Duration::from_secs(1), 3)
        );
        assert!(Probe::parse(&json!({"tcpSocket": {"port": "nope"}}), &c).is_none());
        let e = Probe::parse(
            &json!({"exec": {"command": ["true"]}, "failureThreshold": 1}),
            &c,
        )
        .unwrap();
        assert_eq!(
            e.check,
            Check::Exec {
                command: vec!["true".into()]
            }
        );
    }

    #[test]
    fn thresholds() {
        let c = json!({});
        let p = Probe::parse(
            &json!({"tcpSocket": {"port": 80}, "successThreshold": 2, "failureThreshold": 2}),
            &c,
        )
        .unwrap();
        let mut r = p.runner();
        assert_eq!(r.record(true), None);
        assert_eq!(r.record(true), Some(true));
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(false), Some(false));
        assert_eq!(r.record(true), None);
    }
}
