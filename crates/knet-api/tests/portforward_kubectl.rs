//! `kubectl port-forward` through the API server's SPDY-over-WebSocket
//! session, against a runtime whose "pod" ports are listeners of this test
//! on loopback: bytes flow both ways (megabytes, with a half-close), several
//! connections share one session, and a refused port shows kubectl the
//! kubelet-style error.

use futures::future::BoxFuture;
use knet_api::exec::{ExecIo, ExecRequest, LogRequest, PodRuntime};
use knet_api::status::ApiError;
use knet_api::{Config, Server};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Pod port N is 127.0.0.1:N of this machine.
struct LoopbackRuntime;

impl PodRuntime for LoopbackRuntime {
    fn exec(&self, _req: ExecRequest) -> BoxFuture<'static, Result<ExecIo, ApiError>> {
        Box::pin(async { Err(ApiError::bad_request("no exec here")) })
    }

    fn logs(
        &self,
        _req: LogRequest,
    ) -> BoxFuture<'static, Result<tokio::sync::mpsc::Receiver<bytes::Bytes>, ApiError>> {
        Box::pin(async { Err(ApiError::bad_request("no logs here")) })
    }

    fn port_forward(
        &self,
        _namespace: &str,
        _pod: &str,
        port: u16,
    ) -> BoxFuture<'static, Result<tokio::net::TcpStream, ApiError>> {
        Box::pin(async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| ApiError::internal(format!("failed to connect: {e}")))
        })
    }
}

/// A "pod" service: reads until EOF, answers with how many bytes it got
/// and a digest of them, then closes.
async fn counting_server() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut n = 0usize;
                let mut sum = 0u64;
                let mut buf = vec![0u8; 65536];
                loop {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => {
                            n += k;
                            sum = buf[..k]
                                .iter()
                                .fold(sum, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)));
                        }
                    }
                }
                let _ = c.write_all(format!("{n} {sum}").as_bytes()).await;
            });
        }
    });
    port
}

fn digest(data: &[u8]) -> u64 {
    data.iter()
        .fold(0u64, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)))
}

struct Forward {
    child: Child,
    local: u16,
    stderr: std::process::ChildStderr,
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kubectl port-forward pod/box :<port>` and reads the local port it picked.
fn forward(kubeconfig: &std::path::Path, cache: &std::path::Path, port: u16) -> Forward {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(["port-forward", "pod/box", &format!(":{port}")])
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl port-forward");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let mut line = String::new();
    let mut lines = BufReader::new(stdout);
    lines
        .read_line(&mut line)
        .expect("read kubectl's first line");
    // Keep reading: kubectl dies of SIGPIPE if its stdout closes.
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    // "Forwarding from 127.0.0.1:41233 -> 8080"
    let local = line
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected kubectl output: {line:?}"));
    Forward {
        child,
        local,
        stderr,
    }
}

fn kubectl(kubeconfig: &std::path::Path, cache: &std::path::Path, args: &[&str]) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends `data`, half-closes, and returns the reply.
fn exchange(local: u16, data: &[u8]) -> String {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", local)).expect("connect to kubectl");
    c.write_all(data).expect("send");
    c.shutdown(std::net::Shutdown::Write).expect("half-close");
    let mut reply = String::new();
    c.read_to_string(&mut reply).expect("reply");
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_port_forward_carries_bytes_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config::new(dir.path().join("data"));
    cfg.listen = "127.0.0.1:0".parse().expect("addr");
    cfg.runtime = Some(Arc::new(LoopbackRuntime));
    let server = Server::start(cfg).await.expect("start");
    let kc = server.kubeconfig_path().to_path_buf();
    let cache = dir.path().join("cache");
    let port = counting_server().await;
    let closed = {
        // A port nothing listens on.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let (kc2, cache2) = (kc.clone(), cache.clone());
    let result = tokio::task::spawn_blocking(move || {
        let (kc, cache) = (kc2, cache2);
        let pod = dir_file(
            &cache,
            "pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: box}\nspec:\n  containers: [{name: main, image: busybox}]\n",
        );
        kubectl(&kc, &cache, &["create", "-f", &pod]);
        // kubectl forwards only to a Running pod.
        kubectl(
            &kc,
            &cache,
            &[
                "patch",
                "pod",
                "box",
                "--subresource=status",
                "--type=merge",
                "-p",
                r#"{"status":{"phase":"Running"}}"#,
            ],
        );
        let f = forward(&kc, &cache, port);
        // Megabytes up, with the client's half-close reaching the "pod".
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            exchange(f.local, &big),
            format!("{} {}", big.len(), digest(&big))
        );
        // Several connections at once over the same session.
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let local = f.local;
                std::thread::spawn(move || {
                    let msg = format!("connection {i}").repeat(1000);
                    (exchange(local, msg.as_bytes()), msg)
                })
            })
            .collect();
        for h in handles {
            let (reply, msg) = h.join().expect("thread");
            assert_eq!(reply, format!("{} {}", msg.len(), digest(msg.as_bytes())));
        }
        drop(f);

        // A refused port: kubectl reports the kubelet-style error.
        let mut bad = forward(&kc, &cache, closed);
        let mut c = std::net::TcpStream::connect(("127.0.0.1", bad.local)).expect("connect");
        let _ = c.write_all(b"hello");
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink);
        let _ = bad.child.wait();
        let mut err = String::new();
        let _ = bad.stderr.read_to_string(&mut err);
        err
    })
    .await
    .expect("kubectl side");
    assert!(
        result.contains(&format!("error forwarding port {closed} to pod box"))
            && result.contains("failed to connect"),
        "kubectl shows why: {result}"
    );
    server.stop().await;
}

fn dir_file(cache: &std::path::Path, name: &str, text: &str) -> String {
    let path = cache.parent().expect("dir").join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}
