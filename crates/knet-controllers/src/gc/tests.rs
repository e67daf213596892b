use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

fn kind(group: &str, kind: &str, plural: &str, namespaced: bool) -> KindInfo {
    KindInfo {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced,
    }
}

/// A graph knowing Deployments, ConfigMaps, Nodes and Leases.
fn graph() -> (Graph, KindId, KindId, KindId, KindId) {
    let mut g = Graph::default();
    let deploy = g.register(kind("apps", "Deployment", "deployments", true));
    let cm = g.register(kind("", "ConfigMap", "configmaps", true));
    let node = g.register(kind("", "Node", "nodes", false));
    let lease = g.register(kind("coordination.k8s.io", "Lease", "leases", true));
    (g, deploy, cm, node, lease)
}

fn oref(api_version: &str, kind: &str, name: &str, uid: &str, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: None,
        block_owner_deletion: block.then_some(true),
    }
}

fn deploy_ref(name: &str, uid: &str) -> OwnerReference {
    oref("apps/v1", "Deployment", name, uid, true)
}

fn meta(ns: &str, name: &str, uid: &str, owners: Vec<OwnerReference>) -> ObjectMeta {
    ObjectMeta {
        namespace: (!ns.is_empty()).then(|| ns.to_string()),
        name: Some(name.into()),
        uid: Some(uid.into()),
        owner_references: (!owners.is_empty()).then_some(owners),
        ..Default::default()
    }
}

fn deleting(mut m: ObjectMeta, finalizers: &[&str]) -> ObjectMeta {
    m.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
    m.finalizers = Some(finalizers.iter().map(|f| f.to_string()).collect());
    m
}

fn node_of(g: &Graph, uid: &str) -> Node {
    g.node(uid).expect("in graph").clone()
}

fn statuses(g: &Graph, uid: &str) -> Vec<Lookup<'static>> {
    let n = node_of(g, uid);
    n.owners
        .iter()
        .map(|r| match g.resolve(&n, r) {
            Lookup::Known(s) => Lookup::Known(s),
            Lookup::Confirm { kind, namespace } => Lookup::Confirm {
                kind,
                namespace: if namespace.is_empty() { "" } else { "ns" },
            },
        })
        .collect()
}

// === decisions ===

fn dep_node(owners: Vec<OwnerReference>, finalizers: &[&str]) -> Node {
    Node {
        kind: 1,
        namespace: "default".into(),
        name: "d".into(),
        owners,
        deleting: false,
        finalizers: finalizers.iter().map(|f| f.to_string()).collect(),
    }
}

#[test]
fn dependent_with_a_live_owner_only_loses_dead_references() {
    use OwnerStatus::*;
    let n = dep_node(vec![deploy_ref("a", "u1"), deploy_ref("b", "u2")], &[]);
    assert_eq!(
        decide_dependent(&n, &[Dangling, Solid], false),
        DependentAction::Detach(vec!["u1".into()])
    );
    assert_eq!(
        decide_dependent(&n, &[Solid, Waiting], true),
        DependentAction::Detach(vec!["u2".into()])
    );
    assert_eq!(
        decide_dependent(&n, &[Solid, Solid], false),
        DependentAction::Keep
    );
}

#[test]
fn dependent_without_live_owners_is_deleted_with_the_right_policy() {
    use OwnerStatus::*;
    let n = dep_node(vec![deploy_ref("a", "u1"), deploy_ref("b", "u2")], &[]);
    let delete = |p| DependentAction::Delete(p);
    assert_eq!(
        decide_dependent(&n, &[Dangling, Dangling], true),
        delete(Propagation::Background)
    );
    // A waiting owner asks for the foreground, for dependents that have
    // dependents of their own (leaves have nothing to wait for).
    assert_eq!(
        decide_dependent(&n, &[Waiting, Dangling], true),
        delete(Propagation::Foreground)
    );
    assert_eq!(
        decide_dependent(&n, &[Waiting, Dangling], false),
        delete(Propagation::Background)
    );
    // Only dangling owners: the dependent's own finalizers choose.
    let orphaning = dep_node(vec![deploy_ref("a", "u1")], &["orphan"]);
    assert_eq!(
        decide_dependent(&orphaning, &[Dangling], true),
        delete(Propagation::Orphan)
    );
    let fg = dep_node(vec![deploy_ref("a", "u1")], &["foregroundDeletion"]);
    assert_eq!(
        decide_dependent(&fg, &[Dangling], true),
        delete(Propagation::Foreground)
    );
}

