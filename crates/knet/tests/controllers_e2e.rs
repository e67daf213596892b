//! End-to-end: `knet api` (the real binary) + the controllers + a kubelet
//! double, driven with kubectl and kube-rs, replaying the seeds' workflows.

#[path = "controllers_support/cluster.rs"]
mod support;

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use support::{Cluster, eventually, set_ready};

/// Ready and not-ready `ip:port` of an Endpoints object.
fn ep_addresses(ep: &Endpoints) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut ready = BTreeSet::new();
    let mut not_ready = BTreeSet::new();
    for s in ep.subsets.iter().flatten() {
        let ports: Vec<i32> = s.ports.iter().flatten().map(|p| p.port).collect();
        for (list, out) in [
            (&s.addresses, &mut ready),
            (&s.not_ready_addresses, &mut not_ready),
        ] {
            for a in list.iter().flatten() {
                for p in &ports {
                    out.insert(format!("{}:{p}", a.ip));
                }
            }
        }
    }
    (ready, not_ready)
}

async fn slices_of(
    client: &kube::Client,
    ns: &str,
    svc: &str,
) -> anyhow::Result<Vec<EndpointSlice>> {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    Ok(api
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={svc}")))
        .await?
        .items)
}

async fn pods_with(client: &kube::Client, ns: &str, selector: &str) -> anyhow::Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    Ok(api
        .list(&ListParams::default().labels(selector))
        .await?
        .items)
}

