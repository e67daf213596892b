//! Pure planning: previously applied [`Desired`] vs new [`Desired`] → one nft
//! transaction holding only what changed, or a full replacement of the table.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::Family;
use crate::render::{Desired, SetDecl};

/// Elements per `add element` statement (keeps single lines reasonable).
const ELEMENT_CHUNK: usize = 4096;

/// One step of a transaction, in the order it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Atomically replace the whole table (`add table; delete table; table … { skeleton }`).
    ReplaceTable {
        /// Body of the fixed objects.
        skeleton: String,
    },
    /// Create a per-Service set or map.
    AddSet {
        /// Set name.
        name: String,
        /// Declaration.
        decl: SetDecl,
    },
    /// Create an empty chain.
    AddChain(String),
    /// Remove every rule of a chain.
    FlushChain(String),
    /// Append rules to a chain.
    AddRules {
        /// Chain name.
        chain: String,
        /// Rules, in order.
        rules: Vec<String>,
    },
    /// Remove elements by key.
    DeleteElements {
        /// Set name.
        set: String,
        /// Keys.
        keys: Vec<String>,
    },
    /// Add elements (`value` empty for plain sets).
    AddElements {
        /// Set name.
        set: String,
        /// (key, value) pairs.
        elems: Vec<(String, String)>,
    },
    /// Delete a per-Service set or map.
    DeleteSet {
        /// Set name.
        name: String,
        /// `set` or `map`.
        kind: &'static str,
    },
    /// Delete a chain (already flushed and unreferenced).
    DeleteChain(String),
}

/// A transaction for one family's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Family of the table.
    pub family: Family,
    /// Table name.
    pub table: String,
    /// Whether this plan replaces the whole table.
    pub full: bool,
    /// Steps.
    pub ops: Vec<Op>,
}

fn family_of(d: &Desired) -> Family {
    d.family.unwrap_or(Family::V4)
}

/// A plan that replaces the table with `next` from scratch.
pub fn full(next: &Desired) -> Plan {
    let mut ops = vec![Op::ReplaceTable {
        skeleton: next.skeleton.clone(),
    }];
    for (name, decl) in &next.sets {
        ops.push(Op::AddSet {
            name: name.clone(),
            decl: decl.clone(),
        });
    }
    ops.extend(next.chains.keys().map(|c| Op::AddChain(c.clone())));
    for (chain, rules) in &next.chains {
        ops.push(Op::AddRules {
            chain: chain.clone(),
            rules: rules.clone(),
        });
    }
    for (set, elems) in &next.elements {
        push_adds(
            &mut ops,
            set,
            elems.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        );
    }
    Plan {
        family: family_of(next),
        table: next.table.clone(),
        full: true,
        ops,
    }
}

/// `full(next).to_nft()` and its size, written straight into one buffer
/// without building the intermediate plan (the full sync's hot path).
pub fn full_script(next: &Desired) -> (String, usize) {
    let fam = match family_of(next) {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    };
    let table = next.table.as_str();
    let elems: usize = next.elements.values().map(|m| m.len()).sum();
    let mut out = String::with_capacity(next.skeleton.len() + 256 + elems * 48);
    let _ = write!(
        out,
        "add table {fam} {table}\ndelete table {fam} {table}\ntable {fam} {table} {{\n{}}}\n",
        next.skeleton
    );
    let mut size = 1;
    for (name, decl) in &next.sets {
        let _ = writeln!(
            out,
            "add {} {fam} {table} {name} {{ {} }}",
            decl.kind, decl.body
        );
        size += 1;
    }
    for c in next.chains.keys() {
        let _ = writeln!(out, "add chain {fam} {table} {c}");
        size += 1;
    }
    for (chain, rules) in &next.chains {
        for r in rules {
            let _ = writeln!(out, "add rule {fam} {table} {chain} {r}");
        }
        size += rules.len();
    }
    for (set, elems) in &next.elements {
        let all: Vec<(&String, &String)> = elems.iter().collect();
        for chunk in all.chunks(ELEMENT_CHUNK) {
            let _ = write!(out, "add element {fam} {table} {set} {{ ");
            for (i, (k, v)) in chunk.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                if !v.is_empty() {
                    out.push_str(" : ");
                    out.push_str(v);
                }
            }
            out.push_str(" }\n");
        }
        size += elems.len();
    }
    (out, size)
}

