//! HTTP endpoints: `/healthz` + `/livez` (proxy health), `/metrics`, and one
//! health-check server per `healthCheckNodePort` (externalTrafficPolicy Local).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;

use crate::apply::Netns;
use crate::metrics::Metrics;
use crate::model::ProxyState;

/// How long a queued change may wait before the proxy reports unhealthy.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct ProxyHealth {
    metrics: Arc<Metrics>,
}

fn json(status: StatusCode, body: String, extra: Option<(&'static str, String)>) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "X-Content-Type-Options",
        HeaderValue::from_static("nosniff"),
    );
    if let Some((name, Ok(v))) = extra.map(|(n, v)| (n, HeaderValue::from_str(&v))) {
        h.insert(name, v);
    }
    resp
}

async fn health(State(s): State<ProxyHealth>, livez: bool) -> Response {
    let counter = if livez {
        &s.metrics.livez_total
    } else {
        &s.metrics.healthz_total
    };
    counter.fetch_add(1, Ordering::SeqCst);
    let ok = s.metrics.healthy(HEALTH_TIMEOUT);
    let last = s.metrics.last_sync_ms.load(Ordering::SeqCst);
    let body = format!(
        "{{\"lastUpdated\": \"{}\",\"currentTime\": \"{}\", \"nodeEligible\": true}}",
        last,
        crate::metrics::now_ms()
    );
    json(
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        body,
        None,
    )
}

/// Serves `/healthz` and `/livez` (kube-proxy's `:10256`) on `listener`.
pub async fn serve_health(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|s| health(s, false)))
        .route("/livez", get(|s| health(s, true)))
        .with_state(ProxyHealth { metrics });
    axum::serve(tokio::net::TcpListener::from_std(listener)?, app).await
}

/// Serves Prometheus `/metrics` (kube-proxy's `:10249`) on `listener`.
pub async fn serve_metrics(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let m = metrics.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    m.render(),
                )
            }
        }),
    );
    axum::serve(tokio::net::TcpListener::from_std(listener)?, app).await
}

/// What a health-check node port reports: Service and its local ready endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// Service namespace.
    pub namespace: String,
    /// Service name.
    pub name: String,
    /// Ready endpoints on this node.
    pub local_endpoints: usize,
}

/// Health-check node ports wanted by `state` (pure).
pub fn health_checks(state: &ProxyState) -> BTreeMap<u16, HealthCheck> {
    let mut out: BTreeMap<u16, HealthCheck> = BTreeMap::new();
    for p in state.ports.values() {
        if let Some(port) = p.health_check_node_port {
            let e = out.entry(port).or_insert(HealthCheck {
                namespace: p.name.namespace.clone(),
                name: p.name.name.clone(),
                local_endpoints: 0,
            });
            e.local_endpoints = e.local_endpoints.max(p.local_ready);
        }
    }
    out
}

/// kube-proxy's answer: 200 with local ready endpoints, else 503, JSON body.
pub fn health_check_response(hc: &HealthCheck, proxy_healthy: bool) -> (u16, String) {
    let code = if hc.local_endpoints > 0 && proxy_healthy {
        200
    } else {
        503
    };
    let body = format!(
        "{{\"service\":{{\"namespace\":\"{}\",\"name\":\"{}\"}},\"localEndpoints\":{},\"serviceProxyHealthy\":{}}}",
        hc.namespace, hc.name, hc.local_endpoints, proxy_healthy
    );
    (code, body)
}

/// Keeps one health-check server per wanted node port, following `applied`.
pub async fn run_health_checks(
    netns: Netns,
    mut applied: watch::Receiver<Arc<ProxyState>>,
    metrics: Arc<Metrics>,
) {
    let mut servers: BTreeMap<u16, (watch::Sender<HealthCheck>, tokio::task::JoinHandle<()>)> =
        BTreeMap::new();
    loop {
        let wanted = health_checks(&applied.borrow_and_update());
        servers.retain(|port, (_, task)| {
            let keep = wanted.contains_key(port);
            if !keep {
                task.abort();
            }
            keep
        });
        for (port, hc) in wanted {
            if let Some((tx, _)) = servers.get(&port) {
                tx.send_replace(hc);
                continue;
            }
            let addr = SocketAddr::from(([0, 0, 0, 0], port));
            match netns.bind_tcp(addr) {
                Ok(listener) => {
                    let (tx, rx) = watch::channel(hc);
                    let task = tokio::spawn(serve_health_check(listener, rx, metrics.clone()));
                    servers.insert(port, (tx, task));
                }
                Err(error) => tracing::warn!(port, %error, "cannot open health-check node port"),
            }
        }
        if applied.changed().await.is_err() {
            return;
        }
    }
}

async fn serve_health_check(
    listener: std::net::TcpListener,
    hc: watch::Receiver<HealthCheck>,
    metrics: Arc<Metrics>,
) {
    let app = Router::new().fallback(move || {
        let hc = hc.borrow().clone();
        let healthy = metrics.healthy(HEALTH_TIMEOUT);
        async move {
            let (code, body) = health_check_response(&hc, healthy);
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            json(
                status,
                body,
                Some((
                    "X-Load-Balancing-Endpoint-Weight",
                    hc.local_endpoints.to_string(),
                )),
            )
        }
    });
    let served = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => axum::serve(l, app).await,
        Err(e) => Err(e),
    };
    if let Err(error) = served {
        tracing::warn!(%error, "health-check server stopped");
    }
}
