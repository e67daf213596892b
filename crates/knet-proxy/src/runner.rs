//! The sync loop: desired state in memory, one diffed transaction per sync,
//! full resync at start, after a failure and on a long timer, and bursts of
//! changes batched by a minimum sync period.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::apply::{ApplyError, Nft};
use crate::conntrack::{Conntrack, stale_udp_flows_in};
use crate::feed::FeedRx;
use crate::metrics::{Metrics, now_ms};
use crate::model::{Change, Delta, Family, PortKey, ProxyState, ServicePort, changes};
use crate::plan;
use crate::render::{Desired, RenderConfig, Touched, render, render_port};

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether the table was replaced.
    pub full: bool,
    /// Elements and rules written (0 when nothing changed).
    pub writes: usize,
    /// Stale UDP flow filters deleted.
    pub stale_flows: usize,
    /// Time spent rendering and planning (in memory).
    pub plan_time: Duration,
    /// Time spent writing the script and running `nft` (kernel transaction).
    pub kernel_time: Duration,
}

/// Owns the kernel handles and what was last applied.
pub struct Proxier {
    nft: Box<dyn Nft>,
    conntrack: Box<dyn Conntrack>,
    cfg: RenderConfig,
    applied: BTreeMap<Family, Desired>,
    state: ProxyState,
    /// Service ports with a health-check node port (what `applied` publishes).
    health: ProxyState,
    /// Changes of a failed sync, retried (under newer ones) by the next.
    retry: Delta,
    need_full: bool,
    metrics: Arc<Metrics>,
    /// Service ports without a local endpoint under (internal, external) Local policy.
    no_local: (i64, i64),
}

impl std::fmt::Debug for Proxier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxier")
            .field("cfg", &self.cfg)
            .field("need_full", &self.need_full)
            .finish()
    }
}

/// One changed Service port: (key, before, after).
type Owned = (PortKey, Option<Arc<ServicePort>>, Option<Arc<ServicePort>>);

fn borrowed(owned: &[Owned]) -> Vec<Change<'_>> {
    owned
        .iter()
        .map(|(k, a, b)| (k, a.as_deref(), b.as_deref()))
        .collect()
}

impl Proxier {
    /// A proxier whose first sync replaces the tables.
    pub fn new(
        nft: Box<dyn Nft>,
        conntrack: Box<dyn Conntrack>,
        cfg: RenderConfig,
        metrics: Arc<Metrics>,
    ) -> Proxier {
        Proxier {
            nft,
            conntrack,
            cfg,
            applied: BTreeMap::new(),
            state: ProxyState::default(),
            health: ProxyState::default(),
            retry: Delta::new(),
            need_full: true,
            metrics,
            no_local: (0, 0),
        }
    }

    /// The state of the last successful sync.
    pub fn state(&self) -> &ProxyState {
        &self.state
    }

    /// The Service ports of [`Proxier::state`] that have a health-check node
    /// port (kept incrementally; small).
    pub fn health_state(&self) -> &ProxyState {
        &self.health
    }

    /// The transaction a full sync of `state` would send (for `--dry-run`).
    pub fn full_script(cfg: &RenderConfig, state: &ProxyState) -> String {
        families(state, &BTreeMap::new())
            .into_iter()
            .map(|f| plan::full_script(&render(state, f, cfg)).0)
            .collect()
    }

    /// Brings the kernel to `next` (a whole state; diffed against the last
    /// one in one O(n) merge pass). See [`Proxier::update`] for O(changed).
    pub fn sync(&mut self, next: ProxyState, force_full: bool) -> Result<SyncReport, ApplyError> {
        // A whole state supersedes any changes left from a failed sync.
        self.retry.clear();
        let previous = std::mem::replace(&mut self.state, next);
        let mut owned: Vec<Owned> = changes(&previous, &self.state)
            .into_iter()
            .map(|(k, _, _)| {
                (
                    k.clone(),
                    previous.ports.get(k).cloned(),
                    self.state.ports.get(k).cloned(),
                )
            })
            .collect();
        let result = self.program(&owned, force_full);
        if result.is_err() {
            self.retry = owned.drain(..).map(|(k, _, new)| (k, new)).collect();
            self.state = previous;
        } else if previous.ports.len() > 10_000 {
            // Freeing a large state takes milliseconds; keep it off the sync path.
            std::thread::spawn(move || drop(previous));
        }
        result
    }

