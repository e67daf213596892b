//! Leader election over a coordination.k8s.io/v1 Lease, pure part: from the
//! Lease as read and the time, what this instance may do. Several
//! `knet controllers` against one API thereby act one at a time.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;

/// Seconds a Lease is valid after its last renewal.
pub const LEASE_SECONDS: i32 = 15;

/// What to do about the Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseStep {
    /// No Lease exists: create it, held by us.
    Create,
    /// Held by nobody or expired: take it over.
    Take,
    /// Ours: renew it.
    Renew,
    /// Someone else holds it: wait this long before looking again.
    Wait(Duration),
}

/// Decides the next step for `me`.
pub fn decide(lease: Option<&Lease>, me: &str, now: Timestamp) -> LeaseStep {
    let Some(spec) = lease.map(|l| l.spec.clone().unwrap_or_default()) else {
        return LeaseStep::Create;
    };
    let holder = spec.holder_identity.unwrap_or_default();
    if holder == me {
        return LeaseStep::Renew;
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    let renewed = spec.renew_time.map(|t| t.0.as_second()).unwrap_or(0);
    let left = renewed + duration - now.as_second();
    if holder.is_empty() || left < 0 {
        LeaseStep::Take
    } else {
        LeaseStep::Wait(Duration::from_secs(left.max(1) as u64))
    }
}

/// The Lease after `step` by `me` at `now` (`prev` is the Lease read, if any).
pub fn next(prev: Option<&Lease>, namespace: &str, name: &str, me: &str, now: Timestamp) -> Lease {
    let mut lease = prev.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        spec: None,
    });
    let old = lease.spec.clone().unwrap_or_default();
    let ours = old.holder_identity.as_deref() == Some(me);
    let transitions = old.lease_transitions.unwrap_or(0) + i32::from(prev.is_some() && !ours);
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(me.into()),
        lease_duration_seconds: Some(LEASE_SECONDS),
        acquire_time: if ours {
            old.acquire_time
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..Default::default()
    });
    lease
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn create_renew_wait_take() {
        let t0 = at("2025-01-01T00:00:00Z");
        assert_eq!(decide(None, "a", t0), LeaseStep::Create);
        let held = next(None, "kube-system", "knet-controllers", "a", t0);
        assert_eq!(decide(Some(&held), "a", t0), LeaseStep::Renew);
        assert_eq!(
            decide(Some(&held), "b", at("2025-01-01T00:00:05Z")),
            LeaseStep::Wait(Duration::from_secs(10))
        );
        assert_eq!(
            decide(Some(&held), "b", at("2025-01-01T00:00:16Z")),
            LeaseStep::Take
        );
        let taken = next(
            Some(&held),
            "kube-system",
            "knet-controllers",
            "b",
            at("2025-01-01T00:00:16Z"),
        );
        let spec = taken.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("b"));
        assert_eq!(spec.lease_transitions, Some(1));
        let renewed = next(
            Some(&held),
            "kube-system",
            "knet-controllers",
            "a",
            at("2025-01-01T00:00:05Z"),
        )
        .spec
        .unwrap();
        assert_eq!(
            renewed.acquire_time,
            held.spec.unwrap().acquire_time,
            "renewal keeps acquireTime"
        );
        assert_eq!(renewed.lease_transitions, Some(0));
    }
}
