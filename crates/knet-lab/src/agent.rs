//! The node agent: the kubelet's role in the lab (`knet agent`). It registers
//! its Node, watches the pods bound to it, and for each one builds a sandbox,
//! runs the containers, probes them, writes the pod status, and on deletion
//! stops everything gracefully and removes the pod.

pub mod console;
pub mod container;
pub mod events;
pub mod node;
pub mod probe;
pub mod registry;
pub mod sandbox;

use crate::containers::{PodFacts, process};
use crate::files::envvars::service_env;
use crate::podstatus::{ContainerObs, PodObs, pod_status};
use console::{Console, StdioSpec};
use container::ContainerTask;
use events::{ContainerEvent, PodEvents};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use knet_podnet::netns::Netns;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use probe::{Probe, ProbeTarget};
use registry::{PodEntry, Registry};
use sandbox::{NodeEnv, PodNetwork, Sandbox};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// An API request failed.
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    /// The node's namespace could not be opened.
    #[error("node namespace: {0}")]
    Netns(String),
}

/// RFC 3339 "now" with second precision, as Kubernetes writes times.
/// Now in RFC 3339 with microseconds (a `MicroTime`, as Lease `renewTime`).
pub fn rfc3339_now_micro() -> String {
    format!("{:.6}", jiff::Timestamp::now())
}

/// Now in RFC 3339, whole seconds.
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

struct Ctx<N> {
    client: kube::Client,
    env: NodeEnv,
    net: Arc<N>,
    node_netns: Arc<Netns>,
    services: reflector::Store<Service>,
    registry: Arc<Registry>,
}

/// Registers the Node (create or refresh), sets its status, and starts its
/// Lease heartbeat in `kube-node-lease` (as the kubelet does every 10 s).
pub async fn register_node(client: kube::Client, info: node::NodeInfo) -> Result<(), AgentError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let obj: Node =
        serde_json::from_value(node::node_object(&info)).expect("node object is a valid Node");
    match nodes.create(&PostParams::default(), &obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let status = json!({"status": node::node_status(&info, &rfc3339_now())});
    let node = nodes
        .patch_status(&info.name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    let uid = node.metadata.uid.unwrap_or_default();
    tokio::spawn(lease_heartbeat(client, info.name.clone(), uid));
    Ok(())
}

/// How often the node's Lease is renewed (the kubelet's default).
const LEASE_RENEW: Duration = Duration::from_secs(10);

/// Keeps the node's Lease fresh: created with the Node as owner, then
/// `renewTime` moved forward every [`LEASE_RENEW`]. Ends when the Node is gone.
async fn lease_heartbeat(client: kube::Client, node: String, node_uid: String) {
    use k8s_openapi::api::coordination::v1::Lease;
    let leases: Api<Lease> = Api::namespaced(client, "kube-node-lease");
    let mut tick = tokio::time::interval(LEASE_RENEW);
    loop {
        tick.tick().await;
        let lease = node::node_lease(&node, &node_uid, &rfc3339_now_micro());
        let obj: Lease =
            serde_json::from_value(lease.clone()).expect("node lease is a valid Lease");
        let result = match leases.create(&PostParams::default(), &obj).await {
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let renew = json!({"spec": {"renewTime": lease["spec"]["renewTime"]}});
                leases
                    .patch(&node, &PatchParams::default(), &Patch::Merge(&renew))
                    .await
                    .map(drop)
            }
            other => other.map(drop),
        };
        match result {
            Ok(()) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 422 => {
                tracing::debug!(node = %node, "node lease: the Node or its namespace is gone; stopping");
                return;
            }
            Err(e) => tracing::debug!(node = %node, error = %e, "node lease renewal failed"),
        }
    }
}