fn pod_ip(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_endpoints_follow_scale_and_readiness() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.kubectl(&[
        "create",
        "deploy",
        "nginx",
        "--image=nginx:1.19",
        "--replicas=3",
    ])?;
    c.kubectl(&["expose", "deploy", "nginx", "--port=80", "--target-port=80"])?;
    let eps: Api<Endpoints> = Api::namespaced(c.client.clone(), "default");
    let ready = eventually("3 ready endpoints", 30, || async {
        let Some(ep) = eps.get_opt("nginx").await? else {
            return Ok(None);
        };
        let (ready, _) = ep_addresses(&ep);
        Ok((ready.len() == 3).then_some(ready))
    })
    .await?;
    let pods = pods_with(&c.client, "default", "app=nginx").await?;
    let want: BTreeSet<String> = pods.iter().map(|p| format!("{}:80", pod_ip(p))).collect();
    assert_eq!(ready, want, "endpoints are the pods' IPs on port 80");
    for p in &pods {
        let name = p.metadata.name.clone().unwrap();
        assert!(
            name.starts_with("nginx-") && name.split('-').count() == 3,
            "pod name {name}"
        );
        assert_ne!(
            p.spec.as_ref().unwrap().node_name.as_deref(),
            Some("node-1"),
            "control-plane node is tainted"
        );
    }
    // kubectl's view: endpoints column and a completed rollout.
    let out = c.kubectl(&["get", "ep", "nginx"])?;
    assert!(want.iter().all(|a| out.contains(a.as_str())), "{out}");
    c.kubectl(&["rollout", "status", "deploy/nginx", "--timeout=30s"])?;
    let slices = slices_of(&c.client, "default", "nginx").await?;
    let slice = slices
        .iter()
        .find(|s| !s.endpoints.is_empty())
        .expect("a slice with endpoints");
    assert_eq!(
        slice.metadata.labels.as_ref().unwrap()["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slice.endpoints.len(), 3);
    assert!(
        slice
            .endpoints
            .iter()
            .all(|e| e.conditions.as_ref().unwrap().ready == Some(true))
    );

    c.kubectl(&["scale", "deploy", "nginx", "--replicas=2"])?;
    eventually("2 endpoints after scale", 30, || async {
        let ep = eps.get("nginx").await?;
        Ok((ep_addresses(&ep).0.len() == 2
            && pods_with(&c.client, "default", "app=nginx").await?.len() == 2)
            .then_some(()))
    })
    .await?;

    let victim = pods_with(&c.client, "default", "app=nginx")
        .await?
        .remove(0);
    let (vname, vip) = (victim.metadata.name.clone().unwrap(), pod_ip(&victim));
    set_ready(&c.client, "default", &vname, false).await?;
    eventually(
        "unready pod in notReadyAddresses and ready=false in slice",
        30,
        || async {
            let (ready, not_ready) = ep_addresses(&eps.get("nginx").await?);
            let slices = slices_of(&c.client, "default", "nginx").await?;
            let in_slice = slices
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .find(|e| e.addresses[0] == vip);
            let slice_unready =
                in_slice.is_some_and(|e| e.conditions.as_ref().unwrap().ready == Some(false));
            Ok(
                (not_ready.contains(&format!("{vip}:80")) && ready.len() == 1 && slice_unready)
                    .then_some(()),
            )
        },
    )
    .await?;
    let d: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    eventually("deployment status 1/2 ready", 30, || async {
        let st = d.get("nginx").await?.status.unwrap_or_default();
        Ok((st.ready_replicas == Some(1) && st.replicas == Some(2)).then_some(()))
    })
    .await?;

    // Nodes got distinct pod CIDRs from 10.244.0.0/16.
    let nodes: Api<Node> = Api::all(c.client.clone());
    let cidrs: BTreeSet<String> = nodes
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter_map(|n| n.spec.as_ref()?.pod_cidr.clone())
        .collect();
    assert_eq!(cidrs.len(), 3, "{cidrs:?}");
    assert!(
        cidrs
            .iter()
            .all(|c| c.starts_with("10.244.") && c.ends_with("/24"))
    );
    // Events for kubectl describe.
    let events = c.kubectl(&["get", "events", "-o", "jsonpath={.items[*].reason}"])?;
    for reason in [
        "ScalingReplicaSet",
        "SuccessfulCreate",
        "SuccessfulDelete",
        "Scheduled",
    ] {
        assert!(events.contains(reason), "missing {reason} in {events}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_target_port_resolves_per_pod() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "sample-deployment"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "sample-app"}},
            "template": {"metadata": {"labels": {"app": "sample-app"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.19", "ports": [{"name": "http", "containerPort": 80}]}]}}}
    }))?;
    Api::<Deployment>::namespaced(c.client.clone(), "default")
        .create(&PostParams::default(), &d)
        .await?;
    // A pod with the label but without the named port: left out.
    let stray: Pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stray", "labels": {"app": "sample-app"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))?;
    Api::<Pod>::namespaced(c.client.clone(), "default")
        .create(&PostParams::default(), &stray)
        .await?;
    let svc: Service = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "sample-clusterip"},
        "spec": {"type": "ClusterIP", "selector": {"app": "sample-app"},
            "ports": [{"name": "http-port", "protocol": "TCP", "port": 8080, "targetPort": "http"}]}}))?;
    Api::<Service>::namespaced(c.client.clone(), "default")
        .create(&PostParams::default(), &svc)
        .await?;
    let eps: Api<Endpoints> = Api::namespaced(c.client.clone(), "default");
    let ready = eventually("3 endpoints on :80", 30, || async {
        let stray_ip = pods_with(&c.client, "default", "app=sample-app")
            .await?
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some("stray"))
            .map(pod_ip)
            .unwrap_or_default();
        let Some(ep) = eps.get_opt("sample-clusterip").await? else {
            return Ok(None);
        };
        let (ready, _) = ep_addresses(&ep);
        Ok((ready.len() == 3 && !stray_ip.is_empty()).then_some((ready, stray_ip, ep)))
    })
    .await?;
    let (addrs, stray_ip, ep) = ready;
    assert!(addrs.iter().all(|a| a.ends_with(":80")), "{addrs:?}");
    assert!(
        !addrs.iter().any(|a| a.starts_with(&format!("{stray_ip}:"))),
        "stray pod lacks the named port"
    );
    assert_eq!(
        ep.subsets.unwrap()[0].ports.as_ref().unwrap()[0]
            .name
            .as_deref(),
        Some("http-port")
    );
    // The EndpointSlice controller writes independently of the Endpoints
    // one: wait for its slice to hold the same three pods.
    let with_port = eventually("a slice with ports and 3 endpoints", 30, || async {
        let slices = slices_of(&c.client, "default", "sample-clusterip").await?;
        Ok(slices
            .into_iter()
            .find(|s| s.ports.as_ref().is_some_and(|p| !p.is_empty()))
            .filter(|s| s.endpoints.len() == 3))
    })
    .await?;
    assert_eq!(with_port.ports.as_ref().unwrap()[0].port, Some(80));
    assert_eq!(with_port.endpoints.len(), 3);
    // kubectl describe reads the slices; it lists three endpoints then "+ N more".
    let describe = c.kubectl(&["describe", "service", "sample-clusterip"])?;
    assert!(
        describe.contains("http-port") && describe.contains("http/TCP"),
        "{describe}"
    );
    assert!(
        addrs.iter().any(|a| describe.contains(a.as_str())),
        "{describe}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_pods_start_in_order_with_hostnames() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let manifest = r#"
apiVersion: v1
kind: Service
metadata:
  name: my-nginx-svc
spec:
  clusterIP: None
  selector:
    app: my-nginx
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: my-nginx
spec:
  serviceName: my-nginx-svc
  replicas: 3
  selector:
    matchLabels:
      app: my-nginx
  template:
    metadata:
      labels:
        app: my-nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.19
        ports:
        - containerPort: 80
"#;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("sts.yaml");
    std::fs::write(&file, manifest)?;
    c.kubectl(&["apply", "-f", file.to_str().unwrap()])?;
    let hostnames = eventually("3 slice endpoints with hostnames", 40, || async {
        let slices = slices_of(&c.client, "default", "my-nginx-svc").await?;
        let hosts: BTreeSet<String> = slices
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .filter_map(|e| e.hostname.clone())
            .collect();
        Ok((hosts.len() == 3).then_some(hosts))
    })
    .await?;
    assert_eq!(
        hostnames,
        ["my-nginx-0", "my-nginx-1", "my-nginx-2"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    let started: Vec<String> = c
        .agent
        .started
        .lock()
        .unwrap()
        .iter()
        .filter(|k| k.contains("my-nginx"))
        .cloned()
        .collect();
    assert_eq!(
        started,
        vec![
            "default/my-nginx-0",
            "default/my-nginx-1",
            "default/my-nginx-2"
        ],
        "OrderedReady"
    );
    let p1 = Api::<Pod>::namespaced(c.client.clone(), "default")
        .get("my-nginx-1")
        .await?;
    let spec = p1.spec.unwrap();
    assert_eq!(
        (spec.hostname.as_deref(), spec.subdomain.as_deref()),
        (Some("my-nginx-1"), Some("my-nginx-svc"))
    );
    let ep = Api::<Endpoints>::namespaced(c.client.clone(), "default")
        .get("my-nginx-svc")
        .await?;
    let hosts: BTreeSet<String> = ep
        .subsets
        .iter()
        .flatten()
        .flat_map(|s| s.addresses.iter().flatten())
        .filter_map(|a| a.hostname.clone())
        .collect();
    assert_eq!(hosts.len(), 3);
    // Ordered scale-down: highest ordinal goes.
    c.kubectl(&["scale", "statefulset", "my-nginx", "--replicas=2"])?;
    eventually("my-nginx-2 removed", 30, || async {
        let names: BTreeSet<String> = pods_with(&c.client, "default", "app=my-nginx")
            .await?
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        Ok((names
            == ["my-nginx-0", "my-nginx-1"]
                .map(String::from)
                .into_iter()
                .collect())
        .then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectorless_service_endpoints_are_mirrored() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let svc: Service = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "external"}, "spec": {"ports": [{"port": 80, "protocol": "TCP"}]}}))?;
    Api::<Service>::namespaced(c.client.clone(), "default")
        .create(&PostParams::default(), &svc)
        .await?;
    let ep: Endpoints = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "external"},
        "subsets": [{"addresses": [{"ip": "202.232.2.180"}], "ports": [{"port": 80, "protocol": "TCP"}]}]}))?;
    Api::<Endpoints>::namespaced(c.client.clone(), "default")
        .create(&PostParams::default(), &ep)
        .await?;
    let slice = eventually("mirrored slice", 30, || async {
        let s = slices_of(&c.client, "default", "external").await?;
        Ok(s.into_iter().find(|s| !s.endpoints.is_empty()))
    })
    .await?;
    assert_eq!(slice.endpoints[0].addresses, vec!["202.232.2.180"]);
    assert_eq!(
        slice.metadata.labels.as_ref().unwrap()["endpointslice.kubernetes.io/managed-by"],
        "endpointslicemirroring-controller.k8s.io"
    );
    assert_eq!(slice.ports.as_ref().unwrap()[0].port, Some(80));
    // The hand-written Endpoints are left as written.
    let kept = Api::<Endpoints>::namespaced(c.client.clone(), "default")
        .get("external")
        .await?;
    assert_eq!(
        kept.subsets.unwrap()[0].addresses.as_ref().unwrap()[0].ip,
        "202.232.2.180"
    );
    // The kubernetes Service points at the API server.
    let k = eventually("kubernetes endpoints", 30, || async {
        let e = Api::<Endpoints>::namespaced(c.client.clone(), "default")
            .get_opt("kubernetes")
            .await?;
        Ok(e.filter(|e| e.subsets.is_some()))
    })
    .await?;
    assert_eq!(
        k.subsets.unwrap()[0].addresses.as_ref().unwrap()[0].ip,
        "127.0.0.1"
    );
    Ok(())
}

