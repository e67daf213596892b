//! `kubectl exec` and `kubectl logs` through the API server's WebSocket
//! (v5.channel.k8s.io) and log endpoints, against a minimal runtime that runs
//! commands as host processes; and the clear error without a runtime.

use bytes::Bytes;
use futures::future::BoxFuture;
use knet_api::exec::{ExecIo, ExecOutput, ExecRequest, LogRequest, PodRuntime};
use knet_api::status::ApiError;
use knet_api::{Config, Server};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Runs exec commands as host processes; logs are a fixed text.
struct HostRuntime;

async fn pump<R: AsyncReadExt + Unpin>(
    mut r: R,
    tx: mpsc::Sender<ExecOutput>,
    wrap: fn(Bytes) -> ExecOutput,
) {
    let mut buf = vec![0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0
            || tx
                .send(wrap(Bytes::copy_from_slice(&buf[..n])))
                .await
                .is_err()
        {
            break;
        }
    }
}

impl PodRuntime for HostRuntime {
    fn exec(&self, req: ExecRequest) -> BoxFuture<'static, Result<ExecIo, ApiError>> {
        Box::pin(async move {
            let (prog, args) = req
                .command
                .split_first()
                .ok_or_else(|| ApiError::bad_request("no command"))?;
            let mut child = tokio::process::Command::new(prog)
                .args(args)
                .stdin(if req.stdin {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| ApiError::bad_request(format!("exec {prog}: {e}")))?;
            let (otx, orx) = mpsc::channel(16);
            let stdin = child.stdin.take().map(|mut w| {
                let (itx, mut irx) = mpsc::channel::<Bytes>(16);
                tokio::spawn(async move {
                    while let Some(b) = irx.recv().await {
                        if w.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                });
                itx
            });
            let out = tokio::spawn(pump(
                child.stdout.take().expect("stdout"),
                otx.clone(),
                ExecOutput::Stdout,
            ));
            let err = tokio::spawn(pump(
                child.stderr.take().expect("stderr"),
                otx.clone(),
                ExecOutput::Stderr,
            ));
            tokio::spawn(async move {
                let _ = (out.await, err.await);
                let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
                let _ = otx.send(ExecOutput::Exit(code)).await;
            });
            Ok(ExecIo {
                stdin,
                output: orx,
                resize: None,
            })
        })
    }

    fn logs(&self, req: LogRequest) -> BoxFuture<'static, Result<mpsc::Receiver<Bytes>, ApiError>> {
        Box::pin(async move {
            let lines = ["line one\n", "line two\n", "line three\n"];
            let skip = req
                .tail_lines
                .map_or(0, |t| lines.len().saturating_sub(t as usize));
            let (tx, rx) = mpsc::channel(8);
            for l in &lines[skip..] {
                let _ = tx.send(Bytes::from_static(l.as_bytes())).await;
            }
            Ok(rx)
        })
    }
}

struct Ctx {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

fn kubectl(ctx: &Ctx, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&ctx.kubeconfig)
        .arg("--cache-dir")
        .arg(&ctx.cache)
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    if let Some(input) = stdin {
        let mut w = child.stdin.take().expect("stdin");
        w.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("kubectl output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn start(runtime: Option<Arc<dyn PodRuntime>>) -> (Server, Ctx) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config::new(dir.path().join("data"));
    cfg.listen = "127.0.0.1:0".parse().expect("addr");
    cfg.runtime = runtime;
    let server = Server::start(cfg).await.expect("start");
    let ctx = Ctx {
        kubeconfig: server.kubeconfig_path().to_path_buf(),
        cache: dir.path().join("cache"),
        _dir: dir,
    };
    let pod = dir_file(
        &ctx,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: box\nspec:\n  containers:\n  - name: main\n    image: busybox\n",
    );
    let (code, _, err) = run(&ctx, vec!["apply".into(), "-f".into(), pod]).await;
    assert_eq!(code, 0, "{err}");
    (server, ctx)
}

fn dir_file(ctx: &Ctx, name: &str, text: &str) -> String {
    let p: &Path = ctx.cache.parent().expect("dir");
    let path = p.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

async fn run(ctx: &Ctx, args: Vec<String>) -> (i32, String, String) {
    run_in(ctx, args, None).await
}

async fn run_in(
    ctx: &Ctx,
    args: Vec<String>,
    stdin: Option<&'static str>,
) -> (i32, String, String) {
    let (kc, cache) = (ctx.kubeconfig.clone(), ctx.cache.clone());
    tokio::task::spawn_blocking(move || {
        let c = Ctx {
            _dir: tempfile::tempdir().expect("tempdir"),
            kubeconfig: kc,
            cache,
        };
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        kubectl(&c, &a, stdin)
    })
    .await
    .expect("kubectl task")
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_streams_output_and_exit_codes() {
    let (server, ctx) = start(Some(Arc::new(HostRuntime))).await;
    let (code, out, err) = run(&ctx, args(&["exec", "box", "--", "echo", "hi", "there"])).await;
    assert_eq!((code, out.as_str()), (0, "hi there\n"), "{err}");
    let (code, out, err) = run(
        &ctx,
        args(&[
            "exec",
            "box",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ]),
    )
    .await;
    assert_eq!((code, out.as_str()), (3, "out\n"), "{err}");
    assert!(err.contains("err"), "{err}");
    let (code, out, err) = run_in(
        &ctx,
        args(&["exec", "-i", "box", "--", "cat"]),
        Some("from stdin\n"),
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "from stdin\n"), "{err}");
    let (code, out, _) = run(&ctx, args(&["logs", "box"])).await;
    assert_eq!(
        (code, out.as_str()),
        (0, "line one\nline two\nline three\n")
    );
    let (code, out, _) = run(&ctx, args(&["logs", "box", "--tail=1"])).await;
    assert_eq!((code, out.as_str()), (0, "line three\n"));
    let (code, _, err) = run(&ctx, args(&["exec", "nopod", "--", "true"])).await;
    assert!(
        code != 0 && err.contains("pods \"nopod\" not found"),
        "{err}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_runtime_exec_and_logs_say_why() {
    let (server, ctx) = start(None).await;
    let (code, _, err) = run(&ctx, args(&["logs", "box"])).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("ServiceUnavailable") && err.contains("no node runtime"),
        "{err}"
    );
    let (code, _, err) = run(&ctx, args(&["exec", "box", "--", "true"])).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("no node runtime") || err.contains("503"),
        "{err}"
    );
    server.stop().await;
}
