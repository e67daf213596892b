//! The HTTPS server: TLS, bearer-token authentication, and dispatch of
//! Kubernetes API paths to discovery, OpenAPI, REST, watch and exec handlers.
//!
//! Embed it with [`Server::start`] (bind port 0 in tests); `knet api` runs it
//! standalone.

mod admit;
mod binding;
mod delete;
mod handler;
mod paging;
mod read;
mod request;
mod respond;
mod review;
mod write;

use crate::alloc::ServiceAllocator;
use crate::auth::Token;
use crate::exec::PodRuntime;
use crate::status::ApiError;
use crate::store::{Key, Mutation, Store, StoreConfig};
use crate::tls::Identity;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinSet;

/// How to run the API server.
#[derive(Clone)]
pub struct Config {
    /// Holds `store.redb`, `pki/`, `token` and (by default) `kubeconfig`.
    pub data_dir: PathBuf,
    /// Address to listen on (`127.0.0.1:6443`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where to write the admin kubeconfig (default `<data-dir>/kubeconfig`).
    pub kubeconfig: Option<PathBuf>,
    /// Revisions of history kept for watch resumption and list continue
    /// tokens (older ones get 410 Expired).
    pub history: usize,
    /// Service CIDR for ClusterIPs.
    pub service_cidr: String,
    /// Inclusive NodePort range.
    pub node_ports: (u16, u16),
    /// Interval of watch BOOKMARK events.
    pub bookmark_interval: Duration,
    /// The node runtime behind exec/attach/log, if any.
    pub runtime: Option<Arc<dyn PodRuntime>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("kubeconfig", &self.kubeconfig)
            .field("history", &self.history)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults for `data_dir`: 127.0.0.1:6443, 10.96.0.0/12, 30000-32767.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 6443)),
            kubeconfig: None,
            history: 10_000,
            service_cidr: knet_core::defaults::SERVICE_CIDR.to_string(),
            node_ports: (30000, 32767),
            bookmark_interval: Duration::from_secs(30),
            runtime: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Creating the data directory or binding failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Certificates, token or kubeconfig.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The store.
    #[error("store: {0}")]
    Store(ApiError),
    /// Configuration values.
    #[error("{0}")]
    Config(String),
}

/// Shared state of the handlers.
pub(crate) struct Api {
    pub(crate) store: Store,
    alloc: Mutex<ServiceAllocator>,
    pub(crate) token: Token,
    pub(crate) runtime: Option<Arc<dyn PodRuntime>>,
    pub(crate) bookmark_interval: Duration,
}

impl Api {
    pub(crate) fn alloc(&self) -> MutexGuard<'_, ServiceAllocator> {
        self.alloc.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running API server.
pub struct Server {
    addr: SocketAddr,
    kubeconfig: PathBuf,
    token: Token,
    ca_pem: String,
    store: Store,
    tasks: JoinSet<()>,
    tls: tokio_rustls::TlsAcceptor,
    api: Arc<Api>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Namespaces that exist from the first start.
const DEFAULT_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl Server {
    /// Opens the store, prepares TLS and the token, binds, writes the
    /// kubeconfig and starts serving.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let io = |what: String| move |source| StartError::Io { what, source };
        std::fs::create_dir_all(&config.data_dir)
            .map_err(io(format!("creating {}", config.data_dir.display())))?;
        let identity = Identity::load_or_create(&config.data_dir.join("pki"))?;
        let tls = tokio_rustls::TlsAcceptor::from(identity.server_config()?);
        let token = Token::load_or_create(&config.data_dir.join("token"))?;
        let mut store_cfg = StoreConfig::new(config.data_dir.join("store.redb"));
        store_cfg.history = config.history;
        let store = Store::open(&store_cfg).map_err(StartError::Store)?;
        let mut alloc = ServiceAllocator::new(&config.service_cidr, config.node_ports)
            .map_err(StartError::Config)?;
        let (services, _) = store.list_raw(&Key::prefix("", "services", None));
        let services: Vec<Value> = services
            .iter()
            .filter_map(|j| serde_json::from_slice(j).ok())
            .collect();
        alloc.restore(&services);
        let api = Arc::new(Api {
            store: store.clone(),
            alloc: Mutex::new(alloc),
            token: token.clone(),
            runtime: config.runtime.clone(),
            bookmark_interval: config.bookmark_interval,
        });
        bootstrap(&store).await.map_err(StartError::Store)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(io(format!("binding {}", config.listen)))?;
        let addr = listener.local_addr().map_err(io("local address".into()))?;
        bootstrap_kubernetes_service(&api, addr.port(), &config.service_cidr).await;
        let kubeconfig = config
            .kubeconfig
            .clone()
            .unwrap_or_else(|| config.data_dir.join("kubeconfig"));
        crate::kubeconfig::write(
            &kubeconfig,
            &format!("https://{addr}"),
            &identity.ca_pem,
            token.value(),
        )?;
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(listener, tls.clone(), api.clone()));
        tracing::info!(%addr, kubeconfig = %kubeconfig.display(), "API server listening");
        Ok(Self {
            addr,
            kubeconfig,
            token,
            ca_pem: identity.ca_pem,
            store,
            tasks,
            tls,
            api,
        })
    }

