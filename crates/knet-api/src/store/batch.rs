//! Many mutations in one call (deletecollection, emptying a namespace). Each
//! key is decided and staged exactly as [`Store::mutate`] would do it — its
//! own revision, its own event, in order — but many keys are staged per hold
//! of the state lock and the caller waits for the disk once per window rather
//! than once per object, so the commit thread writes them in large durable
//! transactions instead of one transaction per object.

use super::{CommitWait, Key, Mutation, Store, durable, lock};
use crate::status::ApiError;
use serde_json::Value;
use std::collections::VecDeque;

/// Keys decided per hold of the state lock: bounds how long readers and
/// other writers wait behind a large batch.
const CHUNK: usize = 256;

/// Staged changes allowed to wait for the disk before staging pauses:
/// bounds memory and the size of one commit transaction.
const WINDOW: usize = 8192;

impl Store {
    /// Applies `f` to the keys in order, each as [`Store::mutate`] would:
    /// `f(i, current)` decides the fate of `keys[i]` from its current state
    /// (None if absent), and each write gets the next revision and its own
    /// watch event. Returns one `(object, written)` per key once every change
    /// is durable.
    ///
    /// Stops at the first error from `f` or the store. Like kube-apiserver's
    /// deletecollection this is not atomic: changes staged before the error
    /// are still made durable before the error is returned, and keys after it
    /// are left alone. A crash in the middle leaves a prefix of the changes
    /// on disk, each whole.
    pub async fn mutate_each<F>(
        &self,
        keys: &[Key],
        mut f: F,
    ) -> Result<Vec<(Value, bool)>, ApiError>
    where
        F: FnMut(usize, Option<Value>) -> Result<Mutation, ApiError>,
    {
        let mut out = Vec::with_capacity(keys.len());
        let mut waits: VecDeque<CommitWait> = VecDeque::new();
        let mut failed = None;
        for (c, chunk) in keys.chunks(CHUNK).enumerate() {
            {
                let mut st = lock(&self.inner.state);
                for (j, key) in chunk.iter().enumerate() {
                    let i = c * CHUNK + j;
                    match self.stage_locked(&mut st, key, |cur| f(i, cur)) {
                        Ok((v, wait)) => {
                            out.push((v, wait.is_some()));
                            waits.extend(wait);
                        }
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
            }
            self.inner.wake.notify_one();
            if failed.is_some() {
                break;
            }
            while waits.len() > WINDOW {
                if let Some(w) = waits.pop_front() {
                    durable(w).await?;
                }
            }
            tokio::task::yield_now().await;
        }
        for w in waits {
            durable(w).await?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}
