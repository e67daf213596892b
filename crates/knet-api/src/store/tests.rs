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