    /// Applies `delta` (only the Service ports that changed) to the state and
    /// brings the kernel there: O(changed) in memory and in the transaction,
    /// unless this is a full sync (`force_full`, the first one, or after a
    /// failure). One transaction per family, then UDP conntrack cleanup.
    pub fn update(&mut self, delta: Delta, force_full: bool) -> Result<SyncReport, ApplyError> {
        let mut delta = delta;
        for (k, v) in std::mem::take(&mut self.retry) {
            delta.entry(k).or_insert(v);
        }
        let mut owned: Vec<Owned> = Vec::with_capacity(delta.len());
        for (key, new) in delta {
            let old = match &new {
                Some(p) => self.state.ports.insert(key.clone(), p.clone()),
                None => self.state.ports.remove(&key),
            };
            let same = match (&old, &new) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                _ => false,
            };
            if !same {
                owned.push((key, old, new));
            }
        }
        let result = self.program(&owned, force_full);
        if result.is_err() {
            // Back to the last applied state; the changes are retried.
            for (key, old, new) in owned.into_iter().rev() {
                match old {
                    Some(p) => self.state.ports.insert(key.clone(), p),
                    None => self.state.ports.remove(&key),
                };
                self.retry.insert(key, new);
            }
        }
        result
    }

    /// Programs the kernel for `self.state`, which `owned` changed; on
    /// failure the next sync is a full one.
    fn program(&mut self, owned: &[Owned], force_full: bool) -> Result<SyncReport, ApplyError> {
        let started = Instant::now();
        let full = force_full || self.need_full;
        let mut writes = 0;
        let mut kernel_time = Duration::ZERO;
        let changed = borrowed(owned);
        for family in families(&self.state, &self.applied) {
            let (desired, script, size) = match self.applied.remove(&family) {
                Some(prev) if !full => {
                    let (d, p) = self.incremental(prev, &changed, family);
                    let script = if p.is_empty() {
                        String::new()
                    } else {
                        p.to_nft()
                    };
                    (d, script, p.size())
                }
                _ => {
                    let d = render(&self.state, family, &self.cfg);
                    let (script, size) = plan::full_script(&d);
                    (d, script, size)
                }
            };
            if !script.is_empty() {
                let t = Instant::now();
                let applied = self.nft.apply(&script);
                kernel_time += t.elapsed();
                if let Err(e) = applied {
                    self.need_full = true;
                    self.applied.clear();
                    self.metrics.sync_failures.fetch_add(1, Ordering::SeqCst);
                    return Err(e);
                }
                writes += size;
            }
            self.applied.insert(family, desired);
        }
        self.need_full = false;
        let plan_time = started.elapsed().saturating_sub(kernel_time);
        let stale = stale_udp_flows_in(&changed);
        if let Err(error) = self.conntrack.delete_udp_all(&stale) {
            tracing::warn!(flows = stale.len(), %error, "conntrack cleanup failed");
        }
        for (key, _, new) in owned {
            match new.as_ref().filter(|p| p.health_check_node_port.is_some()) {
                Some(p) => self.health.ports.insert(key.clone(), p.clone()),
                None => self.health.ports.remove(key),
            };
        }
        Self::record(
            &self.metrics,
            &mut self.no_local,
            &changed,
            started.elapsed(),
            full,
        );
        Ok(SyncReport {
            full,
            writes,
            stale_flows: stale.len(),
            plan_time,
            kernel_time,
        })
    }

    /// Updates `desired` for the Service ports that changed since the last
    /// sync and plans only their objects: O(changed ports) rendering.
    fn incremental(
        &self,
        mut desired: Desired,
        changed: &[Change<'_>],
        family: Family,
    ) -> (Desired, plan::Plan) {
        let mut touched = Touched::default();
        for (_, before, after) in changed.iter().filter(|c| c.0.0 == family) {
            if let Some(before) = before {
                desired.remove_fragment(&render_port(before, &self.cfg), Some(&mut touched));
            }
            if let Some(after) = after {
                desired.add_fragment(&render_port(after, &self.cfg), Some(&mut touched));
            }
        }
        let (before, after) = desired.touched_views(&touched);
        let plan = plan::diff(&before, &after);
        (desired, plan)
    }

    fn record(
        m: &Metrics,
        totals: &mut (i64, i64),
        changed: &[Change<'_>],
        took: Duration,
        full: bool,
    ) {
        m.sync_duration.observe(took);
        if full {
            &m.sync_full_duration
        } else {
            &m.sync_partial_duration
        }
        .observe(took);
        let (mut svc, mut eps) = (0, 0);
        for (_, old, new) in changed {
            match (old, new) {
                (Some(o), Some(n)) if o.cluster != n.cluster || o.local != n.local => eps += 1,
                _ => svc += 1,
            }
            let no_local = |p: &Option<&ServicePort>, external: bool| {
                p.is_some_and(|p| {
                    let policy = if external {
                        p.external_local && p.has_external()
                    } else {
                        p.internal_local
                    };
                    policy && p.local.is_empty() && !p.cluster.is_empty()
                }) as i64
            };
            totals.0 += no_local(new, false) - no_local(old, false);
            totals.1 += no_local(new, true) - no_local(old, true);
        }
        m.service_changes.fetch_add(svc, Ordering::SeqCst);
        m.endpoint_changes.fetch_add(eps, Ordering::SeqCst);
        m.no_local_internal
            .store(totals.0.max(0) as u64, Ordering::SeqCst);
        m.no_local_external
            .store(totals.1.max(0) as u64, Ordering::SeqCst);
        let queued = m.last_queued_ms.swap(0, Ordering::SeqCst);
        let now = now_ms();
        if queued != 0 {
            m.network_programming
                .observe(Duration::from_millis(now.saturating_sub(queued)));
        }
        m.last_sync_ms.store(now, Ordering::SeqCst);
    }
}

/// Families to program: those with Service ports, plus those programmed before
/// (so that their tables get emptied). IPv4 is always programmed.
fn families(state: &ProxyState, applied: &BTreeMap<Family, Desired>) -> Vec<Family> {
    let mut out = vec![Family::V4];
    if state.has_family(Family::V6) || applied.contains_key(&Family::V6) {
        out.push(Family::V6);
    }
    out
}

/// Timing of the sync loop.
#[derive(Debug, Clone, Copy)]
pub struct LoopTiming {
    /// Minimum time between syncs (batches bursts).
    pub min_sync_period: Duration,
    /// Periodic re-sync (a diff; normally a no-op).
    pub sync_period: Duration,
    /// Periodic full replacement of the tables.
    pub full_sync_period: Duration,
}

impl Default for LoopTiming {
    fn default() -> Self {
        LoopTiming {
            min_sync_period: Duration::from_secs(1),
            sync_period: Duration::from_secs(30),
            full_sync_period: Duration::from_secs(3600),
        }
    }
}

/// Runs syncs until `updates` closes, each applying the changes queued since
/// the last one. Every successful sync publishes the Service ports with
/// health-check node ports on `applied` (the health-check servers read it).
pub async fn run_loop(
    mut proxier: Proxier,
    mut updates: FeedRx,
    applied: watch::Sender<Arc<ProxyState>>,
    timing: LoopTiming,
) -> Result<(), ApplyError> {
    let mut last_full = tokio::time::Instant::now();
    let mut last_sync: Option<tokio::time::Instant> = None;
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                open = updates.changed() => {
                    if !open {
                        return Ok(());
                    }
                }
                _ = tokio::time::sleep(timing.sync_period) => {}
            }
        }
        if let Some(at) = last_sync {
            tokio::time::sleep_until(at + timing.min_sync_period).await;
        }
        let delta = updates.take();
        let full = first || last_full.elapsed() >= timing.full_sync_period;
        let started = tokio::time::Instant::now();
        let (back, result) = tokio::task::spawn_blocking(move || {
            let r = proxier.update(delta, full);
            (proxier, r)
        })
        .await
        .map_err(|e| ApplyError::Spawn {
            program: "sync task".into(),
            source: std::io::Error::other(e),
        })?;
        proxier = back;
        last_sync = Some(tokio::time::Instant::now());
        match result {
            Ok(report) => {
                first = false;
                if report.full {
                    last_full = started;
                }
                if report.writes > 0 || report.full {
                    tracing::info!(
                        full = report.full,
                        writes = report.writes,
                        stale_udp = report.stale_flows,
                        took_ms = started.elapsed().as_millis() as u64,
                        "synced proxy rules"
                    );
                }
                applied.send_replace(Arc::new(proxier.health_state().clone()));
            }
            Err(error) => {
                tracing::error!(%error, "sync failed; retrying with a full sync");
                if first {
                    return Err(error);
                }
            }
        }
    }
}

/// Runs one node's proxy on `updates`: health-check node ports for what is
/// applied, and the sync loop programming `netns` (nft and conntrack) until a
/// sync fails for good. `knet proxy` and the lab both run it.
pub async fn run_node(
    netns: crate::apply::Netns,
    cfg: RenderConfig,
    timing: LoopTiming,
    metrics: Arc<Metrics>,
    updates: FeedRx,
) -> Result<(), ApplyError> {
    let (applied_tx, applied_rx) = watch::channel(Arc::new(ProxyState::default()));
    tokio::spawn(crate::serve::run_health_checks(
        netns.clone(),
        applied_rx,
        metrics.clone(),
    ));
    let proxier = Proxier::new(
        crate::apply::nft_for(&netns)?,
        Box::new(crate::conntrack::ConntrackNetlink::new(netns)),
        cfg,
        metrics,
    );
    run_loop(proxier, updates, applied_tx, timing).await
}
