//! A tiny HTTP/1.1 responder for `/health`, `/ready` and `/metrics` (GET only,
//! one request per connection): enough for kubelet probes and Prometheus.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::Dns;

/// Which endpoint a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/health`: 200 `OK` while the process runs.
    Health,
    /// `/ready`: 200 once synced, else 503 with the reason.
    Ready,
    /// `/metrics`: Prometheus text.
    Metrics,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Health => "/health",
            Endpoint::Ready => "/ready",
            Endpoint::Metrics => "/metrics",
        }
    }
}

/// Pure routing: status and body for a request path.
pub fn route(dns: &Dns, ep: Endpoint, path: &str) -> (u16, String) {
    let path = path.split('?').next().unwrap_or(path);
    if path != ep.path() {
        return (404, "404 page not found\n".into());
    }
    match ep {
        Endpoint::Health => (200, "OK".into()),
        Endpoint::Ready => match dns.ready() {
            Ok(()) => (200, "OK".into()),
            Err(why) => (503, why),
        },
        Endpoint::Metrics => (200, dns.metrics.render()),
    }
}

/// Binds and serves one endpoint; returns the bound address.
pub async fn serve(dns: Arc<Dns>, addr: SocketAddr, ep: Endpoint) -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind(addr).await?;
    let bound = l.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let dns = dns.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while n < buf.len() && !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf[n..])).await
                    {
                        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                        Ok(Ok(k)) => n += k,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]);
                let mut parts = head.split_whitespace();
                let (status, body) = match (parts.next(), parts.next()) {
                    (Some("GET"), Some(path)) | (Some("HEAD"), Some(path)) => route(&dns, ep, path),
                    _ => (405, "method not allowed\n".into()),
                };
                let reason = match status {
                    200 => "OK",
                    404 => "Not Found",
                    503 => "Service Unavailable",
                    _ => "Method Not Allowed",
                };
                let ctype = if ep == Endpoint::Metrics {
                    "text/plain; version=0.0.4; charset=utf-8"
                } else {
                    "text/plain; charset=utf-8"
                };
                let resp = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok(bound)
}
