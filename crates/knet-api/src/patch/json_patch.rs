//! RFC 6902 JSON patch (`application/json-patch+json`) with RFC 6901 JSON
//! pointers. Operations apply in order to a copy; the first failing one
//! aborts the whole patch, so the target is never half-patched.

use super::PatchError;
use serde_json::{Map, Value};

/// Applies the operation list `patch` to a copy of `target`.
pub(crate) fn apply(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(ops) = patch else {
        return Err(PatchError::Malformed(
            "json patch must be an array of operations".into(),
        ));
    };
    let mut doc = target.clone();
    for (i, op) in ops.iter().enumerate() {
        apply_op(&mut doc, op).map_err(|e| match e {
            PatchError::Malformed(m) => PatchError::Malformed(format!("operation {i}: {m}")),
            PatchError::Unapplicable(m) => PatchError::Unapplicable(format!("operation {i}: {m}")),
            other => other,
        })?;
    }
    Ok(doc)
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), PatchError> {
    let Value::Object(o) = op else {
        return Err(PatchError::Malformed("operation is not an object".into()));
    };
    let name = str_member(o, "op")?;
    let path = parse_pointer(str_member(o, "path")?)?;
    match name {
        "add" => add(doc, &path, value_member(o)?.clone()),
        "remove" => remove(doc, &path).map(drop),
        "replace" => {
            let v = value_member(o)?.clone();
            *get_mut(doc, &path)? = v;
            Ok(())
        }
        "move" => {
            let from = parse_pointer(str_member(o, "from")?)?;
            if path.len() > from.len() && path[..from.len()] == from[..] {
                return Err(PatchError::Malformed(format!(
                    "cannot move {} into its own child {}",
                    render(&from),
                    render(&path)
                )));
            }
            let v = remove(doc, &from)?;
            add(doc, &path, v)
        }
        "copy" => {
            let from = parse_pointer(str_member(o, "from")?)?;
            let v = get(doc, &from)?.clone();
            add(doc, &path, v)
        }
        "test" => {
            let want = value_member(o)?;
            let have = get(doc, &path)?;
            if have == want {
                Ok(())
            } else {
                Err(PatchError::Unapplicable(format!(
                    "test failed: value at {} is {have}, not {want}",
                    render(&path)
                )))
            }
        }
        other => Err(PatchError::Malformed(format!(
            "unknown op {other:?} (want add, remove, replace, move, copy or test)"
        ))),
    }
}

fn str_member<'a>(o: &'a Map<String, Value>, key: &str) -> Result<&'a str, PatchError> {
    match o.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(PatchError::Malformed(format!("{key:?} must be a string"))),
        None => Err(PatchError::Malformed(format!("missing {key:?}"))),
    }
}

fn value_member(o: &Map<String, Value>) -> Result<&Value, PatchError> {
    o.get("value")
        .ok_or_else(|| PatchError::Malformed("missing \"value\"".into()))
}

/// Splits an RFC 6901 pointer into unescaped tokens (`~1` → `/`, `~0` → `~`).
pub(crate) fn parse_pointer(p: &str) -> Result<Vec<String>, PatchError> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = p.strip_prefix('/') else {
        return Err(PatchError::Malformed(format!(
            "json pointer {p:?} must be empty or start with '/'"
        )));
    };
    rest.split('/').map(|t| unescape(t, p)).collect()
}

fn unescape(token: &str, whole: &str) -> Result<String, PatchError> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => {
                return Err(PatchError::Malformed(format!(
                    "json pointer {whole:?} has an invalid '~' escape"
                )));
            }
        }
    }
    Ok(out)
}

fn render(path: &[String]) -> String {
    if path.is_empty() {
        return "\"\" (the whole document)".into();
    }
    path.iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

fn not_found(path: &[String]) -> PatchError {
    PatchError::Unapplicable(format!("path {} does not exist", render(path)))
}

fn array_index(tok: &str, len: usize, path: &[String]) -> Result<usize, PatchError> {
    let valid = !tok.is_empty()
        && tok.bytes().all(|b| b.is_ascii_digit())
        && (tok == "0" || !tok.starts_with('0'));
    let idx = if valid {
        tok.parse::<usize>().ok()
    } else {
        None
    };
    match idx {
        Some(i) if i < len => Ok(i),
        Some(_) => Err(PatchError::Unapplicable(format!(
            "index {tok} out of range at {} (length {len})",
            render(path)
        ))),
        None => Err(PatchError::Unapplicable(format!(
            "{tok:?} is not an array index at {}",
            render(path)
        ))),
    }
}

fn get<'a>(doc: &'a Value, path: &[String]) -> Result<&'a Value, PatchError> {
    let mut cur = doc;
    for (depth, tok) in path.iter().enumerate() {
        cur = match cur {
            Value::Object(m) => m.get(tok).ok_or_else(|| not_found(&path[..=depth]))?,
            Value::Array(a) => &a[array_index(tok, a.len(), &path[..=depth])?],
            _ => return Err(not_found(&path[..=depth])),
        };
    }
    Ok(cur)
}

fn get_mut<'a>(doc: &'a mut Value, path: &[String]) -> Result<&'a mut Value, PatchError> {
    let mut cur = doc;
    for (depth, tok) in path.iter().enumerate() {
        cur = match cur {
            Value::Object(m) => m.get_mut(tok).ok_or_else(|| not_found(&path[..=depth]))?,
            Value::Array(a) => {
                let i = array_index(tok, a.len(), &path[..=depth])?;
                &mut a[i]
            }
            _ => return Err(not_found(&path[..=depth])),
        };
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), PatchError> {
    let Some((last, parent_path)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent_path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                // Inserting at index == len appends, so allow len + 1 slots.
                array_index(last, a.len() + 1, path)?
            };
            a.insert(i, value);
            Ok(())
        }
        _ => Err(PatchError::Unapplicable(format!(
            "cannot add {}: parent is not an object or array",
            render(path)
        ))),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Result<Value, PatchError> {
    let Some((last, parent_path)) = path.split_last() else {
        return Err(PatchError::Unapplicable(
            "cannot remove the whole document".into(),
        ));
    };
    match get_mut(doc, parent_path)? {
        Value::Object(m) => m.shift_remove(last).ok_or_else(|| not_found(path)),
        Value::Array(a) => {
            let i = array_index(last, a.len(), path)?;
            Ok(a.remove(i))
        }
        _ => Err(not_found(path)),
    }
}
