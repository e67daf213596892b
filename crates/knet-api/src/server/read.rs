//! Get and list, with label and field selectors and Table output.

use super::Api;
use super::paging;
use super::request::{Query, Target, wants_metadata, wants_table};
use super::respond;
use crate::fieldselector::FieldSelector;
use crate::status::ApiError;
use crate::store::Key;
use crate::table;
use axum::response::Response;
use knet_core::selector::Selector;
use serde_json::{Value, json};
use std::time::SystemTime;

/// Label and field selectors of a list or watch.
pub(crate) struct Filter {
    labels: Selector,
    fields: FieldSelector,
}

impl Filter {
    /// From `labelSelector` and `fieldSelector`; malformed ones are 400s.
    pub(crate) fn parse(t: &Target, q: &Query) -> Result<Self, ApiError> {
        let labels = match q.get("labelSelector").filter(|s| !s.trim().is_empty()) {
            Some(s) => Selector::parse(s).map_err(|e| {
                ApiError::bad_request(format!("unable to parse requirement: {}", e.0))
            })?,
            None => Selector::everything(),
        };
        let fields = FieldSelector::parse(t.resource, q.get("fieldSelector").unwrap_or(""))?;
        Ok(Self { labels, fields })
    }

    /// Whether `obj` passes both selectors.
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        let empty = json!({});
        let labels = obj["metadata"].get("labels").unwrap_or(&empty);
        self.labels.matches(labels) && (self.fields.is_empty() || self.fields.matches(obj))
    }
}

/// The objects a collection request selects, and the list revision.
pub(crate) fn select(api: &Api, t: &Target, q: &Query) -> Result<(Vec<Value>, u64), ApiError> {
    let filter = Filter::parse(t, q)?;
    let r = t.resource;
    let (raw, rv) = api
        .store
        .list_raw(&Key::prefix(r.group, r.plural, t.namespace.as_deref()));
    let items = raw
        .iter()
        .filter_map(|j| serde_json::from_slice::<Value>(j).ok())
        .filter(|o| filter.matches(o))
        .collect();
    Ok((items, rv))
}

fn table_response(t: &Target, objects: &[Value], meta: &Value, include: Option<&str>) -> Response {
    let rv = meta["resourceVersion"].as_str().unwrap_or("");
    let mut tbl = table::table(t.resource, objects, rv, SystemTime::now());
    table::include_objects(&mut tbl, objects, include);
    if let (Some(m), Some(extra)) = (tbl["metadata"].as_object_mut(), meta.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    respond::with_type(
        200,
        respond::TABLE_CONTENT_TYPE,
        serde_json::to_vec(&tbl).unwrap_or_default(),
    )
}

/// One page of a list: the items' stored JSON, and the list `metadata`
/// (resourceVersion, and `continue`/`remainingItemCount` when more follow).
struct Listed {
    items: Vec<std::sync::Arc<[u8]>>,
    meta: Value,
}

/// Where a list starts: from the beginning at the latest (or an exact)
/// revision, or where a continue token says.
fn list_start(q: &Query) -> Result<(String, Option<u64>, bool), ApiError> {
    let rv = q.get("resourceVersion").filter(|s| !s.is_empty());
    if let Some(token) = q.get("continue").filter(|s| !s.is_empty()) {
        if rv.is_some_and(|r| r != "0") {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let c = paging::decode(token)?;
        return Ok((c.start, c.rv, true));
    }
    let exact = q.get("resourceVersionMatch") == Some("Exact");
    let at = match rv {
        Some(r) if exact => Some(r.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid resourceVersion {r:?}: must be a number"))
        })?),
        _ => None,
    };
    Ok((String::new(), at, false))
}

/// Reads one page (or everything, without `limit`) of a collection from a
/// consistent snapshot. Err(Ok(response)) is the 410 of an expired token.
fn list_page(api: &Api, t: &Target, q: &Query) -> Result<Result<Listed, Response>, ApiError> {
    let filter = Filter::parse(t, q)?;
    let everything = q.get("labelSelector").is_none_or(|s| s.trim().is_empty())
        && q.get("fieldSelector").is_none_or(|s| s.trim().is_empty());
    let limit = paging::limit(q.get("limit"))?;
    let (start_rel, mut at, continued) = list_start(q)?;
    let r = t.resource;
    let prefix = Key::prefix(r.group, r.plural, t.namespace.as_deref());
    let mut start = format!("{prefix}{start_rel}");
    let mut items = Vec::new();
    let mut last_key: Option<String> = None;
    let mut remaining = None;
    let rv = loop {
        let want = limit.map_or(usize::MAX, |l| l - items.len());
        // Without selectors every stored object is an item: read exactly what
        // is wanted and count the rest. With them, read in chunks.
        let chunk = if everything { want } else { want.max(256) };
        let page =
            match api
                .store
                .list_page(&prefix, &start, at, chunk, everything && limit.is_some())
            {
                Ok(p) => p,
                Err(e) if e.code == 410 && continued => {
                    return Ok(Err(respond::json(410, &paging::expired_status(&start_rel))));
                }
                Err(e) => return Err(e),
            };
        at = Some(page.rv);
        let n = page.items.len();
        let mut consumed = 0;
        for (key, json) in page.items {
            consumed += 1;
            // Without selectors the stored JSON is sent as is, unparsed.
            let matched = everything
                || serde_json::from_slice::<Value>(&json).is_ok_and(|o| filter.matches(&o));
            last_key = Some(key);
            if matched {
                items.push(json);
                if limit.is_some_and(|l| items.len() >= l) {
                    break;
                }
            }
        }
        if limit.is_some_and(|l| items.len() >= l) {
            let more = page.remaining + (n - consumed);
            if more > 0 {
                remaining = Some(more);
            }
            break page.rv;
        }
        match &last_key {
            // Selectors filtered some out: read on after this chunk.
            Some(k) if page.remaining > 0 && n > 0 => start = format!("{k}\u{0}"),
            _ => break page.rv,
        }
    };
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let (Some(more), Some(last)) = (remaining, &last_key) {
        let rel = last.strip_prefix(&prefix).unwrap_or(last);
        meta["continue"] = json!(paging::encode(Some(rv), rel));
        if everything {
            meta["remainingItemCount"] = json!(more);
        }
    }
    Ok(Ok(Listed { items, meta }))
}

