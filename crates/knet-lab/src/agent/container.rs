//! One container's life in the lab: start it inside the sandbox through
//! `knet run-in`, log its output, restart it per `restartPolicy` with the
//! kubelet's back-off (10 s doubling to 5 min), run its probes, and stop it
//! with SIGTERM, the grace period, then SIGKILL.

use super::console::Console;
use super::events::ContainerEvent;
use super::probe::{Probe, ProbeTarget};
use crate::containers::Process;
use crate::podstatus::{ContainerObs, ContainerState};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

/// What the container task needs.
#[derive(Debug, Clone)]
pub struct ContainerTask {
    /// Index in the pod's container list.
    pub index: usize,
    /// Container name.
    pub name: String,
    /// Image (reported in status).
    pub image: String,
    /// The process to run.
    pub process: Process,
    /// `Always`, `OnFailure` or `Never`.
    pub restart_policy: String,
    /// Log directory: run N of the container (N = restarts so far) logs
    /// to `<N>.log`, as the kubelet keeps one file per restart.
    pub log_dir: PathBuf,
    /// The `knet` executable.
    pub knet_exe: PathBuf,
    /// Pause process PID of the sandbox.
    pub pause_pid: u32,
    /// Readiness probe, if any.
    pub readiness: Option<Probe>,
    /// Liveness probe, if any.
    pub liveness: Option<Probe>,
    /// Startup probe, if any: readiness and liveness wait for its success,
    /// and its failure restarts the container.
    pub startup: Option<Probe>,
    /// Where probes connect (the pod IP, from the node).
    pub probe_target: ProbeTarget,
    /// Its stdin/terminal, for `kubectl attach`.
    pub console: Arc<Console>,
    /// Where the container's Events go (the pod worker writes them).
    pub events: mpsc::Sender<ContainerEvent>,
    /// The pod's namespace, name and UID (the BackOff event names them).
    pub pod: (String, String, String),
}

fn now() -> String {
    super::rfc3339_now()
}

/// The kubelet's crash back-off for the `n`th restart.
pub fn backoff(n: u32) -> Duration {
    Duration::from_secs((10u64 << n.min(5)).min(300))
}

/// The log file of the run after `restarts` restarts.
pub fn log_file(dir: &std::path::Path, restarts: u32) -> PathBuf {
    dir.join(format!("{restarts}.log"))
}

fn spawn(t: &ContainerTask, restarts: u32) -> std::io::Result<Child> {
    std::fs::create_dir_all(&t.log_dir)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file(&t.log_dir, restarts))?;
    let mut cmd = Command::new(&t.knet_exe);
    cmd.arg("run-in").arg("--pid").arg(t.pause_pid.to_string());
    if let Some(w) = &t.process.workdir {
        cmd.arg("--workdir").arg(w);
    }
    cmd.env_clear().env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    for (k, v) in &t.process.env {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    let spec = t.console.spec();
    if spec.tty {
        cmd.arg("--tty");
    }
    cmd.arg("--").args(&t.process.argv);
    cmd.kill_on_drop(true);
    if spec.tty {
        // One terminal for stdin, stdout and stderr; `run-in --tty` makes it
        // the controlling terminal of a new session (whose ID is the PID, so
        // the process group is signalled as for other containers).
        let pty = nix::pty::openpty(None, None)?;
        let slave = |fd: &std::os::fd::OwnedFd| -> std::io::Result<std::process::Stdio> {
            Ok(fd.try_clone()?.into())
        };
        cmd.stdin(slave(&pty.slave)?)
            .stdout(slave(&pty.slave)?)
            .stderr(slave(&pty.slave)?);
        let child = cmd.spawn()?;
        drop(pty.slave);
        let master = std::fs::File::from(pty.master);
        let mut reader = master.try_clone()?;
        let mut log = log;
        // The terminal's output goes to the log, which attachers follow; EIO
        // once the process and everything holding the terminal are gone.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut log));
        t.console.started(Some(master.try_clone()?), Some(master));
        return Ok(child);
    }
    let (stdin, writer) = if spec.stdin {
        let (r, w) = std::io::pipe()?;
        (
            std::process::Stdio::from(r),
            Some(std::fs::File::from(std::os::fd::OwnedFd::from(w))),
        )
    } else {
        (std::process::Stdio::null(), None)
    };
    cmd.stdin(stdin)
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    let child = cmd.spawn()?;
    t.console.started(writer, None);
    Ok(child)
}

