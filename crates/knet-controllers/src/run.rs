//! The I/O side: informers over the API (kube-rs watchers and reflector
//! stores), work queues, and one worker loop per controller that reads the
//! stores, calls the pure reconciler and makes its writes.

mod apiserver_svc;
mod gc;
mod informer;
mod lease;
mod namespaces;
mod nodes;
mod queue;
mod recorder;
mod services;
mod tracker;
mod wiring;
mod workloads;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use knet_core::cidr::Cidr;

pub use queue::WorkQueue;

use informer::Informer;
use recorder::Recorder;
use tracker::Tracker;

/// Settings of the controllers.
#[derive(Debug, Clone)]
pub struct Config {
    /// Cluster pod CIDR node blocks come from; `None` disables node IPAM.
    pub cluster_cidr: Option<Cidr>,
    /// Prefix length of each node's pod CIDR block.
    pub node_cidr_prefix: u8,
    /// Addresses of the API server for the `kubernetes` Service's endpoints;
    /// empty leaves that Service alone (a real kube-apiserver manages it).
    pub apiserver_endpoints: Vec<IpAddr>,
    /// Port the API server listens on (the `kubernetes` Service's targetPort).
    pub apiserver_port: i32,
    /// ClusterIP of the `kubernetes` Service.
    pub kubernetes_service_ip: String,
    /// Take a coordination.k8s.io Lease before acting, so several instances
    /// against one API do not fight.
    pub leader_elect: bool,
    /// Namespace of the Lease.
    pub lease_namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// This instance's identity in the Lease and in Events.
    pub identity: String,
    /// Concurrent workers per controller.
    pub workers: usize,
    /// Concurrent workers of each of the EndpointSlice, Endpoints and
    /// mirroring controllers: each write waits on the API's durable commit,
    /// and with many in flight the API commits them together (a cold start
    /// writes two objects per Service).
    pub endpoint_workers: usize,
    /// Concurrent workers of the garbage collector (kube-controller-manager's
    /// `--concurrent-gc-syncs`): each deletes or patches one object at a
    /// time, and a cascade touches many.
    pub gc_workers: usize,
}

impl Default for Config {
    fn default() -> Self {
        use knet_core::defaults;
        let host =
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "knet".into());
        Config {
            cluster_cidr: defaults::CLUSTER_CIDR.parse().ok(),
            node_cidr_prefix: defaults::NODE_CIDR_MASK,
            apiserver_endpoints: Vec::new(),
            apiserver_port: 6443,
            kubernetes_service_ip: defaults::KUBERNETES_SERVICE_IP.into(),
            leader_elect: true,
            lease_namespace: "kube-system".into(),
            lease_name: "knet-controllers".into(),
            identity: format!("{}_{}", host.trim(), uuid_like()),
            workers: 4,
            endpoint_workers: 32,
            gc_workers: 20,
        }
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    let mut r = rand::rng();
    (0..8)
        .map(|_| char::from(b"0123456789abcdef"[r.random_range(0..16)]))
        .collect()
}

/// Why the controllers stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the API failed.
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    /// This instance lost its leader Lease; it must stop acting.
    #[error(
        "lost the leader lease {0}: another instance took over or the API was unreachable too long"
    )]
    LostLease(String),
    /// A background task ended unexpectedly.
    #[error("controller task ended: {0}")]
    Task(String),
}

/// The queues, one per controller.
pub(crate) struct Queues {
    pub(crate) slices: Arc<WorkQueue>,
    pub(crate) endpoints: Arc<WorkQueue>,
    pub(crate) mirror: Arc<WorkQueue>,
    pub(crate) replicasets: Arc<WorkQueue>,
    pub(crate) deployments: Arc<WorkQueue>,
    pub(crate) statefulsets: Arc<WorkQueue>,
    pub(crate) daemonsets: Arc<WorkQueue>,
    pub(crate) schedule: Arc<WorkQueue>,
    pub(crate) ipam: Arc<WorkQueue>,
    pub(crate) gc: Arc<WorkQueue>,
    pub(crate) namespaces: Arc<WorkQueue>,
}

