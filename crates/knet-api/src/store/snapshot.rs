//! Reading a key range as it was at an earlier revision: the current objects
//! with the changes made since undone from the undo log (each entry holds the
//! value a write replaced). Pure; the store calls it under its lock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// What one write replaced: the key's value before revision `rv` (None when
/// the write created it).
#[derive(Debug, Clone)]
pub(crate) struct Undo {
    pub(crate) rv: u64,
    pub(crate) key: String,
    pub(crate) prev: Option<Arc<[u8]>>,
}

/// Keys and object JSON, in key order.
pub type Items = Vec<(String, Arc<[u8]>)>;

/// The live objects by key, with the revision of each.
pub(crate) type Objects = BTreeMap<String, (u64, Arc<[u8]>)>;

/// One page of a range read.
#[derive(Debug, Default)]
pub struct Page {
    /// Keys and object JSON, in key order.
    pub items: Items,
    /// How many objects of the snapshot follow the page.
    pub remaining: usize,
    /// The revision the page reflects.
    pub rv: u64,
}

/// Keys of `prefix` from `start` (inclusive) as they were at revision `at`,
/// given the current `objects` and the `undo` entries (oldest first) of every
/// write after `at` still retained. At most `max` items; with `count`, also
/// the number of the rest, else only whether there is any (0 or 1).
pub(crate) fn range_at(
    objects: &Objects,
    undo: &VecDeque<Undo>,
    prefix: &str,
    start: &str,
    at: u64,
    max: usize,
    count: bool,
) -> (Items, usize) {
    let lo = if start > prefix { start } else { prefix };
    let in_range = |k: &str| k >= lo && k.starts_with(prefix);
    // Newest first, so the last write seen per key (the oldest after `at`)
    // decides: its `prev` is the value at `at`.
    let mut overrides: BTreeMap<&str, Option<&Arc<[u8]>>> = BTreeMap::new();
    for u in undo.iter().rev().take_while(|u| u.rv > at) {
        if in_range(&u.key) {
            overrides.insert(u.key.as_str(), u.prev.as_ref());
        }
    }
    let current = objects
        .range::<str, _>((std::ops::Bound::Included(lo), std::ops::Bound::Unbounded))
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, (_, j))| (k.as_str(), j));
    let mut merged = Merge {
        cur: current.peekable(),
        ov: overrides.into_iter().peekable(),
    };
    let items: Items = merged
        .by_ref()
        .take(max)
        .map(|(k, j)| (k.to_string(), j.clone()))
        .collect();
    let remaining = if count {
        merged.count()
    } else {
        usize::from(merged.next().is_some())
    };
    (items, remaining)
}

/// Merges the current key order with the overrides (a `None` override hides
/// the key, a `Some` one replaces or restores it).
struct Merge<'a, C, O>
where
    C: Iterator<Item = (&'a str, &'a Arc<[u8]>)>,
    O: Iterator<Item = (&'a str, Option<&'a Arc<[u8]>>)>,
{
    cur: std::iter::Peekable<C>,
    ov: std::iter::Peekable<O>,
}

impl<'a, C, O> Iterator for Merge<'a, C, O>
where
    C: Iterator<Item = (&'a str, &'a Arc<[u8]>)>,
    O: Iterator<Item = (&'a str, Option<&'a Arc<[u8]>>)>,
{
    type Item = (&'a str, &'a Arc<[u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let take_override = match (self.cur.peek(), self.ov.peek()) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((ck, _)), Some((ok, _))) => {
                    if ck == ok {
                        self.cur.next();
                        true
                    } else {
                        ok < ck
                    }
                }
            };
            if take_override {
                if let Some((k, Some(v))) = self.ov.next() {
                    return Some((k, v));
                }
            } else {
                return self.cur.next();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arc(s: &str) -> Arc<[u8]> {
        Arc::from(s.as_bytes())
    }

    /// Applies writes (rv, key, new value) to a map while logging undo entries.
    fn history(writes: &[(u64, &str, Option<&str>)]) -> (Objects, VecDeque<Undo>) {
        let mut objects = BTreeMap::new();
        let mut undo = VecDeque::new();
        for (rv, key, val) in writes {
            let prev = objects.get(*key).map(|(_, j): &(u64, Arc<[u8]>)| j.clone());
            undo.push_back(Undo {
                rv: *rv,
                key: key.to_string(),
                prev,
            });
            match val {
                Some(v) => {
                    objects.insert(key.to_string(), (*rv, arc(v)));
                }
                None => {
                    objects.remove(*key);
                }
            }
        }
        (objects, undo)
    }

    fn strs(items: &Items) -> Vec<String> {
        items
            .iter()
            .map(|(k, v)| format!("{k}={}", std::str::from_utf8(v).unwrap()))
            .collect()
    }

    #[test]
    fn current_revision_is_the_plain_range() {
        let (o, u) = history(&[
            (1, "p/a", Some("a1")),
            (2, "p/b", Some("b1")),
            (3, "q/c", Some("c")),
        ]);
        let (items, rest) = range_at(&o, &u, "p/", "", 3, 10, true);
        assert_eq!(strs(&items), ["p/a=a1", "p/b=b1"]);
        assert_eq!(rest, 0);
        let (items, rest) = range_at(&o, &u, "p/", "", 3, 1, true);
        assert_eq!((strs(&items), rest), (vec!["p/a=a1".to_string()], 1));
        let (items, _) = range_at(&o, &u, "p/", "p/a\0", 3, 10, true);
        assert_eq!(strs(&items), ["p/b=b1"]);
    }

    #[test]
    fn later_creates_updates_and_deletes_are_undone() {
        let (o, u) = history(&[
            (1, "p/a", Some("a1")),
            (2, "p/b", Some("b1")),
            (3, "p/c", Some("c1")),
            // after the snapshot at 3:
            (4, "p/b", Some("b2")),
            (5, "p/a", None),
            (6, "p/d", Some("d1")),
            (7, "p/b", Some("b3")),
            (8, "p/c", None),
            (9, "p/c", Some("c2")),
        ]);
        let (items, rest) = range_at(&o, &u, "p/", "", 3, 10, true);
        assert_eq!(strs(&items), ["p/a=a1", "p/b=b1", "p/c=c1"]);
        assert_eq!(rest, 0);
        let (items, rest) = range_at(&o, &u, "p/", "", 3, 2, true);
        assert_eq!(strs(&items), ["p/a=a1", "p/b=b1"]);
        assert_eq!(rest, 1);
        let (items, _) = range_at(&o, &u, "p/", "p/a\0", 3, 10, true);
        assert_eq!(strs(&items), ["p/b=b1", "p/c=c1"]);
        let (items, _) = range_at(&o, &u, "p/", "", 6, 10, true);
        assert_eq!(strs(&items), ["p/b=b2", "p/c=c1", "p/d=d1"]);
        let (items, _) = range_at(&o, &u, "p/", "", 9, 10, true);
        assert_eq!(strs(&items), ["p/b=b3", "p/c=c2", "p/d=d1"]);
        let (items, more) = range_at(&o, &u, "p/", "", 3, 1, false);
        assert_eq!((items.len(), more), (1, 1));
        let (items, more) = range_at(&o, &u, "p/", "p/c", 3, 1, false);
        assert_eq!((strs(&items), more), (vec!["p/c=c1".to_string()], 0));
    }
}