    /// Also serves on `listener`, bound elsewhere — e.g. inside a network
    /// namespace, which a socket keeps after creation: the lab uses this so
    /// pods reach the API through the `kubernetes` Service.
    pub fn serve_also(&mut self, listener: std::net::TcpListener) -> std::io::Result<SocketAddr> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        self.tasks
            .spawn(accept_loop(listener, self.tls.clone(), self.api.clone()));
        tracing::info!(%addr, "API server also listening");
        Ok(addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://<addr>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Path of the admin kubeconfig written at start.
    pub fn kubeconfig_path(&self) -> &std::path::Path {
        &self.kubeconfig
    }

    /// The admin bearer token.
    pub fn token(&self) -> &str {
        self.token.value()
    }

    /// PEM of the CA clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Stops serving (dropping open connections and watches) and closes the
    /// store after its pending writes are durable.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
        let store = self.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.shutdown()).await;
    }

    /// Serves until the process is stopped.
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn bootstrap(store: &Store) -> Result<(), ApiError> {
    for ns in DEFAULT_NAMESPACES {
        let key = Key::new("", "namespaces", "", ns);
        store
            .mutate(&key, |cur| {
                if let Some(c) = cur {
                    return Ok(Mutation::Keep(c));
                }
                let mut obj = json!({
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                });
                admit::stamp_new(&mut obj);
                Ok(Mutation::Put(obj))
            })
            .await?;
    }
    Ok(())
}

/// The first address of an IPv4 CIDR (`10.96.0.0/12` → `10.96.0.1`).
fn first_service_ip(cidr: &str) -> Option<String> {
    let net: std::net::Ipv4Addr = cidr.split('/').next()?.parse().ok()?;
    Some(std::net::Ipv4Addr::from(u32::from(net) + 1).to_string())
}

/// Creates Service `default/kubernetes` (the first Service IP, port 443 →
/// the API server's port) if it does not exist, as kube-apiserver does.
async fn bootstrap_kubernetes_service(api: &Api, port: u16, cidr: &str) {
    let key = Key::new("", "services", "default", "kubernetes");
    if api.store.get(&key).is_some() {
        return;
    }
    let Some(r) = crate::resources::lookup("", "v1", "services") else {
        return;
    };
    let mut obj = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    });
    if let Some(ip) = first_service_ip(cidr) {
        obj["spec"]["clusterIP"] = json!(ip);
    }
    admit::stamp_new(&mut obj);
    crate::defaults::apply_defaults(r, &mut obj);
    if let Err(causes) = api.alloc().allocate(&mut obj, None) {
        tracing::warn!(?causes, "cannot allocate the kubernetes Service");
        return;
    }
    let res = api
        .store
        .mutate(&key, |cur| {
            Ok(cur.map_or(Mutation::Put(obj), Mutation::Keep))
        })
        .await;
    if let Err(e) = res {
        tracing::warn!(error = %e, "cannot create the kubernetes Service");
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    api: Arc<Api>,
) {
    let mut conns = JoinSet::new();
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        let api = api.clone();
        conns.spawn(async move {
            let stream = match tokio::time::timeout(Duration::from_secs(10), tls.accept(tcp)).await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let svc = hyper::service::service_fn(move |req| {
                let api = api.clone();
                async move { Ok::<_, std::convert::Infallible>(handler::handle(api, req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}
