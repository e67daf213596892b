//! Per-Service-port pieces of a table, and applying them to a [`Desired`]
//! incrementally with reference counts, so a change to one Service costs
//! O(its objects), not O(all Services).

use std::collections::BTreeMap;

use super::{Desired, SetDecl};

/// Objects one Service port contributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fragment {
    /// Per-Service sets/maps.
    pub sets: Vec<(String, SetDecl)>,
    /// Chains (shared pick chains appear in many fragments).
    pub chains: Vec<(String, Vec<String>)>,
    /// (set, key, value) elements.
    pub elements: Vec<(String, String, String)>,
}

impl Fragment {
    pub(crate) fn elem(&mut self, set: &str, key: String, value: String) {
        self.elements.push((set.to_string(), key, value));
    }

    pub(crate) fn chain(&mut self, name: String, rules: Vec<String>) {
        self.chains.push((name, rules));
    }

    pub(crate) fn set(&mut self, name: String, decl: SetDecl) {
        self.sets.push((name, decl));
    }
}

/// Values objects had before the first incremental change touched them
/// (`None`: absent); the planner diffs only these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// Sets.
    pub sets: BTreeMap<String, Option<SetDecl>>,
    /// Chains.
    pub chains: BTreeMap<String, Option<Vec<String>>>,
    /// Elements by (set, key).
    pub elements: BTreeMap<(String, String), Option<String>>,
}

fn ref_key(kind: char, a: &str, b: &str) -> String {
    format!("{kind}\u{0}{a}\u{0}{b}")
}

impl Desired {
    fn bump(&mut self, key: String, up: bool) -> u32 {
        let n = self.refs.entry(key.clone()).or_insert(0);
        *n = if up { *n + 1 } else { n.saturating_sub(1) };
        let now = *n;
        if now == 0 {
            self.refs.remove(&key);
        }
        now
    }

    /// Adds a Service port's objects; records prior values in `touched`.
    pub fn add_fragment(&mut self, f: &Fragment, mut touched: Option<&mut Touched>) {
        for (name, decl) in &f.sets {
            if let Some(t) = touched.as_deref_mut() {
                t.sets
                    .entry(name.clone())
                    .or_insert_with(|| self.sets.get(name).cloned());
            }
            self.bump(ref_key('s', name, ""), true);
            self.sets.insert(name.clone(), decl.clone());
        }
        for (name, rules) in &f.chains {
            if let Some(t) = touched.as_deref_mut() {
                t.chains
                    .entry(name.clone())
                    .or_insert_with(|| self.chains.get(name).cloned());
            }
            self.bump(ref_key('c', name, ""), true);
            self.chains.insert(name.clone(), rules.clone());
        }
        for (set, key, value) in &f.elements {
            if let Some(t) = touched.as_deref_mut() {
                let old = || self.elements.get(set).and_then(|m| m.get(key)).cloned();
                t.elements
                    .entry((set.clone(), key.clone()))
                    .or_insert_with(old);
            }
            self.bump(ref_key('e', set, key), true);
            self.elements
                .entry(set.clone())
                .or_default()
                .insert(key.clone(), value.clone());
        }
    }

    /// Removes a Service port's objects (those no other port still holds).
    pub fn remove_fragment(&mut self, f: &Fragment, mut touched: Option<&mut Touched>) {
        for (name, _) in &f.sets {
            if let Some(t) = touched.as_deref_mut() {
                t.sets
                    .entry(name.clone())
                    .or_insert_with(|| self.sets.get(name).cloned());
            }
            if self.bump(ref_key('s', name, ""), false) == 0 {
                self.sets.remove(name);
            }
        }
        for (name, _) in &f.chains {
            if let Some(t) = touched.as_deref_mut() {
                t.chains
                    .entry(name.clone())
                    .or_insert_with(|| self.chains.get(name).cloned());
            }
            if self.bump(ref_key('c', name, ""), false) == 0 {
                self.chains.remove(name);
            }
        }
        for (set, key, _) in &f.elements {
            if let Some(t) = touched.as_deref_mut() {
                let old = || self.elements.get(set).and_then(|m| m.get(key)).cloned();
                t.elements
                    .entry((set.clone(), key.clone()))
                    .or_insert_with(old);
            }
            if self.bump(ref_key('e', set, key), false) == 0
                && let Some(m) = self.elements.get_mut(set)
            {
                m.remove(key);
                if m.is_empty() {
                    self.elements.remove(set);
                }
            }
        }
    }

    /// The touched objects as they were before (`before`) and are now (`after`),
    /// each holding only those objects; `plan::diff(before, after)` is the change.
    pub fn touched_views(&self, t: &Touched) -> (Desired, Desired) {
        let shell = || Desired {
            family: self.family,
            table: self.table.clone(),
            skeleton: self.skeleton.clone(),
            ..Desired::default()
        };
        let (mut before, mut after) = (shell(), shell());
        for (name, old) in &t.sets {
            before.sets.extend(old.clone().map(|d| (name.clone(), d)));
            after
                .sets
                .extend(self.sets.get(name).cloned().map(|d| (name.clone(), d)));
        }
        for (name, old) in &t.chains {
            before.chains.extend(old.clone().map(|r| (name.clone(), r)));
            after
                .chains
                .extend(self.chains.get(name).cloned().map(|r| (name.clone(), r)));
        }
        for ((set, key), old) in &t.elements {
            if let Some(v) = old {
                before
                    .elements
                    .entry(set.clone())
                    .or_default()
                    .insert(key.clone(), v.clone());
            }
            if let Some(v) = self.elements.get(set).and_then(|m| m.get(key)) {
                after
                    .elements
                    .entry(set.clone())
                    .or_default()
                    .insert(key.clone(), v.clone());
            }
        }
        (before, after)
    }
}
