use super::*;
use serde_json::json;

fn put(v: Value) -> impl FnOnce(Option<Value>) -> Result<Mutation, ApiError> {
    move |_| Ok(Mutation::Put(v))
}

fn rv_of(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn writes_survive_restart_and_revisions_keep_growing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig::new(dir.path().join("db.redb"));
    let k1 = Key::new("", "pods", "default", "a");
    let k2 = Key::new("apps", "deployments", "default", "b");
    let last = {
        let s = Store::open(&cfg).unwrap();
        let (a, wrote) = s
            .mutate(&k1, put(json!({"metadata":{"name":"a"}})))
            .await
            .unwrap();
        assert!(wrote);
        let (b, _) = s
            .mutate(&k2, put(json!({"metadata":{"name":"b"}})))
            .await
            .unwrap();
        assert!(rv_of(&b) > rv_of(&a));
        let (d, _) = s.mutate(&k1, |_| Ok(Mutation::Delete)).await.unwrap();
        s.shutdown();
        rv_of(&d)
    };
    let s = Store::open(&cfg).unwrap();
    assert_eq!(s.revision(), last);
    assert!(s.get(&k1).is_none());
    assert_eq!(s.get(&k2).unwrap()["metadata"]["name"], "b");
    let (c, _) = s
        .mutate(&k1, put(json!({"metadata":{"name":"a"}})))
        .await
        .unwrap();
    assert_eq!(rv_of(&c), last + 1);
    // History survives too: a watch from 0 replays all four changes.
    let (backlog, _) = s.watch_from(0).unwrap();
    let kinds: Vec<_> = backlog.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventType::Added,
            EventType::Added,
            EventType::Deleted,
            EventType::Added
        ]
    );
}

#[tokio::test]
async fn old_revisions_expire_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path().join("db.redb"));
    cfg.history = 5;
    let s = Store::open(&cfg).unwrap();
    for i in 0..20 {
        let k = Key::new("", "configmaps", "default", &format!("c{i}"));
        s.mutate(&k, put(json!({"metadata":{"name":format!("c{i}")}})))
            .await
            .unwrap();
    }
    let err = s.watch_from(3).unwrap_err();
    assert_eq!(err.code, 410);
    let (backlog, _) = s.watch_from(16).unwrap();
    assert_eq!(
        backlog.iter().map(|e| e.rv).collect::<Vec<_>>(),
        [17, 18, 19, 20]
    );
}

#[tokio::test]
async fn concurrent_writes_are_all_acknowledged_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&StoreConfig::new(dir.path().join("db.redb"))).unwrap();
    let (_, mut rx) = s.watch_from(0).unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let k = Key::new("", "configmaps", "default", &format!("c{i}"));
                s.mutate(&k, put(json!({"metadata":{"name":format!("c{i}")}})))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(s.len(), 200);
    let mut prev = 0;
    for _ in 0..200 {
        let e = rx.recv().await.unwrap();
        assert!(e.rv > prev, "events out of order");
        prev = e.rv;
    }
    let (items, rv) = s.list_raw(&Key::prefix("", "configmaps", Some("default")));
    assert_eq!((items.len(), rv), (200, 200));
}

