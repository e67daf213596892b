//! Label selectors: the full string syntax (`a=b`, `a==b`, `a!=b`,
//! `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`, comma = AND), the
//! metav1 `LabelSelector` JSON form (`matchLabels` + `matchExpressions`),
//! matching against label sets, and `Display` back to Kubernetes' canonical
//! string (requirements sorted by key, set values sorted).
//!
//! Parse errors carry Kubernetes' own wording (`unable to parse requirement:
//! found '', expected: identifier`), so the API server can pass them through.

mod parse;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

/// A selector that cannot be parsed or built, with Kubernetes' message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// How a requirement relates its key to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key!=value` (also matches when the key is absent)
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)` (also matches when the key is absent)
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>N` (integer comparison)
    GreaterThan,
    /// `key<N` (integer comparison)
    LessThan,
}

/// One `key op values` term of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    op: Operator,
    /// Sorted and de-duplicated.
    values: Vec<String>,
}

/// Anything that can be looked up by label key.
pub trait Labels {
    /// The value of label `key`, if present.
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Labels for HashMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// A JSON object of string values (`metadata.labels`); anything else has no labels.
impl Labels for Value {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

impl Labels for serde_json::Map<String, Value> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

// === impl Requirement ===

impl Requirement {
    /// Builds a requirement, checking the key, the values and their count as
    /// Kubernetes' `NewRequirement` does.
    pub fn new(key: &str, op: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        let mut errs = Vec::new();
        if let Some(e) = invalid_key(key, "key") {
            errs.push(e);
        }
        let shown = format!("{values:?}");
        let count_err = match op {
            Operator::In | Operator::NotIn if values.is_empty() => {
                Some("for 'in', 'notin' operators, values set can't be empty")
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                Some("exact-match compatibility requires one single value")
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                Some("values set must be empty for exists and does not exist")
            }
            Operator::GreaterThan | Operator::LessThan if values.len() != 1 => {
                Some("for 'Gt', 'Lt' operators, exactly one value is required")
            }
            _ => None,
        };
        if let Some(m) = count_err {
            errs.push(format!("values: Invalid value: {shown}: {m}"));
        }
        for (i, v) in values.iter().enumerate() {
            if matches!(op, Operator::GreaterThan | Operator::LessThan) && v.parse::<i64>().is_err()
            {
                errs.push(format!(
                    "values[{i}]: Invalid value: {v:?}: for 'Gt', 'Lt' operators, the value must be an integer"
                ));
            }
            let problems = crate::names::label_value(v);
            if !problems.is_empty() {
                errs.push(format!(
                    "values[{i}][{key}]: Invalid value: {v:?}: {}",
                    problems.join("; ")
                ));
            }
        }
        if !errs.is_empty() {
            return Err(SelectorError(aggregate(&errs)));
        }
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(Self {
            key: key.to_string(),
            op,
            values,
        })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.op
    }

    /// The values, sorted.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether `labels` satisfy this requirement.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                labels.label(&self.key).is_some_and(has)
            }
            Operator::NotEquals | Operator::NotIn => !labels.label(&self.key).is_some_and(has),
            Operator::Exists => labels.label(&self.key).is_some(),
            Operator::DoesNotExist => labels.label(&self.key).is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(actual), Some(bound)) = (
                    labels.label(&self.key).and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.op == Operator::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (pre, op) = match self.op {
            Operator::DoesNotExist => return write!(f, "!{}", self.key),
            Operator::Exists => return f.write_str(&self.key),
            Operator::Equals => ("", "="),
            Operator::DoubleEquals => ("", "=="),
            Operator::NotEquals => ("", "!="),
            Operator::GreaterThan => ("", ">"),
            Operator::LessThan => ("", "<"),
            Operator::In => ("(", " in "),
            Operator::NotIn => ("(", " notin "),
        };
        let post = if pre.is_empty() { "" } else { ")" };
        write!(f, "{}{op}{pre}{}{post}", self.key, self.values.join(","))
    }
}

/// `<nil>`-pathed key error, as the string parser reports it.
fn invalid_key(key: &str, path: &str) -> Option<String> {
    let problems = crate::names::label_key(key);
    (!problems.is_empty())
        .then(|| format!("{path}: Invalid value: {key:?}: {}", problems.join("; ")))
}

fn aggregate(errs: &[String]) -> String {
    if errs.len() == 1 {
        errs[0].clone()
    } else {
        format!("[{}]", errs.join(", "))
    }
}

// === impl Selector ===

/// A conjunction of requirements. The empty selector matches everything;
/// [`Selector::nothing`] (from a null `LabelSelector`) matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    reqs: Vec<Requirement>,
    nothing: bool,
}

impl Selector {
    /// The selector that matches every label set.
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no label set.
    pub fn nothing() -> Self {
        Self {
            reqs: Vec::new(),
            nothing: true,
        }
    }

    /// Builds from requirements, sorting them by key (stable) like Kubernetes.
    pub fn from_requirements(mut reqs: Vec<Requirement>) -> Self {
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Self {
            reqs,
            nothing: false,
        }
    }

    /// Parses the string syntax (`app=web,tier in (a,b),!canary`).
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        parse::parse(s).map(Self::from_requirements)
    }

    /// `key=value` for each pair: what a Service's `spec.selector` means.
    pub fn from_map<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let reqs = map
            .into_iter()
            .map(|(k, v)| Requirement {
                key: k.clone(),
                op: Operator::Equals,
                values: vec![v.clone()],
            })
            .collect();
        Self::from_requirements(reqs)
    }

    /// From a JSON object of strings (a Service's `spec.selector`); a missing
    /// or null map is the empty selector. Values that are not strings are
    /// errors.
    pub fn from_json_map(map: &Value) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        if let Some(obj) = map.as_object() {
            for (k, v) in obj {
                let v = v
                    .as_str()
                    .ok_or_else(|| SelectorError(format!("label {k:?} has a non-string value")))?;
                reqs.push(Requirement::new(k, Operator::Equals, vec![v.to_string()])?);
            }
        }
        Ok(Self::from_requirements(reqs))
    }

    /// From a metav1 `LabelSelector` JSON, as `LabelSelectorAsSelector`:
    /// null → nothing, `{}` → everything.
    pub fn from_label_selector(sel: &Value) -> Result<Self, SelectorError> {
        if sel.is_null() {
            return Ok(Self::nothing());
        }
        let mut reqs = Vec::new();
        if let Some(labels) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                let v = v.as_str().unwrap_or_default().to_string();
                reqs.push(Requirement::new(k, Operator::Equals, vec![v])?);
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                reqs.push(expression(e)?);
            }
        }
        Ok(Self::from_requirements(reqs))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        !self.nothing && self.reqs.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector has no requirements (and so matches everything).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.reqs.is_empty()
    }

    /// Whether this is the match-nothing selector.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.reqs
    }

    /// The single value `label` must have, if the selector pins it
    /// (`label=v`, `label==v` or `label in (v)`).
    pub fn requires_exact_match(&self, label: &str) -> Option<&str> {
        let r = self.reqs.iter().find(|r| r.key == label)?;
        match (r.op, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }
}

fn expression(e: &Value) -> Result<Requirement, SelectorError> {
    let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
    let op_name = e
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let op = match op_name {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(SelectorError(format!(
                "{other:?} is not a valid label selector operator"
            )));
        }
    };
    let values = e
        .get("values")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    Requirement::new(key, op, values)
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.reqs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests;
