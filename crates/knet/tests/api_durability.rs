//! Durability: a burst of concurrent creates, `kill -9` of `knet api` in the
//! middle of it, restart: every create that got a 2xx is there, and
//! resourceVersions keep increasing.

#[path = "api_support/server.rs"]
mod support;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::ApiProc;

async fn client(kubeconfig: &std::path::Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(cfg).expect("client")
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(
        serde_json::json!({"metadata": {"name": name}, "data": {"writer": name}}),
    )
    .expect("cm")
}

fn rv(c: &ConfigMap) -> u64 {
    c.metadata
        .resource_version
        .as_deref()
        .and_then(|s| s.parse().ok())
        .expect("resourceVersion")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut api_proc = ApiProc::start(dir.path());
    let addr = api_proc.addr;
    let c = client(&api_proc.kubeconfig).await;
    let acked: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{w:02}-{i:05}");
                match api.create(&PostParams::default(), &cm(&name)).await {
                    Ok(created) => {
                        acked.lock().expect("lock").insert(name, rv(&created));
                    }
                    Err(_) => return i,
                }
            }
            unreachable!()
        }));
    }
    // Let the burst get going, then crash the server in the middle of it.
    for _ in 0..100 {
        if acked.lock().expect("lock").len() >= 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api_proc.kill9();
    for t in tasks {
        t.await.expect("writer task");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 200,
        "burst too small to mean anything: {}",
        acked.len()
    );
    let max_acked = *acked.values().max().expect("some writes");

    let restarted = ApiProc::start_on(dir.path(), &addr.to_string());
    let c = client(&restarted.kubeconfig).await;
    let api: Api<ConfigMap> = Api::namespaced(c, "default");
    let list = api
        .list(&ListParams::default())
        .await
        .expect("list after restart");
    let stored: BTreeMap<String, &ConfigMap> = list
        .items
        .iter()
        .map(|c| (c.metadata.name.clone().unwrap_or_default(), c))
        .collect();
    for (name, rv_acked) in &acked {
        let got = stored
            .get(name)
            .unwrap_or_else(|| panic!("acknowledged write {name} lost"));
        assert_eq!(rv(got), *rv_acked, "{name} changed revision");
        assert_eq!(got.data.as_ref().and_then(|d| d.get("writer")), Some(name));
    }
    let list_rv: u64 = list
        .metadata
        .resource_version
        .as_deref()
        .and_then(|s| s.parse().ok())
        .expect("list rv");
    assert!(
        list_rv >= max_acked,
        "list rv {list_rv} < acked {max_acked}"
    );
    let after = api
        .create(&PostParams::default(), &cm("after-restart"))
        .await
        .expect("create after restart");
    assert!(
        rv(&after) > list_rv && rv(&after) > max_acked,
        "revisions went backwards: {} <= {max_acked}",
        rv(&after)
    );
    eprintln!(
        "acked {} writes before kill -9; {} stored after restart",
        acked.len(),
        stored.len()
    );
}