#[tokio::test]
async fn keep_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&StoreConfig::new(dir.path().join("db.redb"))).unwrap();
    let k = Key::new("", "pods", "default", "x");
    let (_, wrote) = s
        .mutate(&k, |_| Ok(Mutation::Keep(json!({}))))
        .await
        .unwrap();
    assert!(!wrote);
    assert_eq!(s.revision(), 0);
    let err = s
        .mutate(&k, |cur| {
            assert!(cur.is_none());
            Err(ApiError::not_found("", "pods", "x"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, 404);
}

#[tokio::test]
async fn pages_read_a_consistent_snapshot_until_it_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path().join("db.redb"));
    cfg.history = 8;
    let s = Store::open(&cfg).unwrap();
    let prefix = Key::prefix("", "configmaps", Some("default"));
    for n in ["a", "b", "c", "d"] {
        s.mutate(
            &Key::new("", "configmaps", "default", n),
            put(json!({"metadata":{"name": n}})),
        )
        .await
        .unwrap();
    }
    let first = s.list_page(&prefix, "", None, 2, true).unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.remaining, 2);
    let at = first.rv;
    // Changes after the first page do not show in the next one.
    s.mutate(&Key::new("", "configmaps", "default", "c"), |_| {
        Ok(Mutation::Delete)
    })
    .await
    .unwrap();
    s.mutate(
        &Key::new("", "configmaps", "default", "bb"),
        put(json!({"metadata":{"name": "bb"}})),
    )
    .await
    .unwrap();
    let resume = format!("{}\0", first.items[1].0);
    let second = s.list_page(&prefix, &resume, Some(at), 10, true).unwrap();
    let names: Vec<&str> = second.items.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["core/configmaps/default/c", "core/configmaps/default/d"]
    );
    assert_eq!((second.remaining, second.rv), (0, at));
    // Once the history no longer reaches back to the snapshot: 410.
    for i in 0..8 {
        s.mutate(
            &Key::new("", "configmaps", "other", &format!("x{i}")),
            put(json!({"metadata":{"name": "x"}})),
        )
        .await
        .unwrap();
    }
    let e = s
        .list_page(&prefix, &resume, Some(at), 10, true)
        .unwrap_err();
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
    let now = s.list_page(&prefix, &resume, None, 10, true).unwrap();
    assert_eq!(
        now.items.len(),
        2,
        "at the latest revision: bb and d (c is gone)"
    );
}

fn cm_key(i: usize) -> Key {
    Key::new("", "configmaps", "default", &format!("c{i:05}"))
}

/// A store holding `n` configmaps `c00000…`, and its revision.
async fn filled(path: &std::path::Path, n: usize) -> (Store, u64) {
    let s = Store::open(&StoreConfig::new(path)).unwrap();
    let keys: Vec<Key> = (0..n).map(cm_key).collect();
    s.mutate_each(&keys, |i, _| {
        Ok(Mutation::Put(
            json!({"metadata":{"name": format!("c{i:05}")}, "data": {"i": i.to_string()}}),
        ))
    })
    .await
    .unwrap();
    let rv = s.revision();
    (s, rv)
}

#[tokio::test]
async fn mutate_each_writes_one_event_per_change_in_order_and_durably() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let (s, start) = filled(&path, 1000).await;
    assert_eq!(start, 1000);
    let (_, mut rx) = s.watch_from(start).unwrap();
    let mut keys: Vec<Key> = (0..1000).map(cm_key).collect();
    keys.push(Key::new("", "configmaps", "default", "absent"));
    // Even: delete; multiple of 3 (odd): mark; others: keep; absent: keep.
    let out = s
        .mutate_each(&keys, |i, cur| {
            let Some(mut cur) = cur else {
                return Ok(Mutation::Keep(Value::Null));
            };
            Ok(if i % 2 == 0 {
                Mutation::Delete
            } else if i % 3 == 0 {
                cur["metadata"]["deletionTimestamp"] = json!("now");
                Mutation::Put(cur)
            } else {
                Mutation::Keep(cur)
            })
        })
        .await
        .unwrap();
    assert_eq!(out.len(), 1001);
    let written: Vec<usize> = (0..1000).filter(|i| i % 2 == 0 || i % 3 == 0).collect();
    assert_eq!(out.iter().filter(|(_, w)| *w).count(), written.len());
    assert!(!out[1000].1, "the absent key writes nothing");
    for (n, i) in written.iter().enumerate() {
        let e = rx.recv().await.unwrap();
        assert_eq!(
            e.rv,
            start + 1 + n as u64,
            "one revision per change, in order"
        );
        assert_eq!(e.key, cm_key(*i).as_str());
        let want = if i % 2 == 0 {
            EventType::Deleted
        } else {
            EventType::Modified
        };
        assert_eq!(e.kind, want);
        assert_eq!(rv_of(&out[*i].0), e.rv);
    }
    assert!(rx.is_empty(), "no other events");
    s.shutdown();
    let s = Store::open(&StoreConfig::new(&path)).unwrap();
    assert_eq!(s.revision(), start + written.len() as u64);
    assert_eq!(s.len(), 500);
    assert!(s.get(&cm_key(2)).is_none());
    assert_eq!(
        s.get(&cm_key(3)).unwrap()["metadata"]["deletionTimestamp"],
        "now"
    );
    assert!(s.get(&cm_key(5)).unwrap()["metadata"]["deletionTimestamp"].is_null());
}

