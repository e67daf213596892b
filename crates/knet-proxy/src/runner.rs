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
use crate::metrics::{Metrics, now_ms};
use crate::model::{Change, Family, ProxyState, ServicePort, changes};
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
}

/// Owns the kernel handles and what was last applied.
pub struct Proxier {
    nft: Box<dyn Nft>,
    conntrack: Box<dyn Conntrack>,
    cfg: RenderConfig,
    applied: BTreeMap<Family, Desired>,
    state: ProxyState,
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
            need_full: true,
            metrics,
            no_local: (0, 0),
        }
    }

    /// The state of the last successful sync.
    pub fn state(&self) -> &ProxyState {
        &self.state
    }

    /// The transaction a full sync of `state` would send (for `--dry-run`).
    pub fn full_script(cfg: &RenderConfig, state: &ProxyState) -> String {
        families(state, &BTreeMap::new())
            .into_iter()
            .map(|f| plan::full(&render(state, f, cfg)).to_nft())
            .collect()
    }

    /// Brings the kernel to `next`: one transaction per family, then UDP
    /// conntrack cleanup. On failure the next sync is a full one.
    pub fn sync(&mut self, next: ProxyState, force_full: bool) -> Result<SyncReport, ApplyError> {
        let started = Instant::now();
        let full = force_full || self.need_full;
        let mut writes = 0;
        let changed = changes(&self.state, &next);
        for family in families(&next, &self.applied) {
            let (desired, plan) = match self.applied.remove(&family) {
                Some(prev) if !full => self.incremental(prev, &changed, family),
                _ => {
                    let d = render(&next, family, &self.cfg);
                    let p = plan::full(&d);
                    (d, p)
                }
            };
            if !plan.is_empty() {
                if let Err(e) = self.nft.apply(&plan.to_nft()) {
                    self.need_full = true;
                    self.applied.clear();
                    self.metrics.sync_failures.fetch_add(1, Ordering::SeqCst);
                    return Err(e);
                }
                writes += plan.size();
            }
            self.applied.insert(family, desired);
        }
        self.need_full = false;
        let stale = stale_udp_flows_in(&changed);
        for flow in &stale {
            if let Err(error) = self.conntrack.delete_udp(flow) {
                tracing::warn!(?flow, %error, "conntrack cleanup failed");
            }
        }
        Self::record(
            &self.metrics,
            &mut self.no_local,
            &changed,
            started.elapsed(),
            full,
        );
        drop(changed);
        let previous = std::mem::replace(&mut self.state, next);
        if previous.ports.len() > 10_000 {
            // Freeing a large state takes milliseconds; keep it off the sync path.
            std::thread::spawn(move || drop(previous));
        }
        Ok(SyncReport {
            full,
            writes,
            stale_flows: stale.len(),
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
    if state.family(Family::V6).next().is_some() || applied.contains_key(&Family::V6) {
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

/// Runs syncs until `updates` closes. Every successful sync publishes its
/// state on `applied` (health-check servers and listings read it).
pub async fn run_loop(
    mut proxier: Proxier,
    mut updates: watch::Receiver<Arc<ProxyState>>,
    applied: watch::Sender<Arc<ProxyState>>,
    timing: LoopTiming,
) -> Result<(), ApplyError> {
    let mut last_full = tokio::time::Instant::now();
    let mut last_sync: Option<tokio::time::Instant> = None;
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                changed = updates.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                _ = tokio::time::sleep(timing.sync_period) => {}
            }
        }
        if let Some(at) = last_sync {
            tokio::time::sleep_until(at + timing.min_sync_period).await;
        }
        let state = updates.borrow_and_update().as_ref().clone();
        let full = first || last_full.elapsed() >= timing.full_sync_period;
        let started = tokio::time::Instant::now();
        let (back, result) = tokio::task::spawn_blocking(move || {
            let r = proxier.sync(state, full);
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
                applied.send_replace(Arc::new(proxier.state().clone()));
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
    updates: watch::Receiver<Arc<ProxyState>>,
) -> Result<(), ApplyError> {
    let (applied_tx, applied_rx) = watch::channel(Arc::new(ProxyState::default()));
    tokio::spawn(crate::serve::run_health_checks(
        netns.clone(),
        applied_rx,
        metrics.clone(),
    ));
    let proxier = Proxier::new(
        Box::new(crate::apply::NftCommand::new(netns.clone())),
        Box::new(crate::conntrack::ConntrackTool::new(netns)),
        cfg,
        metrics,
    );
    run_loop(proxier, updates, applied_tx, timing).await
}