/// The changes that turn the applied `prev` into `next`; a full plan when the
/// fixed part differs.
pub fn diff(prev: &Desired, next: &Desired) -> Plan {
    if prev.skeleton != next.skeleton || prev.table != next.table || prev.family != next.family {
        return full(next);
    }
    let mut ops = Vec::new();
    let new_sets: Vec<&String> = next
        .sets
        .keys()
        .filter(|s| !prev.sets.contains_key(*s))
        .collect();
    let gone_sets: Vec<(&String, &SetDecl)> = prev
        .sets
        .iter()
        .filter(|(s, _)| !next.sets.contains_key(*s))
        .collect();
    for name in &new_sets {
        ops.push(Op::AddSet {
            name: (*name).clone(),
            decl: next.sets[*name].clone(),
        });
    }
    let new_chains: Vec<&String> = next
        .chains
        .keys()
        .filter(|c| !prev.chains.contains_key(*c))
        .collect();
    let gone_chains: Vec<&String> = prev
        .chains
        .keys()
        .filter(|c| !next.chains.contains_key(*c))
        .collect();
    ops.extend(new_chains.iter().map(|c| Op::AddChain((*c).clone())));
    for (chain, rules) in &next.chains {
        match prev.chains.get(chain) {
            None => ops.push(Op::AddRules {
                chain: chain.clone(),
                rules: rules.clone(),
            }),
            Some(old) if old != rules => {
                ops.push(Op::FlushChain(chain.clone()));
                ops.push(Op::AddRules {
                    chain: chain.clone(),
                    rules: rules.clone(),
                });
            }
            Some(_) => {}
        }
    }
    element_ops(&mut ops, prev, next);
    ops.extend(gone_chains.iter().map(|c| Op::FlushChain((*c).clone())));
    for (name, decl) in gone_sets {
        ops.push(Op::DeleteSet {
            name: name.clone(),
            kind: decl.kind,
        });
    }
    ops.extend(gone_chains.iter().map(|c| Op::DeleteChain((*c).clone())));
    Plan {
        family: family_of(next),
        table: next.table.clone(),
        full: false,
        ops,
    }
}

fn element_ops(ops: &mut Vec<Op>, prev: &Desired, next: &Desired) {
    let empty = BTreeMap::new();
    let mut names: Vec<&String> = prev.elements.keys().chain(next.elements.keys()).collect();
    names.sort();
    names.dedup();
    let mut adds = Vec::new();
    for set in names {
        let gone = prev.sets.contains_key(set) && !next.sets.contains_key(set);
        let old = prev.elements.get(set).unwrap_or(&empty);
        let new = next.elements.get(set).unwrap_or(&empty);
        let is_new_set = next.sets.contains_key(set) && !prev.sets.contains_key(set);
        if !gone && !is_new_set {
            let keys: Vec<String> = old
                .iter()
                .filter(|(k, v)| new.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
            if !keys.is_empty() {
                ops.push(Op::DeleteElements {
                    set: set.clone(),
                    keys,
                });
            }
        }
        let added: Vec<(String, String)> = new
            .iter()
            .filter(|(k, v)| is_new_set || old.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !added.is_empty() {
            adds.push((set.clone(), added));
        }
    }
    for (set, elems) in adds {
        push_adds(ops, &set, elems);
    }
}

fn push_adds(ops: &mut Vec<Op>, set: &str, elems: Vec<(String, String)>) {
    for chunk in elems.chunks(ELEMENT_CHUNK) {
        ops.push(Op::AddElements {
            set: set.to_string(),
            elems: chunk.to_vec(),
        });
    }
}

impl Plan {
    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// `ip` or `ip6`.
    fn nft_family(&self) -> &'static str {
        match self.family {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    /// Renders the plan as input for `nft -f -` (one atomic transaction).
    pub fn to_nft(&self) -> String {
        let (fam, table) = (self.nft_family(), self.table.as_str());
        let mut out = String::new();
        for op in &self.ops {
            let _ = match op {
                Op::ReplaceTable { skeleton } => write!(
                    out,
                    "add table {fam} {table}\ndelete table {fam} {table}\ntable {fam} {table} {{\n{skeleton}}}\n"
                ),
                Op::AddSet { name, decl } => {
                    writeln!(
                        out,
                        "add {} {fam} {table} {name} {{ {} }}",
                        decl.kind, decl.body
                    )
                }
                Op::AddChain(c) => writeln!(out, "add chain {fam} {table} {c}"),
                Op::FlushChain(c) => writeln!(out, "flush chain {fam} {table} {c}"),
                Op::AddRules { chain, rules } => rules
                    .iter()
                    .try_for_each(|r| writeln!(out, "add rule {fam} {table} {chain} {r}")),
                Op::DeleteElements { set, keys } => {
                    writeln!(
                        out,
                        "delete element {fam} {table} {set} {{ {} }}",
                        keys.join(", ")
                    )
                }
                Op::AddElements { set, elems } => {
                    let list: Vec<String> = elems
                        .iter()
                        .map(|(k, v)| {
                            if v.is_empty() {
                                k.clone()
                            } else {
                                format!("{k} : {v}")
                            }
                        })
                        .collect();
                    writeln!(
                        out,
                        "add element {fam} {table} {set} {{ {} }}",
                        list.join(", ")
                    )
                }
                Op::DeleteSet { name, kind } => writeln!(out, "delete {kind} {fam} {table} {name}"),
                Op::DeleteChain(c) => writeln!(out, "delete chain {fam} {table} {c}"),
            };
        }
        out
    }

    /// Number of elements and rules the plan writes (for logs and metrics).
    pub fn size(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::AddElements { elems, .. } => elems.len(),
                Op::DeleteElements { keys, .. } => keys.len(),
                Op::AddRules { rules, .. } => rules.len(),
                _ => 1,
            })
            .sum()
    }
}