/// Runs the agent for the node in `env` until the watch stream ends; live
/// pods are recorded in `registry` for exec and logs.
pub async fn run<N: PodNetwork>(
    client: kube::Client,
    env: NodeEnv,
    net: N,
    registry: Arc<Registry>,
) -> Result<(), AgentError> {
    let node_netns =
        Arc::new(Netns::open(&env.node_netns).map_err(|e| AgentError::Netns(e.to_string()))?);
    let (services, writer) = reflector::store();
    let svc_stream = reflector(
        writer,
        watcher(
            Api::<Service>::all(client.clone()),
            watcher::Config::default(),
        ),
    );
    tokio::spawn(
        svc_stream
            .default_backoff()
            .for_each(|_| futures::future::ready(())),
    );
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        env,
        net: Arc::new(net),
        node_netns,
        services,
        registry,
    });
    let selector = format!("spec.nodeName={}", ctx.env.node_name);
    let pods: Api<Pod> = Api::all(client);
    let mut workers: HashMap<String, watch::Sender<Option<Value>>> = HashMap::new();
    let mut stream = watcher(pods, watcher::Config::default().fields(&selector))
        .default_backoff()
        .boxed();
    while let Some(ev) = stream.next().await {
        let (pod, gone) = match ev {
            Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => (p, false),
            Ok(watcher::Event::Delete(p)) => (p, true),
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "pod watch failed; retrying");
                continue;
            }
        };
        let Ok(v) = serde_json::to_value(&pod) else {
            continue;
        };
        let uid = v["metadata"]["uid"].as_str().unwrap_or("").to_string();
        workers.retain(|_, tx| !tx.is_closed());
        if let Some(tx) = workers.get(&uid) {
            let _ = tx.send(if gone { None } else { Some(v) });
        } else if !gone && !finished(&v) {
            let span = tracing::info_span!("pod", ns = %v["metadata"]["namespace"], name = %v["metadata"]["name"]);
            let (tx, rx) = watch::channel(Some(v));
            tokio::spawn(pod_worker(ctx.clone(), rx).instrument(span));
            workers.insert(uid, tx);
        }
    }
    Ok(())
}

fn finished(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    ) && pod["metadata"]["deletionTimestamp"].is_null()
}

fn terminating(pod: &Option<Value>) -> Option<Duration> {
    match pod {
        None => Some(Duration::ZERO),
        Some(p) if !p["metadata"]["deletionTimestamp"].is_null() => {
            let grace = p["metadata"]["deletionGracePeriodSeconds"]
                .as_u64()
                .or_else(|| p["spec"]["terminationGracePeriodSeconds"].as_u64())
                .unwrap_or(30);
            Some(Duration::from_secs(grace))
        }
        _ => None,
    }
}

/// One pod's life on this node.
async fn pod_worker<N: PodNetwork>(ctx: Arc<Ctx<N>>, mut rx: watch::Receiver<Option<Value>>) {
    let Some(pod) = rx.borrow().clone() else {
        return;
    };
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let start_time = pod["status"]["startTime"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(rfc3339_now);
    let sandbox = loop {
        if terminating(&rx.borrow()).is_some() {
            finalize(&api, &pod).await;
            return;
        }
        match Sandbox::create(&pod, &ctx.env, ctx.net.as_ref()).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(error = %e, "sandbox creation failed; retrying");
                let obs = waiting_obs(&pod, &ctx, &start_time, &e);
                write_status(&api, &pod, &obs).await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3)) => {}
                    _ = rx.changed() => {}
                }
            }
        }
    };
    let (stop_tx, stop_rx) = watch::channel(None);
    let (obs_tx, mut obs_rx) = mpsc::channel(64);
    // The kubelet's Events about the containers, written off the pod's path.
    let (ev_tx, mut ev_rx) = mpsc::channel(64);
    let mut recorder = PodEvents::new(ctx.client.clone(), &pod, &ctx.env.node_name);
    tokio::spawn(async move {
        while let Some(e) = ev_rx.recv().await {
            recorder.record(e).await;
        }
    });
    let setup = PodSetup::new(&ctx, &pod, &sandbox, ev_tx);
    let mut started = Started::new(obs_tx, stop_rx);
    start_containers(&setup, &pod, &mut started);
    let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
    let register = |started: &Started| {
        let entry = PodEntry {
            pause_pid: sandbox.pause_pid().unwrap_or(0),
            dir: sandbox.dir.clone(),
            containers: started.envs.clone(),
            consoles: started.consoles.clone(),
        };
        ctx.registry.insert(&ns, &name, entry);
    };
    register(&started);
    let mut obs = initial_obs(&pod, &ctx, &start_time, &sandbox);
    let current = latest(&rx, &pod);
    if start_ephemeral(&setup, &current, &mut obs, &mut started) > 0 {
        register(&started);
    }
    write_status(&api, &current, &obs).await;
    loop {
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() { break; }
                if let Some(grace) = terminating(&rx.borrow()) {
                    let _ = stop_tx.send(Some(grace));
                    break;
                }
                let current = latest(&rx, &pod);
                if start_ephemeral(&setup, &current, &mut obs, &mut started) > 0 {
                    register(&started);
                    obs.now = rfc3339_now();
                    write_status(&api, &current, &obs).await;
                }
            }
            msg = obs_rx.recv() => {
                let Some(first) = msg else { break };
                let mut next = Some(first);
                while let Some((i, c)) = next {
                    obs.set(i, c);
                    next = obs_rx.try_recv().ok();
                }
                obs.now = rfc3339_now();
                write_status(&api, &latest(&rx, &pod), &obs).await;
            }
        }
    }
    drop(setup);
    let _ = stop_tx.send(Some(terminating(&rx.borrow()).unwrap_or_default()));
    for t in started.tasks {
        let _ = t.await;
    }
    ctx.registry.remove(&ns, &name);
    if let Err(e) = sandbox.destroy(ctx.net.as_ref()).await {
        tracing::warn!(error = %e, "sandbox teardown incomplete");
    }
    if rx.borrow().is_some() {
        finalize(&api, &pod).await;
    }
}

