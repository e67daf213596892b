//! Rollout arithmetic over ReplicaSet counts: which ReplicaSet to scale to
//! what, one step per reconcile (like upstream, which returns after the
//! first change so the next step sees fresh counts).

use k8s_openapi::api::apps::v1::ReplicaSet;

/// The counts of one ReplicaSet that a rollout reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsState {
    /// ReplicaSet name.
    pub name: String,
    /// `spec.replicas`.
    pub spec: i32,
    /// `status.replicas` (pods that exist).
    pub actual: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

impl RsState {
    /// Counts of an existing ReplicaSet.
    pub fn of(rs: &ReplicaSet) -> Self {
        let st = rs.status.as_ref();
        RsState {
            name: rs.metadata.name.clone().unwrap_or_default(),
            spec: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            actual: st.map_or(0, |s| s.replicas),
            available: st.and_then(|s| s.available_replicas).unwrap_or(0),
        }
    }

    /// A ReplicaSet that does not exist yet.
    pub fn missing(name: &str) -> Self {
        RsState {
            name: name.to_string(),
            spec: 0,
            actual: 0,
            available: 0,
        }
    }
}

/// Scale one ReplicaSet from → to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    /// ReplicaSet name.
    pub name: String,
    /// Current `spec.replicas`.
    pub from: i32,
    /// New `spec.replicas`.
    pub to: i32,
}

fn scale(rs: &RsState, to: i32) -> Scale {
    Scale {
        name: rs.name.clone(),
        from: rs.spec,
        to,
    }
}

/// RollingUpdate: scale the new ReplicaSet up within `replicas + surge`;
/// once it cannot grow, scale old ones down keeping `replicas - unavailable`
/// available (unhealthy old pods go first). `olds` oldest first.
pub(super) fn rolling(
    replicas: i32,
    surge: i32,
    unavailable: i32,
    new: &RsState,
    olds: &[RsState],
) -> Vec<Scale> {
    let old_total: i32 = olds.iter().map(|o| o.spec).sum();
    let target = new_target(replicas, surge, new.spec, old_total);
    if target != new.spec {
        return vec![scale(new, target)];
    }
    scale_down_olds(replicas, unavailable, new, olds)
}

fn new_target(replicas: i32, surge: i32, new_spec: i32, old_total: i32) -> i32 {
    if new_spec >= replicas {
        return replicas;
    }
    let max_total = replicas + surge;
    let current = new_spec + old_total;
    if current >= max_total {
        return new_spec;
    }
    (new_spec + (max_total - current)).min(replicas)
}

fn scale_down_olds(replicas: i32, unavailable: i32, new: &RsState, olds: &[RsState]) -> Vec<Scale> {
    let all: i32 = new.spec + olds.iter().map(|o| o.spec).sum::<i32>();
    let min_available = replicas - unavailable;
    let new_unavailable = (new.spec - new.available).max(0);
    let mut budget = all - min_available - new_unavailable;
    if budget <= 0 {
        return Vec::new();
    }
    let mut targets: Vec<i32> = olds.iter().map(|o| o.spec).collect();
    // Unhealthy old pods first: they cost no availability.
    for (o, t) in olds.iter().zip(targets.iter_mut()) {
        let unhealthy = (*t - o.available).max(0).min(budget);
        *t -= unhealthy;
        budget -= unhealthy;
    }
    let available: i32 = new.available
        + olds
            .iter()
            .zip(&targets)
            .map(|(o, t)| o.available.min(*t))
            .sum::<i32>();
    let mut more = (available - min_available).max(0).min(budget);
    for t in targets.iter_mut() {
        let by = (*t).min(more);
        *t -= by;
        more -= by;
    }
    olds.iter()
        .zip(targets)
        .filter(|(o, t)| o.spec != *t)
        .map(|(o, t)| scale(o, t))
        .collect()
}

