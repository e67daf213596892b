//! `kubectl exec` and `kubectl logs` for lab pods: the API server's
//! [`PodRuntime`], backed by the node agents' registry of live sandboxes.
//! Exec runs the command through `knet run-in` inside the pod's namespaces
//! with the container's environment; logs read the container's log file.

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use knet_api::exec::{ExecIo, ExecOutput, ExecRequest, LogRequest, PodRuntime};
use knet_api::status::ApiError;
use knet_lab::agent::registry::Registry;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Exec and logs over the lab's running pods.
pub(crate) struct LabRuntime {
    pub(crate) registry: Arc<Registry>,
    pub(crate) knet_exe: PathBuf,
}

/// Where an exec or log request goes.
struct Target {
    pause_pid: u32,
    dir: PathBuf,
    container: String,
    env: Vec<(String, String)>,
}

/// Finds the pod's sandbox and container (boxed error: `ApiError` is large).
fn find(
    reg: &Registry,
    ns: &str,
    pod: &str,
    container: Option<&str>,
) -> Result<Target, Box<ApiError>> {
    let entry = reg.get(ns, pod).ok_or_else(|| {
        Box::new(ApiError::bad_request(format!(
            "pod {pod} does not have a running sandbox on any node (is it Running?)"
        )))
    })?;
    let (name, env) = entry.container(container).cloned().ok_or_else(|| {
        let c = container.unwrap_or("");
        Box::new(ApiError::bad_request(format!(
            "container {c} is not valid for pod {pod}"
        )))
    })?;
    Ok(Target {
        pause_pid: entry.pause_pid,
        dir: entry.dir,
        container: name,
        env,
    })
}

impl PodRuntime for LabRuntime {
    fn exec(&self, req: ExecRequest) -> BoxFuture<'static, Result<ExecIo, ApiError>> {
        let found = find(
            &self.registry,
            &req.namespace,
            &req.pod,
            req.container.as_deref(),
        );
        let exe = self.knet_exe.clone();
        async move {
            let t = found.map_err(|e| *e)?;
            if req.attach || req.command.is_empty() {
                return Err(ApiError::bad_request(
                    "attach is not supported in the lab; use exec with a command",
                ));
            }
            let mut cmd = tokio::process::Command::new(exe);
            cmd.arg("run-in").arg("--pid").arg(t.pause_pid.to_string());
            for (k, v) in &t.env {
                cmd.arg("--env").arg(format!("{k}={v}"));
            }
            if req.tty {
                cmd.arg("--tty");
            }
            cmd.arg("--").args(&req.command);
            if req.tty {
                return spawn_tty(cmd, req.stdin)
                    .map_err(|e| ApiError::internal(format!("exec with a terminal: {e}")));
            }
            cmd.stdin(if req.stdin {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
            let mut child = cmd
                .spawn()
                .map_err(|e| ApiError::internal(format!("exec: {e}")))?;
            Ok(wire(&mut child, req.stdin).with_child(child))
        }
        .boxed()
    }

    fn logs(&self, req: LogRequest) -> BoxFuture<'static, Result<mpsc::Receiver<Bytes>, ApiError>> {
        let found = find(
            &self.registry,
            &req.namespace,
            &req.pod,
            req.container.as_deref(),
        );
        async move {
            let t = found.map_err(|e| *e)?;
            let path = t.dir.join(&t.container).join("0.log");
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(stream_log(path, req.tail_lines, req.follow, tx));
            Ok(rx)
        }
        .boxed()
    }
}