fn latest(rx: &watch::Receiver<Option<Value>>, fallback: &Value) -> Value {
    rx.borrow().clone().unwrap_or_else(|| fallback.clone())
}

/// What every container of one pod is started with: the Service variables,
/// the facts `fieldRef`s read, where probes connect.
struct PodSetup {
    svc_env: std::collections::BTreeMap<String, String>,
    facts: PodFacts,
    knet_exe: std::path::PathBuf,
    dir: std::path::PathBuf,
    pause_pid: u32,
    target: ProbeTarget,
    pod_id: (String, String, String),
    /// Where the containers' Events go.
    events: mpsc::Sender<ContainerEvent>,
}

impl PodSetup {
    fn new<N: PodNetwork>(
        ctx: &Ctx<N>,
        pod: &Value,
        sandbox: &Sandbox,
        events: mpsc::Sender<ContainerEvent>,
    ) -> PodSetup {
        let services: Vec<Value> = ctx
            .services
            .state()
            .iter()
            .filter_map(|s| serde_json::to_value(s.as_ref()).ok())
            .collect();
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
        let links = pod["spec"]["enableServiceLinks"].as_bool().unwrap_or(true);
        let meta = |k: &str| pod["metadata"][k].as_str().unwrap_or("").to_string();
        PodSetup {
            svc_env: service_env(&services, ns, links),
            facts: PodFacts {
                pod_ip: sandbox
                    .ips
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                host_ip: ctx.env.node_ip.clone(),
                node_name: ctx.env.node_name.clone(),
            },
            knet_exe: ctx.env.knet_exe.clone(),
            dir: sandbox.dir.clone(),
            pause_pid: sandbox.pause_pid().unwrap_or(0),
            target: ProbeTarget {
                ip: sandbox
                    .ips
                    .first()
                    .copied()
                    .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1])),
                node_netns: ctx.node_netns.clone(),
            },
            pod_id: (meta("namespace"), meta("name"), meta("uid")),
            events,
        }
    }

    /// The task for container `c`, number `index` of the pod's status.
    fn task(
        &self,
        pod: &Value,
        (index, c): (usize, &Value),
        restart_policy: &str,
    ) -> ContainerTask {
        let name = c["name"].as_str().unwrap_or("").to_string();
        let exe = self.knet_exe.to_string_lossy();
        ContainerTask {
            index,
            image: c["image"].as_str().unwrap_or("").to_string(),
            process: process(pod, c, &self.svc_env, &self.facts, &exe),
            restart_policy: restart_policy.to_string(),
            log_dir: self.dir.join(&name),
            knet_exe: self.knet_exe.clone(),
            pause_pid: self.pause_pid,
            readiness: Probe::parse(&c["readinessProbe"], c),
            liveness: Probe::parse(&c["livenessProbe"], c),
            startup: Probe::parse(&c["startupProbe"], c),
            probe_target: self.target.clone(),
            console: Console::new(StdioSpec::of(c)),
            events: self.events.clone(),
            pod: self.pod_id.clone(),
            name,
        }
    }
}

