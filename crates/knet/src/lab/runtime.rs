//! `kubectl exec`, `attach` and `logs` for lab pods: the API server's
//! [`PodRuntime`], backed by the node agents' registry of live sandboxes.
//! Exec runs the command through `knet run-in` inside the pod's namespaces
//! with the container's environment; logs read the container's log file;
//! attach follows that file from its end and writes to the running
//! process's stdin (a pipe, or its terminal for `tty: true`).

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use knet_api::exec::{ExecIo, ExecOutput, ExecRequest, LogRequest, PodRuntime};
use knet_api::status::ApiError;
use knet_lab::agent::console::{Console, RunState};
use knet_lab::agent::registry::Registry;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
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
    console: Option<Arc<Console>>,
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
    let console = entry.console(Some(&name)).cloned();
    Ok(Target {
        pause_pid: entry.pause_pid,
        dir: entry.dir,
        container: name,
        env,
        console,
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
            if req.attach {
                return attach(&t, &req).map_err(|e| *e);
            }
            if req.command.is_empty() {
                return Err(ApiError::bad_request(
                    "exec needs a command (kubectl exec POD -- COMMAND)",
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

    fn port_forward(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> BoxFuture<'static, Result<tokio::net::TcpStream, ApiError>> {
        let found = find(&self.registry, namespace, pod, None);
        async move {
            let t = found.map_err(|e| *e)?;
            let pid = t.pause_pid;
            let conn = tokio::task::spawn_blocking(move || connect_in_pod(pid, port))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
                .map_err(|e| {
                    ApiError::internal(format!(
                        "failed to connect to localhost:{port} inside the pod's network namespace: {e}"
                    ))
                })?;
            tokio::net::TcpStream::from_std(conn).map_err(|e| ApiError::internal(e.to_string()))
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
            let dir = t.dir.join(&t.container);
            let runs = log_runs(&dir);
            let Some(run) = pick_log(&runs, req.previous) else {
                return Err(ApiError::bad_request(if req.previous {
                    format!(
                        "previous terminated container \"{}\" in pod \"{}\" not found",
                        t.container, req.pod
                    )
                } else {
                    format!(
                        "container \"{}\" in pod \"{}\" is waiting to start",
                        t.container, req.pod
                    )
                }));
            };
            let path = knet_lab::agent::container::log_file(&dir, run);
            let (tx, rx) = mpsc::channel(16);
            // Run numbers count from 1: the file of `run` restarts is run + 1's.
            let this_run = u64::from(run) + 1;
            let states = t.console.as_ref().map(|c| c.subscribe());
            tokio::spawn(stream_log(
                path,
                req.tail_lines,
                req.follow.then_some((this_run, states)),
                tx,
            ));
            Ok(rx)
        }
        .boxed()
    }
}

/// Connects to `127.0.0.1:port` inside the network namespace of the sandbox
/// held by `pause_pid`, as the kubelet does for `kubectl port-forward`.
fn connect_in_pod(pause_pid: u32, port: u16) -> std::io::Result<std::net::TcpStream> {
    let ns = knet_podnet::netns::Netns::open(format!("/proc/{pause_pid}/ns/net"))
        .map_err(std::io::Error::other)?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let conn = ns
        .run(|| std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5)))
        .map_err(std::io::Error::other)??;
    conn.set_nonblocking(true)?;
    Ok(conn)
}

/// How often an attach session looks for new output in the log file.
const ATTACH_POLL: std::time::Duration = std::time::Duration::from_millis(20);
/// How often `kubectl logs -f` does.
const LOG_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `kubectl attach` (and `kubectl run -i`): the running process's output
/// from now on, and the client's input on its stdin.
fn attach(t: &Target, req: &ExecRequest) -> Result<ExecIo, Box<ApiError>> {
    let console = t
        .console
        .clone()
        .ok_or_else(|| Box::new(ApiError::internal("the container has no console")))?;
    let run = match *console.subscribe().borrow() {
        RunState::Running(n) => n,
        _ => {
            return Err(Box::new(ApiError::bad_request(format!(
                "container {} is not running; use kubectl logs to read its output",
                t.container
            ))));
        }
    };
    let spec = console.spec();
    if req.stdin && !spec.stdin {
        return Err(Box::new(ApiError::bad_request(format!(
            "container {} was not started with stdin: true; attach without -i, or set stdin: true in its spec",
            t.container
        ))));
    }
    if req.tty && !spec.tty {
        return Err(Box::new(ApiError::bad_request(format!(
            "container {} was not started with tty: true; attach without -t",
            t.container
        ))));
    }
    // Run n (counted from 1) logs to the file of its n - 1 restarts.
    let restarts = u32::try_from(run.saturating_sub(1)).unwrap_or(u32::MAX);
    let path = knet_lab::agent::container::log_file(&t.dir.join(&t.container), restarts);
    let (out_tx, out_rx) = mpsc::channel(64);
    let states = console.subscribe();
    tokio::spawn(follow_run(path, run, states, out_tx));
    let stdin = req.stdin.then(|| {
        let (tx, mut rx) = mpsc::channel::<Bytes>(16);
        let console = console.clone();
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                let Some(w) = console.stdin() else { break };
                let wrote = tokio::task::spawn_blocking(move || {
                    use std::io::Write;
                    (&*w).write_all(&b)
                })
                .await;
                if !matches!(wrote, Ok(Ok(()))) {
                    break;
                }
            }
            if console.spec().stdin_once {
                console.close_stdin();
            }
        });
        tx
    });
    let resize = spec.tty.then(|| {
        let (tx, mut rx) = mpsc::channel::<(u16, u16)>(4);
        tokio::spawn(async move {
            while let Some((cols, rows)) = rx.recv().await {
                console.resize(cols, rows);
            }
        });
        tx
    });
    Ok(ExecIo {
        stdin,
        output: out_rx,
        resize,
    })
}

