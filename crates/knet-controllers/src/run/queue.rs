//! A work queue of object keys, like client-go's: a key waiting is held
//! once however often it is added, and a key is never processed by two
//! workers at once (added again while processing, it runs once more after).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Debug, Default)]
struct State {
    order: VecDeque<String>,
    waiting: HashSet<String>,
    active: HashSet<String>,
    again: HashSet<String>,
}

/// Deduplicating work queue of `namespace/name` keys.
#[derive(Debug, Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    notify: Notify,
}

impl WorkQueue {
    /// An empty queue, shared.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a key (no-op when it already waits).
    pub fn add(&self, key: impl Into<String>) {
        let key = key.into();
        let mut s = self.lock();
        if s.active.contains(&key) {
            s.again.insert(key);
            return;
        }
        if s.waiting.insert(key.clone()) {
            s.order.push_back(key);
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Adds a key after `delay`.
    pub fn add_after(self: &Arc<Self>, key: String, delay: Duration) {
        let q = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            q.add(key);
        });
    }

    /// Waits for the next key and marks it active; call [`WorkQueue::done`] after.
    pub async fn next(&self) -> String {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.lock();
                if let Some(key) = s.order.pop_front() {
                    s.waiting.remove(&key);
                    s.active.insert(key.clone());
                    if !s.order.is_empty() {
                        self.notify.notify_one();
                    }
                    return key;
                }
            }
            notified.await;
        }
    }

    /// Marks a key finished; re-queues it when it was added meanwhile.
    pub fn done(&self, key: &str) {
        let again = {
            let mut s = self.lock();
            s.active.remove(key);
            s.again.remove(key)
        };
        if again {
            self.add(key.to_string());
        }
    }

    /// Keys waiting (not counting active ones).
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    /// Whether no key waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedups_and_reruns_keys_added_while_active() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        let k = q.next().await;
        assert_eq!(k, "a");
        q.add("a");
        assert_eq!(q.len(), 1, "a is active: held back");
        assert_eq!(q.next().await, "b");
        q.done("b");
        q.done("a");
        assert_eq!(q.next().await, "a");
        q.done("a");
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn add_after_delays() {
        let q = WorkQueue::new();
        q.add_after("x".into(), Duration::from_secs(5));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(q.is_empty());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(q.next().await, "x");
    }
}
