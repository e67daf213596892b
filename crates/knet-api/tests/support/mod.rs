//! What the knet-api integration tests share: the embedded server on a free
//! loopback port with its data in a temporary directory, and a kube-rs
//! client for it (through the kubeconfig the server writes).

#![allow(dead_code, unreachable_pub)]

use knet_api::{Config, Server};
use std::path::Path;

/// A server configuration for `dir` listening on a free loopback port.
pub fn config(dir: &Path) -> Config {
    let mut c = Config::new(dir);
    c.listen = "127.0.0.1:0".parse().expect("addr");
    c
}

/// A kube-rs client for `server`.
pub async fn client(server: &Server) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(server.kubeconfig_path()).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kube config");
    kube::Client::try_from(cfg).expect("client")
}

/// A started server (with `adjust` applied to its configuration) and a client.
pub async fn start_with(
    adjust: impl FnOnce(&mut Config),
) -> (tempfile::TempDir, Server, kube::Client) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path());
    adjust(&mut c);
    let server = Server::start(c).await.expect("start");
    let c = client(&server).await;
    (dir, server, c)
}

/// A started server with the default configuration and a client.
pub async fn start() -> (tempfile::TempDir, Server, kube::Client) {
    start_with(|_| {}).await
}

/// Runs kubectl (off the async runtime) against `kubeconfig` in `cwd`, with
/// its discovery cache in `cache`; exit code, stdout, stderr.
pub async fn kubectl(
    kubeconfig: &Path,
    cache: &Path,
    cwd: &Path,
    args: &[&str],
) -> (i32, String, String) {
    let mut cmd = std::process::Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(["--request-timeout", "60s"])
        .args(args)
        .current_dir(cwd)
        .env_remove("KUBECONFIG");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run kubectl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