/// Streams what run `run` of the container appends to its log from now on,
/// until that run ends (or the client goes away).
async fn follow_run(
    path: PathBuf,
    run: u64,
    states: tokio::sync::watch::Receiver<RunState>,
    tx: mpsc::Sender<ExecOutput>,
) {
    let Ok(mut f) = tokio::fs::File::open(&path).await else {
        return;
    };
    if f.seek(std::io::SeekFrom::End(0)).await.is_err() {
        return;
    }
    if follow(
        &mut f,
        run,
        Some(states),
        ATTACH_POLL,
        &tx,
        ExecOutput::Stdout,
    )
    .await
    {
        // The session ends with the process, successfully whatever its
        // exit code, as the kubelet's attach does: kubectl reads how the
        // container ended from the pod's status (`kubectl run -i`).
        let _ = tx.send(ExecOutput::Exit(0)).await;
    }
}

/// Sends what is appended to `f` while run `run` of the container is the
/// running one (no `states`: only what is there now), looking every `poll`
/// and whenever the run state changes. True when the run is over and all it
/// wrote was sent; false when the client left, the container's console went
/// away, or the file could not be read.
async fn follow<T>(
    f: &mut tokio::fs::File,
    run: u64,
    mut states: Option<tokio::sync::watch::Receiver<RunState>>,
    poll: std::time::Duration,
    tx: &mpsc::Sender<T>,
    wrap: fn(Bytes) -> T,
) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Look at the state before reading, so what the run wrote before it
        // ended is all sent before the stream ends.
        let running = states
            .as_mut()
            .is_some_and(|s| matches!(*s.borrow_and_update(), RunState::Running(n) if n == run));
        loop {
            match f.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .send(wrap(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        let Some(s) = states.as_mut().filter(|_| running) else {
            return true;
        };
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            changed = s.changed() => if changed.is_err() { return false },
            () = tx.closed() => return false,
        }
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

/// The runs (restart counts) that have a log file in `dir`.
fn log_runs(dir: &std::path::Path) -> Vec<u32> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| {
                let name = e.ok()?.file_name();
                name.to_str()?.strip_suffix(".log")?.parse().ok()
            })
            .collect()
        })
        .unwrap_or_default()
}

/// Which run's log `kubectl logs` reads: the latest, or with `--previous`
/// the one before it.
fn pick_log(runs: &[u32], previous: bool) -> Option<u32> {
    let latest = runs.iter().copied().max()?;
    if previous {
        runs.iter().copied().filter(|r| *r < latest).max()
    } else {
        Some(latest)
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

/// Streams a log file; with `follow` (the run that writes it and its
/// states), keeps streaming what is appended until that run is over (then
/// `kubectl logs -f` returns, as it does when a container exits) or the
/// client leaves.
async fn stream_log(
    path: PathBuf,
    tail_lines: Option<u64>,
    follow_run: Option<(u64, Option<tokio::sync::watch::Receiver<RunState>>)>,
    tx: mpsc::Sender<Bytes>,
) {
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
    if let Some((run, states)) = follow_run {
        follow(&mut f, run, states, LOG_POLL, &tx, std::convert::identity).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{pick_log, tail};

    #[test]
    fn logs_read_the_latest_run_or_the_one_before() {
        assert_eq!(pick_log(&[0, 2, 1], false), Some(2));
        assert_eq!(pick_log(&[0, 2, 1], true), Some(1));
        assert_eq!(pick_log(&[0], true), None);
        assert_eq!(pick_log(&[], false), None);
    }

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
