//! Guards against acting on a stale store: the informer's store lags the
//! writes a controller just made, so a controller that created a pod or a
//! slice must not conclude a moment later that it is missing and create it
//! again. Like upstream's expectations and EndpointSlice tracker.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an expectation holds before it is assumed lost.
pub(crate) const EXPECTATION_TTL: Duration = Duration::from_secs(30);

/// One write the store should soon reflect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The object exists with at least this resourceVersion.
    Present(Option<String>),
    /// The object is gone (or being deleted).
    Absent,
}

/// Per controller key: when last written, and object name → expectation.
type Pending = HashMap<String, (Instant, HashMap<String, Expect>)>;

/// Per controller key: objects (by name) written and what the store should show.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    inner: Mutex<Pending>,
}

/// Whether a store resourceVersion is at least the one written. Versions
/// are compared as numbers when both are (etcd's and knet's are), else by
/// equality.
pub(crate) fn rv_at_least(store: Option<&str>, written: Option<&str>) -> bool {
    match (store, written) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(s), Some(w)) => match (s.parse::<u64>(), w.parse::<u64>()) {
            (Ok(s), Ok(w)) => s >= w,
            _ => s == w,
        },
    }
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that `name` under `key` was written.
    pub(crate) fn expect(&self, key: &str, name: String, e: Expect) {
        let mut m = self.lock();
        let entry = m
            .entry(key.to_string())
            .or_insert_with(|| (Instant::now(), HashMap::new()));
        entry.0 = Instant::now();
        entry.1.insert(name, e);
    }

    /// Whether the store (queried through `observe`: name → Some(rv) when
    /// present and not deleting) has caught up with every write under `key`.
    /// Satisfied entries are dropped.
    pub(crate) fn satisfied(
        &self,
        key: &str,
        observe: impl Fn(&str) -> Option<Option<String>>,
    ) -> bool {
        let mut m = self.lock();
        let Some((at, names)) = m.get_mut(key) else {
            return true;
        };
        if at.elapsed() > EXPECTATION_TTL {
            m.remove(key);
            return true;
        }
        names.retain(|name, e| {
            let seen = observe(name);
            let met = match e {
                Expect::Present(rv) => seen
                    .as_ref()
                    .is_some_and(|s| rv_at_least(s.as_deref(), rv.as_deref())),
                Expect::Absent => seen.is_none(),
            };
            !met
        });
        let done = names.is_empty();
        if done {
            m.remove(key);
        }
        done
    }

    /// Forgets everything under `key` (the owner is gone).
    pub(crate) fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_created_and_deleted_objects() {
        let t = Tracker::default();
        assert!(t.satisfied("k", |_| None));
        t.expect("k", "a".into(), Expect::Present(Some("10".into())));
        t.expect("k", "b".into(), Expect::Absent);
        let older = |n: &str| Some(Some(if n == "a" { "9" } else { "1" }.to_string()));
        assert!(
            !t.satisfied("k", older),
            "a seen at an older rv, b still present"
        );
        assert!(
            !t.satisfied("k", |_| Some(Some("10".into()))),
            "a met, b still present"
        );
        assert!(t.satisfied("k", |_| None), "b gone: all met");
        assert!(
            t.satisfied("k", |_| Some(Some("1".into()))),
            "entries dropped once met"
        );
    }

    #[test]
    fn resource_versions_compare_numerically() {
        assert!(rv_at_least(Some("100"), Some("99")));
        assert!(!rv_at_least(Some("99"), Some("100")));
        assert!(rv_at_least(Some("abc"), Some("abc")));
        assert!(!rv_at_least(None, Some("1")));
        assert!(rv_at_least(None, None));
    }
}