/// Runs `cmd` on a new pseudo-terminal (`kubectl exec -t`): its stdin,
/// stdout and stderr are the terminal; what it writes comes back as stdout,
/// and the client's keystrokes go to the terminal, which echoes them.
fn spawn_tty(mut cmd: tokio::process::Command, stdin: bool) -> std::io::Result<ExecIo> {
    let pty = nix::pty::openpty(None, None)?;
    let slave = |fd: &std::os::fd::OwnedFd| -> std::io::Result<std::process::Stdio> {
        Ok(fd.try_clone()?.into())
    };
    cmd.env("TERM", "xterm")
        .stdin(slave(&pty.slave)?)
        .stdout(slave(&pty.slave)?)
        .stderr(slave(&pty.slave)?);
    cmd.kill_on_drop(true);
    let mut child = cmd.spawn()?;
    drop(pty.slave);
    let master = std::fs::File::from(pty.master);
    let (out_tx, out_rx) = mpsc::channel(64);
    let reader = master.try_clone()?;
    let sizer_fd = master.try_clone()?;
    let tx = out_tx.clone();
    let pump = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut reader = reader;
        let mut buf = vec![0u8; 16 * 1024];
        // EIO once the command and everything holding the terminal are gone.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0
                || tx
                    .blocking_send(ExecOutput::Stdout(Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
            {
                break;
            }
        }
    });
    let stdin_tx = stdin.then(|| {
        let (tx, mut rx) = mpsc::channel::<Bytes>(16);
        let mut writer = master;
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            while let Some(b) = rx.blocking_recv() {
                if writer.write_all(&b).is_err() {
                    break;
                }
            }
        });
        tx
    });
    tokio::spawn(async move {
        let code = exit_code(child.wait().await);
        let _ = pump.await;
        let _ = out_tx.send(ExecOutput::Exit(code)).await;
    });
    let (resize_tx, mut resize_rx) = mpsc::channel::<(u16, u16)>(4);
    let sizer = sizer_fd;
    tokio::spawn(async move {
        use std::os::fd::AsFd;
        while let Some((cols, rows)) = resize_rx.recv().await {
            if let Err(e) = knet_lab::sandbox::set_window_size(sizer.as_fd(), cols, rows) {
                tracing::debug!(error = %e, "terminal resize");
            }
        }
    });
    Ok(ExecIo {
        stdin: stdin_tx,
        output: out_rx,
        resize: Some(resize_tx),
    })
}

fn exit_code(r: std::io::Result<std::process::ExitStatus>) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match r {
        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        Err(_) => 1,
    }
}

/// Pumps a child's pipes into an [`ExecIo`].
struct Wired {
    io: ExecIo,
    out_tx: mpsc::Sender<ExecOutput>,
    pumps: Vec<tokio::task::JoinHandle<()>>,
}

impl Wired {
    fn with_child(self, mut child: tokio::process::Child) -> ExecIo {
        let Wired { io, out_tx, pumps } = self;
        tokio::spawn(async move {
            for p in pumps {
                let _ = p.await;
            }
            let code = exit_code(child.wait().await);
            let _ = out_tx.send(ExecOutput::Exit(code)).await;
        });
        io
    }
}

fn wire(child: &mut tokio::process::Child, stdin: bool) -> Wired {
    let (out_tx, out_rx) = mpsc::channel(64);
    let mut pumps = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        let tx = out_tx.clone();
        pumps.push(tokio::spawn(async move {
            pump(&mut out, tx, ExecOutput::Stdout).await
        }));
    }
    if let Some(mut err) = child.stderr.take() {
        let tx = out_tx.clone();
        pumps.push(tokio::spawn(async move {
            pump(&mut err, tx, ExecOutput::Stderr).await
        }));
    }
    let stdin_tx = if stdin {
        let (tx, mut rx) = mpsc::channel::<Bytes>(16);
        let mut pipe = child.stdin.take();
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                let Some(p) = pipe.as_mut() else { break };
                if p.write_all(&b).await.is_err() {
                    break;
                }
            }
            drop(pipe); // EOF for the command
        });
        Some(tx)
    } else {
        None
    };
    Wired {
        io: ExecIo {
            stdin: stdin_tx,
            output: out_rx,
            resize: None,
        },
        out_tx,
        pumps,
    }
}

async fn pump(
    r: &mut (impl AsyncReadExt + Unpin),
    tx: mpsc::Sender<ExecOutput>,
    wrap: fn(Bytes) -> ExecOutput,
) {
    let mut buf = vec![0u8; 16 * 1024];
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

/// The last `n` lines of `text` (all with None).
fn tail(text: &[u8], n: Option<u64>) -> &[u8] {
    let Some(n) = n else { return text };
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return &text[i + 1..];
            }
        }
    }
    if n == 0 { &text[text.len()..] } else { text }
}

async fn stream_log(path: PathBuf, tail_lines: Option<u64>, follow: bool, tx: mpsc::Sender<Bytes>) {
    let Ok(mut f) = tokio::fs::File::open(&path).await else {
        return;
    };
    let mut all = Vec::new();
    if f.read_to_end(&mut all).await.is_err() {
        return;
    }
    let first = tail(&all, tail_lines);
    if !first.is_empty() && tx.send(Bytes::copy_from_slice(first)).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 16 * 1024];
    if !follow {
        return;
    }
    loop {
        match f.read(&mut buf).await {
            Ok(0) => {
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Ok(n) => {
                if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tails_whole_lines() {
        let t = b"a\nb\nc\n";
        assert_eq!(tail(t, Some(2)), b"b\nc\n");
        assert_eq!(tail(t, Some(5)), t);
        assert_eq!(tail(t, Some(0)), b"");
        assert_eq!(tail(t, None), t);
        assert_eq!(tail(b"x\ny", Some(1)), b"y");
    }
}