#[test]
fn unjudgeable_or_terminating_dependents_are_left_alone() {
    use OwnerStatus::*;
    let n = dep_node(vec![deploy_ref("a", "u1"), deploy_ref("b", "u2")], &[]);
    assert_eq!(
        decide_dependent(&n, &[Dangling, Unresolvable], false),
        DependentAction::Keep
    );
    let mut gone = n.clone();
    gone.deleting = true;
    assert_eq!(
        decide_dependent(&gone, &[Dangling, Dangling], false),
        DependentAction::Keep
    );
    assert_eq!(
        decide_dependent(&dep_node(vec![], &[]), &[], false),
        DependentAction::Keep
    );
}

#[test]
fn orphaning_owner_detaches_every_dependent() {
    let mut owner = dep_node(vec![], &["orphan"]);
    owner.deleting = true;
    let a = dep_node(vec![deploy_ref("o", "own")], &[]);
    let b = dep_node(vec![oref("apps/v1", "Deployment", "o", "own", false)], &[]);
    assert_eq!(
        decide_owner("own", &owner, &[("a", &a), ("b", &b)]),
        OwnerAction::Orphan(vec!["a".into(), "b".into()])
    );
    assert_eq!(
        decide_owner("own", &owner, &[]),
        OwnerAction::Orphan(vec![])
    );
    owner.deleting = false;
    assert_eq!(decide_owner("own", &owner, &[("a", &a)]), OwnerAction::None);
}

#[test]
fn foreground_owner_waits_only_for_blocking_dependents() {
    let mut owner = dep_node(vec![], &["foregroundDeletion", "example.com/x"]);
    owner.deleting = true;
    let blocking = dep_node(vec![deploy_ref("o", "own")], &[]);
    let mut blocking_terminating = blocking.clone();
    blocking_terminating.deleting = true;
    let loose = dep_node(vec![oref("apps/v1", "Deployment", "o", "own", false)], &[]);
    assert_eq!(
        decide_owner("own", &owner, &[("b", &blocking), ("l", &loose)]),
        OwnerAction::Wait(vec!["b".into(), "l".into()])
    );
    assert_eq!(
        decide_owner("own", &owner, &[("b", &blocking_terminating)]),
        OwnerAction::Wait(vec![]),
        "a blocking dependent with a finalizer of its own holds the owner"
    );
    assert_eq!(
        decide_owner("own", &owner, &[("l", &loose)]),
        OwnerAction::Finish
    );
    assert_eq!(decide_owner("own", &owner, &[]), OwnerAction::Finish);
}

#[test]
fn patches_guard_against_a_stale_graph() {
    let owners = vec![deploy_ref("a", "u1"), deploy_ref("b", "u2")];
    let p = detach_patch("me", &owners, &["u1".into()]);
    assert_eq!(
        p,
        json!([
            {"op": "test", "path": "/metadata/uid", "value": "me"},
            {"op": "test", "path": "/metadata/ownerReferences", "value": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "a", "uid": "u1", "blockOwnerDeletion": true},
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "b", "uid": "u2", "blockOwnerDeletion": true}]},
            {"op": "replace", "path": "/metadata/ownerReferences", "value": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "b", "uid": "u2", "blockOwnerDeletion": true}]}
        ])
    );
    let all = detach_patch("me", &owners, &["u1".into(), "u2".into()]);
    assert_eq!(
        all[2],
        json!({"op": "remove", "path": "/metadata/ownerReferences"})
    );
    let f = remove_finalizer_patch("me", &["a".into(), "orphan".into()], "orphan");
    assert_eq!(
        f,
        json!([
            {"op": "test", "path": "/metadata/uid", "value": "me"},
            {"op": "test", "path": "/metadata/finalizers", "value": ["a", "orphan"]},
            {"op": "replace", "path": "/metadata/finalizers", "value": ["a"]}
        ])
    );
    let last = remove_finalizer_patch("me", &["orphan".into()], "orphan");
    assert_eq!(
        last[2],
        json!({"op": "remove", "path": "/metadata/finalizers"})
    );
}

// === graph ===

