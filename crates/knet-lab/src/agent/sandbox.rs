//! A pod's sandbox on a node: its network namespace (attached by the pod
//! network), the files the kubelet writes, and the `knet pause` process that
//! holds the UTS and mount namespaces every container joins.

use crate::files::hosts::{pod_hostname, render_hosts};
use crate::files::resolv::{ClusterDns, ResolvConf, pod_resolv_conf};
use knet_podnet::netns::{NamedNetns, delete_named};
use serde_json::Value;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Attaches pods to the node's pod network and detaches them (the CNI ADD /
/// DEL of a real kubelet). Implemented with knet's CNI code in the lab.
pub trait PodNetwork: Send + Sync + 'static {
    /// Wires the namespace at `netns` for the pod `id` and returns its IPs.
    fn attach(
        &self,
        id: &str,
        netns: &Path,
    ) -> impl std::future::Future<Output = Result<Vec<IpAddr>, String>> + Send;
    /// Undoes [`PodNetwork::attach`]; succeeds when nothing is left.
    fn detach(
        &self,
        id: &str,
        netns: &Path,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// Node facts a sandbox needs.
#[derive(Debug, Clone)]
pub struct NodeEnv {
    /// Node name.
    pub node_name: String,
    /// Node address (the pod's hostIP).
    pub node_ip: String,
    /// The node's network namespace (hostNetwork pods run there).
    pub node_netns: PathBuf,
    /// Where pod files and logs go: `<state>/pods/<ns>_<name>_<uid>/`.
    pub state_dir: PathBuf,
    /// Prefix of pod namespace names (`<cluster>-pod-`).
    pub netns_prefix: String,
    /// The `knet` executable, for `knet pause` / `knet run-in` / `knet workload`.
    pub knet_exe: PathBuf,
    /// Cluster DNS settings for ClusterFirst pods.
    pub dns: ClusterDns,
    /// The node's own resolver, for `dnsPolicy: Default`.
    pub node_resolv: ResolvConf,
    /// Credentials mounted into pods for in-cluster API access, if any.
    pub service_account: Option<ServiceAccount>,
}

/// What a pod's service account directory holds.
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    /// Bearer token.
    pub token: String,
    /// CA certificate (PEM) of the API server.
    pub ca_pem: String,
}

/// A live sandbox.
#[derive(Debug)]
pub struct Sandbox {
    /// Pod IPs.
    pub ips: Vec<IpAddr>,
    /// The pod's directory (files, logs).
    pub dir: PathBuf,
    /// Network namespace name, None for hostNetwork pods.
    pub netns_name: Option<String>,
    /// The pause process.
    pub pause: Child,
    id: String,
}

fn meta<'a>(pod: &'a Value, key: &str) -> &'a str {
    pod["metadata"][key].as_str().unwrap_or("")
}

/// `<ns>_<name>_<uid>`: the kubelet's pod directory naming.
pub fn pod_dir_name(pod: &Value) -> String {
    format!(
        "{}_{}_{}",
        meta(pod, "namespace"),
        meta(pod, "name"),
        meta(pod, "uid")
    )
}

/// The pod's network namespace name: `<prefix><ns>-<name>`, shortened with
/// the uid when too long for a file name.
pub fn netns_name(prefix: &str, pod: &Value) -> String {
    let full = format!("{prefix}{}-{}", meta(pod, "namespace"), meta(pod, "name"));
    if full.len() <= 120 {
        full
    } else {
        format!("{prefix}{}", meta(pod, "uid"))
    }
}

impl Sandbox {
    /// Builds the sandbox for `pod`; on failure nothing is left behind.
    pub async fn create<N: PodNetwork>(
        pod: &Value,
        env: &NodeEnv,
        net: &N,
    ) -> Result<Self, String> {
        let id = meta(pod, "uid").to_string();
        let dir = env.state_dir.join("pods").join(pod_dir_name(pod));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let host_network = pod["spec"]["hostNetwork"].as_bool().unwrap_or(false);
        let (netns_name, netns_path, ips) = if host_network {
            (
                None,
                env.node_netns.clone(),
                vec![env.node_ip.parse().map_err(|e| format!("node IP: {e}"))?],
            )
        } else {
            let name = netns_name(&env.netns_prefix, pod);
            delete_named(&name); // a crashed agent's leftover
            let ns =
                NamedNetns::create(&name).map_err(|e| format!("pod network namespace: {e}"))?;
            let path = ns.path().to_path_buf();
            let ips = match net.attach(&id, &path).await {
                Ok(ips) => ips,
                Err(e) => {
                    let _ = net.detach(&id, &path).await;
                    return Err(format!("failed to set up the pod network: {e}"));
                }
            };
            ns.keep();
            (Some(name), path, ips)
        };
        let undo = |msg: String| async {
            if let Some(n) = &netns_name {
                let _ = net.detach(&id, &netns_path).await;
                delete_named(n);
            }
            msg
        };
        let ip_strings: Vec<String> = ips.iter().map(ToString::to_string).collect();
        if let Err(e) = write_files(pod, env, &dir, &ip_strings) {
            return Err(undo(e).await);
        }
        // hostNetwork pods join the node's namespace; they still get their own files.
        match start_pause(pod, env, &dir, &netns_path).await {
            Ok(pause) => Ok(Self {
                ips,
                dir,
                netns_name,
                pause,
                id,
            }),
            Err(e) => Err(undo(e).await),
        }
    }