/// The pod's containers as started (tasks, environments, consoles) and the
/// channel ends every new one gets.
struct Started {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    envs: Vec<(String, Vec<(String, String)>)>,
    consoles: Vec<Arc<Console>>,
    obs_tx: mpsc::Sender<(usize, ContainerObs)>,
    stop_rx: watch::Receiver<Option<Duration>>,
}

impl Started {
    fn new(
        obs_tx: mpsc::Sender<(usize, ContainerObs)>,
        stop_rx: watch::Receiver<Option<Duration>>,
    ) -> Started {
        Started {
            tasks: Vec::new(),
            envs: Vec::new(),
            consoles: Vec::new(),
            obs_tx,
            stop_rx,
        }
    }

    fn spawn(&mut self, task: ContainerTask) {
        self.envs
            .push((task.name.clone(), task.process.env.clone()));
        self.consoles.push(task.console.clone());
        self.tasks.push(tokio::spawn(container::run(
            task,
            self.obs_tx.clone(),
            self.stop_rx.clone(),
        )));
    }
}

fn start_containers(setup: &PodSetup, pod: &Value, started: &mut Started) {
    let restart_policy = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    for (index, c) in pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        started.spawn(setup.task(pod, (index, c), restart_policy));
    }
}

/// Starts the ephemeral containers (`kubectl debug`) of `pod` not started
/// yet, as the kubelet does: once each, never restarted, no probes, in the
/// pod's namespaces. Their status index follows the regular containers'.
/// Returns how many were started.
fn start_ephemeral(
    setup: &PodSetup,
    pod: &Value,
    obs: &mut PodObs,
    started: &mut Started,
) -> usize {
    let mut n = 0;
    for c in pod["spec"]["ephemeralContainers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = c["name"].as_str().unwrap_or("");
        if name.is_empty() || obs.ephemeral.iter().any(|e| e.name == name) {
            continue;
        }
        let index = obs.containers.len() + obs.ephemeral.len();
        let mut task = setup.task(pod, (index, c), "Never");
        (task.readiness, task.liveness, task.startup) = (None, None, None);
        task.process.argv = crate::containers::ephemeral_argv(c, task.process.argv);
        obs.ephemeral.push(ContainerObs::waiting(
            name,
            &task.image,
            "ContainerCreating",
            None,
        ));
        started.spawn(task);
        n += 1;
    }
    n
}

fn base_obs(
    pod: &Value,
    ctx: &Ctx<impl PodNetwork>,
    start_time: &str,
    reason: &str,
    message: Option<&str>,
) -> PodObs {
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    PodObs {
        pod_ips: Vec::new(),
        host_ip: ctx.env.node_ip.clone(),
        start_time: start_time.to_string(),
        sandbox_ready: false,
        containers: containers
            .iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or("");
                ContainerObs::waiting(s("name"), s("image"), reason, message)
            })
            .collect(),
        ephemeral: Vec::new(),
        now: rfc3339_now(),
    }
}

fn waiting_obs(pod: &Value, ctx: &Ctx<impl PodNetwork>, start_time: &str, err: &str) -> PodObs {
    base_obs(pod, ctx, start_time, "ContainerCreating", Some(err))
}

fn initial_obs(
    pod: &Value,
    ctx: &Ctx<impl PodNetwork>,
    start_time: &str,
    sandbox: &Sandbox,
) -> PodObs {
    let mut o = base_obs(pod, ctx, start_time, "ContainerCreating", None);
    o.sandbox_ready = true;
    o.pod_ips = sandbox.ips.iter().map(ToString::to_string).collect();
    o
}

async fn write_status(api: &Api<Pod>, pod: &Value, obs: &PodObs) {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let body = json!({"status": pod_status(pod, obs)});
    if let Err(e) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        tracing::debug!(error = %e, "status update failed");
    }
}

/// Removes the pod object once its sandbox is gone (the kubelet's final delete).
async fn finalize(api: &Api<Pod>, pod: &Value) {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let uid = pod["metadata"]["uid"].as_str().map(str::to_string);
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    if let Err(e) = api.delete(name, &dp).await {
        tracing::debug!(error = %e, "final pod delete failed");
    }
}