#[test]
fn owners_are_matched_by_uid_kind_name_and_namespace() {
    let (mut g, deploy, cm, node, lease) = graph();
    g.observe(deploy, &meta("default", "web", "d1", vec![]));
    g.observe(node, &meta("", "node-1", "n1", vec![]));
    g.observe(
        cm,
        &meta(
            "default",
            "ok",
            "c1",
            vec![
                deploy_ref("web", "d1"),
                // Same name, another UID: a recreated owner does not adopt it.
                deploy_ref("web", "old-uid"),
                // A Deployment of that UID exists, but not in this namespace.
                oref("apps/v1", "Deployment", "web", "d1-other-ns", true),
                // A kind the API does not serve.
                oref("example.com/v1", "Widget", "w", "w1", true),
            ],
        ),
    );
    g.observe(deploy, &meta("other", "web", "d1-other-ns", vec![]));
    assert_eq!(
        statuses(&g, "c1"),
        vec![
            Lookup::Known(OwnerStatus::Solid),
            Lookup::Confirm {
                kind: deploy,
                namespace: "ns"
            },
            Lookup::Confirm {
                kind: deploy,
                namespace: "ns"
            },
            Lookup::Known(OwnerStatus::Unresolvable),
        ]
    );
    let c1 = node_of(&g, "c1");
    assert_eq!(
        g.resolve(&c1, &c1.owners[2]),
        Lookup::Confirm {
            kind: deploy,
            namespace: "default"
        },
        "a namespaced owner is looked up in the dependent's namespace"
    );
    // Cluster-scoped owners of namespaced dependents are fine; a
    // cluster-scoped dependent cannot have a namespaced owner.
    g.observe(
        lease,
        &meta(
            "kube-node-lease",
            "node-1",
            "l1",
            vec![oref("v1", "Node", "node-1", "n1", false)],
        ),
    );
    assert_eq!(statuses(&g, "l1"), vec![Lookup::Known(OwnerStatus::Solid)]);
    g.observe(
        node,
        &meta("", "node-2", "n2", vec![deploy_ref("web", "d1")]),
    );
    assert_eq!(
        statuses(&g, "n2"),
        vec![Lookup::Known(OwnerStatus::Dangling)]
    );
    // A reference by another version of the same group and kind resolves.
    g.observe(
        cm,
        &meta(
            "default",
            "beta",
            "c2",
            vec![oref("apps/v1beta2", "Deployment", "web", "d1", true)],
        ),
    );
    assert_eq!(statuses(&g, "c2"), vec![Lookup::Known(OwnerStatus::Solid)]);
}

#[test]
fn no_work_before_the_first_sync_then_exactly_what_needs_a_look() {
    let (mut g, deploy, cm, _, _) = graph();
    assert!(
        g.observe(
            cm,
            &meta("default", "a", "c1", vec![deploy_ref("web", "d1")])
        )
        .is_empty()
    );
    assert!(
        g.observe(
            cm,
            &meta("default", "b", "c2", vec![deploy_ref("gone", "dx")])
        )
        .is_empty()
    );
    assert!(
        g.observe(deploy, &meta("default", "web", "d1", vec![]))
            .is_empty()
    );
    g.observe(
        deploy,
        &deleting(meta("default", "old", "d2", vec![]), &["orphan"]),
    );
    assert_eq!(g.mark_ready(), vec!["c2".to_string(), "d2".into()]);
    // An unchanged object (a status update) gives no work.
    assert!(
        g.observe(
            cm,
            &meta("default", "a", "c1", vec![deploy_ref("web", "d1")])
        )
        .is_empty()
    );
    // A new dependent of a missing owner is looked at.
    assert_eq!(
        g.observe(cm, &meta("default", "c", "c3", vec![deploy_ref("x", "dy")])),
        vec!["c3".to_string()]
    );
}