/// Everything a worker needs: the client, the stores, the queues.
pub(crate) struct Ctx {
    pub(crate) client: kube::Client,
    pub(crate) cfg: Config,
    pub(crate) pods: Arc<Informer<Pod>>,
    pub(crate) services: Arc<Informer<Service>>,
    pub(crate) endpoints: Arc<Informer<Endpoints>>,
    pub(crate) slices: Arc<Informer<EndpointSlice>>,
    pub(crate) nodes: Arc<Informer<Node>>,
    pub(crate) deployments: Arc<Informer<Deployment>>,
    pub(crate) replicasets: Arc<Informer<ReplicaSet>>,
    pub(crate) statefulsets: Arc<Informer<StatefulSet>>,
    pub(crate) daemonsets: Arc<Informer<DaemonSet>>,
    pub(crate) namespaces: Arc<Informer<Namespace>>,
    pub(crate) q: Queues,
    /// The garbage collector's object graph.
    pub(crate) gc: gc::GcState,
    pub(crate) recorder: Recorder,
    /// Slices written, per Service key (EndpointSlice and mirroring).
    pub(crate) slice_tracker: Tracker,
    /// Pods created/deleted, per ReplicaSet/DaemonSet key.
    pub(crate) pod_tracker: Tracker,
    /// Pod CIDRs handed out but not yet seen on a Node.
    pub(crate) ipam_reserved: Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// Pods bound but not yet seen bound: pod key → node.
    pub(crate) assumed: Mutex<std::collections::HashMap<String, String>>,
    /// Services seen deleted whose same-named Endpoints the Endpoints
    /// controller has not yet deleted (upstream's delete-event trigger).
    pub(crate) deleted_services: Mutex<std::collections::HashSet<String>>,
}

/// What a sync returns: reconcile the key again after this long.
pub(crate) type SyncResult = Result<Option<Duration>, Error>;

type SyncFn = fn(Arc<Ctx>, String) -> Pin<Box<dyn Future<Output = SyncResult> + Send>>;

/// Runs `workers` loops over `q`, each calling `sync` per key; failures are
/// retried with a growing delay.
pub(crate) fn spawn_workers(
    tasks: &mut tokio::task::JoinSet<()>,
    ctx: &Arc<Ctx>,
    name: &'static str,
    q: &Arc<WorkQueue>,
    workers: usize,
    sync: SyncFn,
) {
    for _ in 0..workers.max(1) {
        let ctx = Arc::clone(ctx);
        let q = Arc::clone(q);
        tasks.spawn(async move {
            let mut failures: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
            loop {
                let key = q.next().await;
                let span = tracing::debug_span!("reconcile", controller = name, %key);
                let result = tracing::Instrument::instrument(sync(Arc::clone(&ctx), key.clone()), span).await;
                q.done(&key);
                match result {
                    Ok(again) => {
                        failures.remove(&key);
                        if let Some(d) = again {
                            q.add_after(key, d);
                        }
                    }
                    Err(e) => {
                        let n = failures.entry(key.clone()).or_insert(0);
                        *n += 1;
                        let delay = Duration::from_millis(50 * 2u64.pow((*n).min(8)));
                        tracing::debug!(controller = name, %key, error = %e, ?delay, "sync failed; retrying");
                        q.add_after(key, delay);
                    }
                }
            }
        });
    }
}

/// Runs every controller against the API behind `client` until an error
/// (such as losing the leader Lease) stops them. With `leader_elect`, waits
/// for the Lease first.
pub fn run_all(
    client: kube::Client,
    config: Config,
) -> impl Future<Output = Result<(), Error>> + Send {
    wiring::run(client, config)
}