#[tokio::test]
async fn mutate_each_stops_at_the_first_error_after_making_earlier_changes_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let (s, start) = filled(&path, 600).await;
    let keys: Vec<Key> = (0..600).map(cm_key).collect();
    let mut seen = 0;
    let err = s
        .mutate_each(&keys, |i, _| {
            seen += 1;
            if i == 300 {
                return Err(ApiError::conflict("", "configmaps", "c00300"));
            }
            Ok(Mutation::Delete)
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, 409);
    assert_eq!(seen, 301, "keys after the failing one are not looked at");
    s.shutdown();
    let s = Store::open(&StoreConfig::new(&path)).unwrap();
    assert_eq!(s.revision(), start + 300);
    assert_eq!(s.len(), 300);
    assert!(s.get(&cm_key(299)).is_none());
    assert!(s.get(&cm_key(300)).is_some());
}

const CHILD_DB: &str = "KNET_STORE_BATCH_CHILD_DB";

/// The child side of [`killed_batch_leaves_a_whole_prefix_of_deletes`]
/// (the same test, re-run in a child process with [`CHILD_DB`] set): deletes
/// every configmap in one `mutate_each`, saying "go" once the first deletes
/// are committed, and is killed by the parent.
async fn batch_child_deletes_until_killed(path: String) {
    use std::io::Write;
    let s = Store::open(&StoreConfig::new(path)).unwrap();
    let (keys, from): (Vec<Key>, u64) = {
        let (items, rv) = s.list_raw(&Key::prefix("", "configmaps", Some("default")));
        let keys = (0..items.len()).map(cm_key).collect();
        (keys, rv)
    };
    let (_, mut rx) = s.watch_from(from).unwrap();
    tokio::spawn(async move {
        let _ = rx.recv().await;
        let mut out = std::io::stdout();
        let _ = out.write_all(b"\ngo\n");
        let _ = out.flush();
    });
    s.mutate_each(&keys, |_, _| Ok(Mutation::Delete))
        .await
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn killed_batch_leaves_a_whole_prefix_of_deletes() {
    use std::io::BufRead;
    if let Ok(path) = std::env::var(CHILD_DB) {
        return batch_child_deletes_until_killed(path).await;
    }
    const N: usize = 40_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let (s, start) = filled(&path, N).await;
    let originals: Vec<Arc<[u8]>> = s
        .list_raw(&Key::prefix("", "configmaps", Some("default")))
        .0;
    s.shutdown();
    drop(s);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "store::tests::killed_batch_leaves_a_whole_prefix_of_deletes",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_DB, &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let go = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l == "go");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(go, "the child committed some deletes before it was killed");
    let s = Store::open(&StoreConfig::new(&path)).unwrap();
    let left = s
        .list_raw(&Key::prefix("", "configmaps", Some("default")))
        .0;
    let deleted = N - left.len();
    eprintln!("killed after {deleted} of {N} deletes were durable");
    assert!(deleted > 0);
    assert_eq!(
        s.revision(),
        start + deleted as u64,
        "the revision counts exactly the durable deletes"
    );
    assert_eq!(
        left[..],
        originals[deleted..],
        "the deleted ones are a prefix; every other object is intact"
    );
    let from = s.revision().saturating_sub(10_000).max(start);
    let (log, _) = s.watch_from(from).unwrap();
    assert_eq!(
        log.len(),
        deleted.min(10_000),
        "one logged event per delete"
    );
    assert!(log.iter().all(|e| e.kind == EventType::Deleted));
}