#[test]
fn deleting_an_owner_queues_its_dependents() {
    let (mut g, deploy, cm, _, _) = graph();
    g.observe(deploy, &meta("default", "web", "d1", vec![]));
    g.observe(deploy, &meta("default", "db", "d2", vec![]));
    g.observe(
        cm,
        &meta("default", "one", "c1", vec![deploy_ref("web", "d1")]),
    );
    g.observe(
        cm,
        &meta(
            "default",
            "two",
            "c2",
            vec![deploy_ref("web", "d1"), deploy_ref("db", "d2")],
        ),
    );
    g.mark_ready();
    assert_eq!(g.dependents("d1").len(), 2);
    assert_eq!(g.forget("d1"), vec!["c1".to_string(), "c2".into()]);
    // Seen deleted: dangling without asking the API (UIDs are not reused).
    assert_eq!(
        statuses(&g, "c2"),
        vec![
            Lookup::Known(OwnerStatus::Dangling),
            Lookup::Known(OwnerStatus::Solid)
        ]
    );
    // The dependents of the gone owner are still found through it.
    assert_eq!(g.dependents("d1").len(), 2);
    assert!(g.forget("d1").is_empty(), "already gone");
    // Detached: no longer a dependent of d1.
    g.observe(
        cm,
        &meta("default", "two", "c2", vec![deploy_ref("db", "d2")]),
    );
    assert_eq!(g.dependents("d1").len(), 1);
    g.forget("c1");
    assert!(g.dependents("d1").is_empty());
    assert!(!g.has_dependents("d1"));
    // Nothing names d1 any more: it is not remembered.
    let late = meta("default", "late", "c3", vec![deploy_ref("web", "d1")]);
    g.observe(cm, &late);
    assert_eq!(
        statuses(&g, "c3"),
        vec![Lookup::Confirm {
            kind: deploy,
            namespace: "ns"
        }]
    );
}

#[test]
fn foreground_owner_is_released_as_dependents_go_or_detach() {
    let (mut g, deploy, cm, _, _) = graph();
    g.observe(deploy, &meta("default", "web", "d1", vec![]));
    g.observe(deploy, &meta("default", "db", "d2", vec![]));
    g.observe(
        cm,
        &meta("default", "a", "c1", vec![deploy_ref("web", "d1")]),
    );
    g.observe(
        cm,
        &meta(
            "default",
            "b",
            "c2",
            vec![deploy_ref("web", "d1"), deploy_ref("db", "d2")],
        ),
    );
    g.mark_ready();
    // Entering foreground deletion: the owner is looked at, and its
    // dependents see a waiting owner.
    assert_eq!(
        g.observe(
            deploy,
            &deleting(
                meta("default", "web", "d1", vec![]),
                &["foregroundDeletion"]
            ),
        ),
        vec!["d1".to_string()]
    );
    assert_eq!(
        statuses(&g, "c2"),
        vec![
            Lookup::Known(OwnerStatus::Waiting),
            Lookup::Known(OwnerStatus::Solid)
        ]
    );
    // c2 detaches from the waiting owner: the owner is looked at again.
    assert_eq!(
        g.observe(
            cm,
            &meta("default", "b", "c2", vec![deploy_ref("db", "d2")])
        ),
        vec!["d1".to_string()]
    );
    // c1 is being deleted (held by a finalizer): no owner work yet …
    assert!(
        g.observe(
            cm,
            &deleting(
                meta("default", "a", "c1", vec![deploy_ref("web", "d1")]),
                &["example.com/hold"]
            ),
        )
        .is_empty()
    );
    // … until it is gone.
    assert_eq!(g.forget("c1"), vec!["d1".to_string()]);
    let d1 = node_of(&g, "d1");
    assert_eq!(
        decide_owner("d1", &d1, &g.dependents("d1")),
        OwnerAction::Finish
    );
}

#[test]
fn resync_forgets_what_the_list_no_longer_has() {
    let (mut g, deploy, cm, _, _) = graph();
    g.observe(deploy, &meta("default", "web", "d1", vec![]));
    g.observe(
        cm,
        &meta("default", "a", "c1", vec![deploy_ref("web", "d1")]),
    );
    g.observe(cm, &meta("default", "x", "c9", vec![]));
    g.mark_ready();
    // The Deployment was deleted while the watch was down.
    assert_eq!(g.resync(deploy, &[]), vec!["c1".to_string()]);
    assert!(g.node("d1").is_none());
    let keep = meta("default", "x", "c9", vec![]);
    let with_owner = meta("default", "a", "c1", vec![deploy_ref("web", "d1")]);
    assert_eq!(g.resync(cm, &[&keep, &with_owner]), Vec::<String>::new());
    assert_eq!(g.len(), 2);
    assert_eq!(g.scan(), vec!["c1".to_string()]);
}