    /// PID of the pause process (containers join its namespaces).
    pub fn pause_pid(&self) -> Option<u32> {
        self.pause.id()
    }

    /// Stops the pause process and removes the network; reports every failure.
    pub async fn destroy<N: PodNetwork>(mut self, net: &N) -> Result<(), String> {
        let mut errors = Vec::new();
        if let Err(e) = self.pause.kill().await {
            errors.push(format!("stop pause: {e}"));
        }
        if let Some(name) = &self.netns_name {
            let path = Path::new("/run/netns").join(name);
            if let Err(e) = net.detach(&self.id, &path).await {
                errors.push(format!("detach network: {e}"));
            }
            delete_named(name);
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            errors.push(format!("remove {}: {e}", self.dir.display()));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

fn write_files(pod: &Value, env: &NodeEnv, dir: &Path, ips: &[String]) -> Result<(), String> {
    let resolv = pod_resolv_conf(pod, &env.node_resolv, &env.dns).render();
    let hosts = render_hosts(pod, ips, &env.dns.domain);
    let hostname = format!("{}\n", pod_hostname(pod));
    for (name, text) in [
        ("resolv.conf", resolv),
        ("hosts", hosts),
        ("hostname", hostname),
    ] {
        write(&dir.join(name), &text)?;
    }
    if let Some(sa) = service_account(pod, env) {
        let d = dir.join("serviceaccount");
        std::fs::create_dir_all(&d).map_err(|e| format!("create {}: {e}", d.display()))?;
        write(&d.join("token"), &sa.token)?;
        write(&d.join("ca.crt"), &sa.ca_pem)?;
        write(&d.join("namespace"), meta(pod, "namespace"))?;
    }
    Ok(())
}

fn write(p: &Path, text: &str) -> Result<(), String> {
    std::fs::write(p, text).map_err(|e| format!("write {}: {e}", p.display()))
}

/// The credentials to mount, unless the pod opts out
/// (`automountServiceAccountToken: false`).
fn service_account<'a>(pod: &Value, env: &'a NodeEnv) -> Option<&'a ServiceAccount> {
    let opted_out = pod["spec"]["automountServiceAccountToken"].as_bool() == Some(false);
    env.service_account.as_ref().filter(|_| !opted_out)
}

async fn start_pause(
    pod: &Value,
    env: &NodeEnv,
    dir: &Path,
    netns: &Path,
) -> Result<Child, String> {
    let mut cmd = Command::new(&env.knet_exe);
    cmd.arg("pause")
        .arg("--hostname")
        .arg(pod_hostname(pod))
        .arg("--netns")
        .arg(netns);
    for f in ["resolv.conf", "hosts", "hostname"] {
        cmd.arg("--bind")
            .arg(format!("/etc/{f}={}", dir.join(f).display()));
    }
    if service_account(pod, env).is_some() {
        cmd.arg("--service-account").arg(dir.join("serviceaccount"));
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("start pause: {e}"))?;
    let stdout = child.stdout.take().ok_or("pause has no stdout")?;
    let mut line = String::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await;
    if matches!(read, Ok(Ok(n)) if n > 0) && line.trim() == "ready" {
        return Ok(child);
    }
    let _ = child.kill().await;
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut err).await;
    }
    Err(format!("pause did not start: {}", err.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_the_kubelet_and_stay_short() {
        let pod = json!({"metadata": {"name": "web-0", "namespace": "default", "uid": "u1"}});
        assert_eq!(pod_dir_name(&pod), "default_web-0_u1");
        assert_eq!(netns_name("lab-pod-", &pod), "lab-pod-default-web-0");
        let long =
            json!({"metadata": {"name": "x".repeat(200), "namespace": "default", "uid": "u2"}});
        assert_eq!(netns_name("lab-pod-", &long), "lab-pod-u2");
    }
}
