//! Shared by the controllers end-to-end tests: a real `knet api` process,
//! the controllers in-process, `kubectl`, and a test double of the kubelet
//! (like kwok) that registers Nodes and marks bound pods Running and Ready
//! with an IP from their node's pod CIDR.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// A `knet api` child process with its data directory; killed on drop.
pub(crate) struct ApiServer {
    child: Child,
    pub(crate) kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl ApiServer {
    /// Starts `knet api --listen 127.0.0.1:0` and waits for its kubeconfig.
    pub(crate) fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_knet"))
            .args(["api", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("KNET_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawning knet api")?;
        let out = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(out).lines();
        let mut kubeconfig = None;
        for line in lines.by_ref() {
            let line = line?;
            if let Some(p) = line.strip_prefix("kubeconfig written to ") {
                kubeconfig = Some(PathBuf::from(p.trim()));
                break;
            }
        }
        // Keep draining stdout: a closed pipe would fail the server's prints.
        std::thread::spawn(move || lines.for_each(drop));
        let Some(kubeconfig) = kubeconfig else {
            let _ = child.kill();
            bail!("knet api exited before writing a kubeconfig");
        };
        Ok(ApiServer {
            child,
            kubeconfig,
            _dir: dir,
        })
    }

    /// A kube-rs client from the kubeconfig.
    pub(crate) async fn client(&self) -> anyhow::Result<kube::Client> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(kube::Client::try_from(cfg)?)
    }

    /// Runs kubectl against this server; fails with its stderr when it fails.
    pub(crate) fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        kubectl(&self.kubeconfig, args)
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs kubectl with a kubeconfig.
pub(crate) fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .context("running kubectl")?;
    if !out.status.success() {
        bail!(
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Polls `f` every 100 ms until it returns `Some`, or fails after `secs`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, secs: u64, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last_err = None;
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what} (last error: {last_err:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the controllers in-process with this Lease identity.
pub(crate) fn spawn_controllers(
    client: kube::Client,
    identity: &str,
) -> anyhow::Result<tokio::task::JoinHandle<Result<(), knet_controllers::Error>>> {
    let cfg = knet_controllers::Config {
        identity: identity.to_string(),
        apiserver_endpoints: vec!["127.0.0.1".parse()?],
        workers: 2,
        ..Default::default()
    };
    Ok(tokio::spawn(knet_controllers::run_all(client, cfg)))
}

/// The cluster under test: API server, controllers, node agent.
pub(crate) struct Cluster {
    pub(crate) api: ApiServer,
    pub(crate) client: kube::Client,
    pub(crate) agent: NodeAgent,
    controllers: tokio::task::JoinHandle<Result<(), knet_controllers::Error>>,
}

impl Cluster {
    /// Starts everything with nodes `node-1` (control plane, tainted),
    /// `node-2` and `node-3`.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let api = ApiServer::start()?;
        let client = api.client().await?;
        let controllers =
            spawn_controllers(client.clone(), &format!("e2e-{}", std::process::id()))?;
        let agent = NodeAgent::start(
            client.clone(),
            &[("node-1", true), ("node-2", false), ("node-3", false)],
        )
        .await?;
        Ok(Cluster {
            api,
            client,
            agent,
            controllers,
        })
    }

    /// kubectl against the cluster.
    pub(crate) fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        self.api.kubectl(args)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.controllers.abort();
        self.agent.task.abort();
    }
}

/// The kubelet double.
pub(crate) struct NodeAgent {
    task: tokio::task::JoinHandle<()>,
    /// Pod keys (`ns/name`) in the order the agent started them.
    pub(crate) started: Arc<Mutex<Vec<String>>>,
}

fn node_object(name: &str, control_plane: bool, index: usize) -> anyhow::Result<Node> {
    let mut labels = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"});
    let mut spec = json!({});
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        spec["taints"] =
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "test agent"}],
                   "addresses": [{"type": "InternalIP", "address": format!("192.168.55.{}", index + 2)}]}
    }))?)
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The status kwok's fast pod-ready stage writes.
pub(crate) fn running_status(ip: &str, host_ip: &str, ready: bool) -> serde_json::Value {
    let r = if ready { "True" } else { "False" };
    let t = now();
    json!({"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": host_ip, "startTime": t,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
            {"type": "Initialized", "status": "True", "lastTransitionTime": t},
            {"type": "ContainersReady", "status": r, "lastTransitionTime": t},
            {"type": "Ready", "status": r, "lastTransitionTime": t}
        ]
    }})
}