/// Signals the container's whole process group, waits `grace`, then kills it.
pub async fn stop(child: &mut Child, grace: Duration) -> Option<std::process::ExitStatus> {
    let pid = child.id()?;
    let pgid = Pid::from_raw(pid as i32);
    let _ = killpg(pgid, Signal::SIGTERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(r) => r.ok(),
        Err(_) => {
            let _ = killpg(pgid, Signal::SIGKILL);
            child.wait().await.ok()
        }
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Runs the container until `stop_rx` says stop (with the grace period) or
/// its restart policy ends it; reports every state change on `obs_tx`.
pub async fn run(
    t: ContainerTask,
    obs_tx: mpsc::Sender<(usize, ContainerObs)>,
    mut stop_rx: watch::Receiver<Option<Duration>>,
) {
    let mut obs = ContainerObs::waiting(&t.name, &t.image, "ContainerCreating", None);
    let event = |e: ContainerEvent| {
        let tx = t.events.clone();
        async move {
            let _ = tx.send(e).await;
        }
    };
    loop {
        let _ = obs_tx.send((t.index, obs.clone())).await;
        let started_at = now();
        event(ContainerEvent::pulled(&t.name, &t.image)).await;
        let mut child = match spawn(&t, obs.restart_count) {
            Ok(c) => {
                event(ContainerEvent::created(&t.name)).await;
                event(ContainerEvent::started(&t.name)).await;
                c
            }
            Err(e) => {
                event(ContainerEvent::failed(&t.name, &e.to_string())).await;
                obs.state = ContainerState::Waiting {
                    reason: "RunContainerError".into(),
                    message: Some(e.to_string()),
                };
                let _ = obs_tx.send((t.index, obs.clone())).await;
                if wait_or_stop(&mut stop_rx, backoff(obs.restart_count))
                    .await
                    .is_some()
                {
                    return;
                }
                continue;
            }
        };
        obs.state = ContainerState::Running {
            started_at: started_at.clone(),
        };
        obs.ready = t.readiness.is_none();
        let _ = obs_tx.send((t.index, obs.clone())).await;
        let outcome = supervise(&t, &mut child, &mut obs, &obs_tx, &mut stop_rx).await;
        let (status, stopping) = match outcome {
            Outcome::Exited(s) => (s, false),
            Outcome::Stop(grace) => {
                event(ContainerEvent::killing(&t.name)).await;
                (stop(&mut child, grace).await, true)
            }
            Outcome::LivenessFailed(probe) => {
                event(ContainerEvent::restarting(&t.name, probe)).await;
                (stop(&mut child, Duration::from_secs(30)).await, false)
            }
        };
        let code = status.map(exit_code).unwrap_or(137);
        t.console.exited(code);
        let terminated = ContainerState::Terminated {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            started_at,
            finished_at: now(),
        };
        obs.ready = false;
        obs.state = terminated.clone();
        let restart = !stopping
            && match t.restart_policy.as_str() {
                "Never" => false,
                "OnFailure" => code != 0,
                _ => true,
            };
        let _ = obs_tx.send((t.index, obs.clone())).await;
        if !restart {
            // Stay terminated until told to stop.
            stop_requested(&mut stop_rx).await;
            return;
        }
        obs.last_terminated = Some(terminated);
        obs.state = ContainerState::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some(format!(
                "back-off {}s restarting failed container={}",
                backoff(obs.restart_count).as_secs(),
                t.name
            )),
        };
        let _ = obs_tx.send((t.index, obs.clone())).await;
        let (ns, pod, uid) = &t.pod;
        event(ContainerEvent::back_off(&t.name, pod, ns, uid)).await;
        if wait_or_stop(&mut stop_rx, backoff(obs.restart_count))
            .await
            .is_some()
        {
            return;
        }
        obs.restart_count += 1;
    }
}

enum Outcome {
    Exited(Option<std::process::ExitStatus>),
    Stop(Duration),
    /// A liveness or startup probe failed (which one).
    LivenessFailed(&'static str),
}

/// Waits for exit, a stop request, or probe results while the container runs.
async fn supervise(
    t: &ContainerTask,
    child: &mut Child,
    obs: &mut ContainerObs,
    obs_tx: &mpsc::Sender<(usize, ContainerObs)>,
    stop_rx: &mut watch::Receiver<Option<Duration>>,
) -> Outcome {
    let mut readiness = t.readiness.clone().map(|p| p.runner());
    let mut liveness = t.liveness.clone().map(|p| p.runner());
    let mut startup = t.startup.clone().map(|p| p.runner());
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            s = child.wait() => return Outcome::Exited(s.ok()),
            grace = stop_requested(stop_rx) => return Outcome::Stop(grace),
            _ = tick.tick() => {
                let ip = t.probe_target.ip;
                let unhealthy = |kind: &str, r: &super::probe::Runner| {
                    ContainerEvent::unhealthy(&t.name, kind, &r.probe().check.failure(ip))
                };
                if let Some(s) = startup.as_mut() {
                    match s.poll(&t.probe_target, t.pause_pid, &t.knet_exe).await {
                        Some(true) => startup = None,
                        Some(false) => {
                            let _ = t.events.send(unhealthy("Startup", s)).await;
                            return Outcome::LivenessFailed("startup");
                        }
                        None => {}
                    }
                    continue;
                }
                if let Some(r) = readiness.as_mut()
                    && let Some(ready) = r.poll(&t.probe_target, t.pause_pid, &t.knet_exe).await
                    && ready != obs.ready
                {
                    if !ready {
                        let _ = t.events.send(unhealthy("Readiness", r)).await;
                    }
                    obs.ready = ready;
                    let _ = obs_tx.send((t.index, obs.clone())).await;
                }
                if let Some(l) = liveness.as_mut()
                    && l.poll(&t.probe_target, t.pause_pid, &t.knet_exe).await == Some(false)
                {
                    let _ = t.events.send(unhealthy("Liveness", l)).await;
                    return Outcome::LivenessFailed("liveness");
                }
            }
        }
    }
}

/// Resolves with the grace period once a stop is requested (zero if the
/// agent went away). Copies the value out: no guard is held across awaits.
async fn stop_requested(stop_rx: &mut watch::Receiver<Option<Duration>>) -> Duration {
    loop {
        if let Some(grace) = *stop_rx.borrow_and_update() {
            return grace;
        }
        if stop_rx.changed().await.is_err() {
            return Duration::ZERO;
        }
    }
}

/// Sleeps `d` unless a stop comes first (then returns the grace period).
async fn wait_or_stop(
    stop_rx: &mut watch::Receiver<Option<Duration>>,
    d: Duration,
) -> Option<Duration> {
    tokio::select! {
        _ = tokio::time::sleep(d) => None,
        grace = stop_requested(stop_rx) => Some(grace),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_minutes() {
        assert_eq!(backoff(0), Duration::from_secs(10));
        assert_eq!(backoff(1), Duration::from_secs(20));
        assert_eq!(backoff(4), Duration::from_secs(160));
        assert_eq!(backoff(5), Duration::from_secs(300));
        assert_eq!(backoff(40), Duration::from_secs(300));
    }
}