/// `GET` of a collection.
pub(crate) fn list(
    api: &Api,
    t: &Target,
    q: &Query,
    accept: Option<&str>,
) -> Result<Response, ApiError> {
    let Listed { items, meta } = match list_page(api, t, q)? {
        Ok(l) => l,
        Err(gone) => return Ok(gone),
    };
    if wants_table(accept) {
        let objects: Vec<Value> = items
            .iter()
            .filter_map(|j| serde_json::from_slice(j).ok())
            .collect();
        return Ok(table_response(t, &objects, &meta, q.get("includeObject")));
    }
    if wants_metadata(accept) {
        let items: Vec<Value> = items
            .iter()
            .filter_map(|j| serde_json::from_slice::<Value>(j).ok())
            .map(|o| crate::watch::partial_metadata(&o))
            .collect();
        let list = json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "items": items,
        });
        return Ok(respond::json(200, &list));
    }
    let r = t.resource;
    let head = json!({
        "kind": r.list_kind(),
        "apiVersion": r.api_version(),
        "metadata": meta,
        "items": [],
    });
    Ok(respond::with_type(
        200,
        "application/json",
        splice_items(&head, &items),
    ))
}

/// `head` (a list object whose last field is an empty `items`) serialized
/// with the stored objects' JSON spliced into `items`, unparsed.
fn splice_items(head: &Value, items: &[std::sync::Arc<[u8]>]) -> Vec<u8> {
    let mut out = serde_json::to_vec(head).unwrap_or_default();
    let total: usize = items.iter().map(|j| j.len() + 1).sum();
    // The serialized head ends with `[]}`: reopen the array.
    out.truncate(out.len().saturating_sub(2));
    out.reserve(total + 2);
    for (i, j) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(j);
    }
    out.extend_from_slice(b"]}");
    out
}

/// `GET` of an item (or its `status`/`scale`).
pub(crate) fn get(api: &Api, t: &Target, accept: Option<&str>) -> Result<Response, ApiError> {
    let r = t.resource;
    let name = t.name.as_deref().unwrap_or("");
    let key = Key::new(
        r.group,
        r.plural,
        t.namespace.as_deref().unwrap_or(""),
        name,
    );
    let obj = api
        .store
        .get(&key)
        .ok_or_else(|| ApiError::not_found(r.group, r.plural, name))?;
    match t.sub.as_deref() {
        None | Some("status") => {}
        Some("ephemeralcontainers") if r.has_subresource("ephemeralcontainers") => {}
        Some("scale") if r.has_subresource("scale") => {
            return Ok(respond::json(200, &super::write::scale_of(&obj)));
        }
        Some(other) => {
            return Err(ApiError::method_not_allowed(format!(
                "GET is not supported on {}/{other}",
                r.qualified_plural()
            )));
        }
    }
    if wants_table(accept) {
        let meta = json!({"resourceVersion": admit_rv(&obj).to_string()});
        return Ok(table_response(t, std::slice::from_ref(&obj), &meta, None));
    }
    if wants_metadata(accept) && t.sub.is_none() {
        return Ok(respond::json(200, &crate::watch::partial_metadata(&obj)));
    }
    Ok(respond::json(200, &obj))
}

fn admit_rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_spliced_into_the_list() {
        let head = json!({"kind": "PodList", "apiVersion": "v1",
                          "metadata": {"resourceVersion": "5"}, "items": []});
        let items: Vec<std::sync::Arc<[u8]>> = vec![
            std::sync::Arc::from(&br#"{"metadata":{"name":"a"}}"#[..]),
            std::sync::Arc::from(&br#"{"metadata":{"name":"b"}}"#[..]),
        ];
        let out: Value = serde_json::from_slice(&splice_items(&head, &items)).unwrap();
        let mut want = head.clone();
        want["items"] = json!([{"metadata":{"name":"a"}}, {"metadata":{"name":"b"}}]);
        assert_eq!(out, want);
        let empty: Value = serde_json::from_slice(&splice_items(&head, &[])).unwrap();
        assert_eq!(empty, head);
    }
}
