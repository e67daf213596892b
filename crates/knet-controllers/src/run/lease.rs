//! I/O of leader election: take the Lease before acting, renew it while
//! acting, stop when it is lost.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};

use super::services::is_status;
use super::{Config, Error};
use crate::leader::{self, LEASE_SECONDS, LeaseStep};

/// Time between renewals.
const RENEW_EVERY: Duration = Duration::from_secs(LEASE_SECONDS as u64 / 3);

/// One attempt: `Ok(Some(lease))` when we hold it after the write.
async fn attempt(api: &Api<Lease>, cfg: &Config) -> Result<Result<Lease, Duration>, kube::Error> {
    let cur = api.get_opt(&cfg.lease_name).await?;
    let now = k8s_openapi::jiff::Timestamp::now();
    let step = leader::decide(cur.as_ref(), &cfg.identity, now);
    let next = leader::next(
        cur.as_ref(),
        &cfg.lease_namespace,
        &cfg.lease_name,
        &cfg.identity,
        now,
    );
    let written = match step {
        LeaseStep::Wait(d) => return Ok(Err(d.min(RENEW_EVERY))),
        LeaseStep::Create => api.create(&PostParams::default(), &next).await,
        LeaseStep::Take | LeaseStep::Renew => {
            api.replace(&cfg.lease_name, &PostParams::default(), &next)
                .await
        }
    };
    match written {
        Ok(l) => Ok(Ok(l)),
        // Someone else wrote first: look again soon.
        Err(e) if is_status(&e, 409) => Ok(Err(Duration::from_millis(500))),
        Err(e) => Err(e),
    }
}

/// Waits until this instance holds the Lease.
pub(crate) async fn acquire(client: &kube::Client, cfg: &Config) -> Result<Lease, Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.lease_namespace);
    loop {
        match attempt(&api, cfg).await {
            Ok(Ok(l)) => {
                tracing::info!(lease = %cfg.lease_name, identity = %cfg.identity, "became leader");
                return Ok(l);
            }
            Ok(Err(wait)) => tokio::time::sleep(wait).await,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read or write the leader lease; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Renews the Lease until it is lost; returns why.
pub(crate) async fn hold(client: &kube::Client, cfg: &Config, _lease: Lease) -> Result<(), Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.lease_namespace);
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match attempt(&api, cfg).await {
            Ok(Ok(_)) => last_ok = Instant::now(),
            Ok(Err(_)) => return Err(Error::LostLease(cfg.lease_name.clone())),
            Err(e) => {
                tracing::warn!(error = %e, "lease renewal failed");
                if last_ok.elapsed() > Duration::from_secs(LEASE_SECONDS as u64) {
                    return Err(Error::LostLease(cfg.lease_name.clone()));
                }
            }
        }
    }
}