/// Seed 002: `kubectl delete svc` of a selector-less Service removes its
/// hand-written Endpoints (and so their mirrored slices), as
/// kube-controller-manager's endpoints controller does; Endpoints written
/// before any Service of their name are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_selectorless_service_deletes_its_endpoints() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    let eps: Api<Endpoints> = Api::namespaced(c.client.clone(), "default");
    for name in ["nginx", "lonely"] {
        let ep: Endpoints = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name},
            "subsets": [{"addresses": [{"ip": "202.232.2.180"}], "ports": [{"port": 80, "protocol": "TCP"}]}]}),
        )?;
        eps.create(&PostParams::default(), &ep).await?;
    }
    let svc: Service = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "nginx"}, "spec": {"ports": [{"port": 80, "protocol": "TCP"}]}}))?;
    Api::<Service>::namespaced(c.client.clone(), "default")
        .create(&PostParams::default(), &svc)
        .await?;
    eventually("mirrored slice", 30, || async {
        let s = slices_of(&c.client, "default", "nginx").await?;
        Ok(s.into_iter().find(|s| !s.endpoints.is_empty()))
    })
    .await?;
    // While the Service exists its hand-written Endpoints stay as written.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let kept = eps.get("nginx").await?;
    assert_eq!(
        kept.subsets.unwrap()[0].addresses.as_ref().unwrap()[0].ip,
        "202.232.2.180"
    );
    c.kubectl(&["delete", "svc", "nginx"])?;
    eventually("Endpoints and mirrored slices gone", 10, || async {
        let ep = eps.get_opt("nginx").await?;
        let slices = slices_of(&c.client, "default", "nginx").await?;
        Ok((ep.is_none() && slices.is_empty()).then_some(()))
    })
    .await?;
    // Endpoints whose Service never existed are not the controller's to remove.
    assert!(
        eps.get_opt("lonely").await?.is_some(),
        "Endpoints without a Service were deleted"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_owners_and_namespaces_cleans_up() -> anyhow::Result<()> {
    let c = Cluster::start().await?;
    c.kubectl(&[
        "create",
        "deploy",
        "web",
        "--image=nginx:1.19",
        "--replicas=2",
    ])?;
    c.kubectl(&["create", "namespace", "scratch"])?;
    c.kubectl(&[
        "-n",
        "scratch",
        "create",
        "deploy",
        "tmp",
        "--image=nginx:1.19",
        "--replicas=2",
    ])?;
    eventually("pods running in both namespaces", 30, || async {
        let a = pods_with(&c.client, "default", "app=web").await?;
        let b = pods_with(&c.client, "scratch", "app=tmp").await?;
        Ok(
            (a.len() == 2 && b.len() == 2 && a.iter().chain(&b).all(|p| !pod_ip(p).is_empty()))
                .then_some(()),
        )
    })
    .await?;
    c.kubectl(&["delete", "deploy", "web"])?;
    let rs: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    eventually("ReplicaSet and pods garbage collected", 30, || async {
        let sets = rs
            .list(&ListParams::default().labels("app=web"))
            .await?
            .items;
        let pods = pods_with(&c.client, "default", "app=web").await?;
        Ok((sets.is_empty() && pods.is_empty()).then_some(()))
    })
    .await?;
    c.kubectl(&["delete", "namespace", "scratch"])?;
    eventually("namespace emptied and gone", 30, || async {
        let pods = pods_with(&c.client, "scratch", "app=tmp").await?;
        let gone = c.kubectl(&[
            "get",
            "namespaces",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])?;
        Ok((pods.is_empty() && !gone.split_whitespace().any(|n| n == "scratch")).then_some(()))
    })
    .await?;
    Ok(())
}