impl NodeAgent {
    /// Registers the nodes and starts marking their pods running.
    pub(crate) async fn start(
        client: kube::Client,
        nodes: &[(&str, bool)],
    ) -> anyhow::Result<Self> {
        let api: Api<Node> = Api::all(client.clone());
        for (i, (name, cp)) in nodes.iter().enumerate() {
            let node = node_object(name, *cp, i)?;
            api.create(&PostParams::default(), &node).await?;
            let status = json!({"status": node.status});
            api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
                .await?;
        }
        let started = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(run_agent(client, Arc::clone(&started)));
        Ok(NodeAgent { task, started })
    }
}

async fn run_agent(client: kube::Client, started: Arc<Mutex<Vec<String>>>) {
    let pods: Api<Pod> = Api::all(client.clone());
    let nodes: Api<Node> = Api::all(client.clone());
    let mut next_host: HashMap<String, u32> = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (Ok(ps), Ok(ns)) = (
            pods.list(&ListParams::default()).await,
            nodes.list(&ListParams::default()).await,
        ) else {
            continue;
        };
        let cidrs: BTreeMap<String, (String, String)> = ns
            .items
            .iter()
            .filter_map(|n| {
                let name = n.metadata.name.clone()?;
                let cidr = n.spec.as_ref()?.pod_cidr.clone()?;
                let host = n
                    .status
                    .as_ref()?
                    .addresses
                    .as_ref()?
                    .first()?
                    .address
                    .clone();
                Some((name, (cidr, host)))
            })
            .collect();
        for p in ps.items {
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            let has_ip = p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some();
            if !node.is_empty() && p.metadata.deletion_timestamp.is_some() {
                // Like a kubelet: the containers are "stopped", so remove the
                // terminating pod with a zero grace period.
                let ns = p.metadata.namespace.clone().unwrap_or_default();
                let name = p.metadata.name.clone().unwrap_or_default();
                let dp = kube::api::DeleteParams {
                    grace_period_seconds: Some(0),
                    ..Default::default()
                };
                let _ = Api::<Pod>::namespaced(client.clone(), &ns)
                    .delete(&name, &dp)
                    .await;
                continue;
            }
            if node.is_empty() || has_ip {
                continue;
            }
            let Some((cidr, host)) = cidrs.get(&node) else {
                continue;
            };
            let n = next_host.entry(node.clone()).or_insert(1);
            *n += 1;
            let base = cidr
                .split('/')
                .next()
                .unwrap_or_default()
                .rsplit_once('.')
                .map(|(a, _)| a.to_string())
                .unwrap_or_default();
            let ip = format!("{base}.{n}");
            let ns = p.metadata.namespace.clone().unwrap_or_default();
            let name = p.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            if api
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(&running_status(&ip, host, true)),
                )
                .await
                .is_ok()
            {
                started.lock().unwrap().push(format!("{ns}/{name}"));
            }
        }
    }
}

/// Sets a pod's readiness (as a failing or recovering readiness probe would).
pub(crate) async fn set_ready(
    client: &kube::Client,
    ns: &str,
    name: &str,
    ready: bool,
) -> anyhow::Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let p = api.get(name).await?;
    let st = p.status.context("pod has no status")?;
    let ip = st.pod_ip.context("pod has no IP")?;
    let host = st.host_ip.unwrap_or_default();
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&running_status(&ip, &host, ready)),
    )
    .await?;
    Ok(())
}