/// Recreate: every old ReplicaSet to zero; the new one to `replicas` only
/// once no old pod is left.
pub(super) fn recreate(replicas: i32, new: &RsState, olds: &[RsState]) -> Vec<Scale> {
    let downs: Vec<Scale> = olds
        .iter()
        .filter(|o| o.spec > 0)
        .map(|o| scale(o, 0))
        .collect();
    if !downs.is_empty() {
        return downs;
    }
    if olds.iter().any(|o| o.actual > 0) || new.spec == replicas {
        return Vec::new();
    }
    vec![scale(new, replicas)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(name: &str, spec: i32, available: i32) -> RsState {
        RsState {
            name: name.into(),
            spec,
            actual: spec,
            available,
        }
    }

    #[test]
    fn fresh_deployment_scales_new_to_replicas() {
        assert_eq!(
            rolling(3, 1, 0, &RsState::missing("n"), &[]),
            vec![Scale {
                name: "n".into(),
                from: 0,
                to: 3
            }]
        );
        // Scale down of a steady deployment.
        assert_eq!(
            rolling(2, 1, 0, &st("n", 3, 3), &[]),
            vec![Scale {
                name: "n".into(),
                from: 3,
                to: 2
            }]
        );
        assert!(rolling(3, 1, 0, &st("n", 3, 3), &[]).is_empty());
    }

    #[test]
    fn rolling_update_honours_surge_and_unavailable() {
        // 3 replicas, maxSurge 1, maxUnavailable 0: one new pod first.
        let old = [st("o", 3, 3)];
        assert_eq!(
            rolling(3, 1, 0, &RsState::missing("n"), &old),
            vec![Scale {
                name: "n".into(),
                from: 0,
                to: 1
            }]
        );
        // New pod not yet available: nothing can go.
        assert!(rolling(3, 1, 0, &st("n", 1, 0), &old).is_empty());
        // New pod available: one old pod goes.
        assert_eq!(
            rolling(3, 1, 0, &st("n", 1, 1), &old),
            vec![Scale {
                name: "o".into(),
                from: 3,
                to: 2
            }]
        );
        // Then the new one grows again.
        assert_eq!(
            rolling(3, 1, 0, &st("n", 1, 1), &[st("o", 2, 2)]),
            vec![Scale {
                name: "n".into(),
                from: 1,
                to: 2
            }]
        );
    }

    #[test]
    fn unhealthy_old_pods_are_removed_first_and_availability_kept() {
        // maxSurge 0, maxUnavailable 1: old RS with 3 pods, 1 unavailable.
        let old = [st("o", 3, 2)];
        let s = rolling(3, 0, 1, &st("n", 0, 0), &old);
        assert_eq!(
            s,
            vec![Scale {
                name: "o".into(),
                from: 3,
                to: 2
            }]
        );
        // Two old ReplicaSets: the older one shrinks first.
        let s = rolling(4, 0, 2, &st("n", 0, 0), &[st("a", 2, 2), st("b", 2, 2)]);
        assert_eq!(
            s,
            vec![Scale {
                name: "a".into(),
                from: 2,
                to: 0
            }]
        );
    }

    #[test]
    fn recreate_waits_for_old_pods() {
        let s = recreate(3, &RsState::missing("n"), &[st("o", 3, 3)]);
        assert_eq!(
            s,
            vec![Scale {
                name: "o".into(),
                from: 3,
                to: 0
            }]
        );
        let draining = RsState {
            name: "o".into(),
            spec: 0,
            actual: 2,
            available: 0,
        };
        assert!(recreate(3, &RsState::missing("n"), &[draining]).is_empty());
        let gone = RsState {
            name: "o".into(),
            spec: 0,
            actual: 0,
            available: 0,
        };
        assert_eq!(
            recreate(3, &RsState::missing("n"), &[gone]),
            vec![Scale {
                name: "n".into(),
                from: 0,
                to: 3
            }]
        );
    }
}
