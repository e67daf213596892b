//! `limit`/`continue` on lists: the continue token kube-apiserver uses
//! (base64url of `{"v":"meta.k8s.io/v1","rv":R,"start":"<key after prefix>"}`),
//! naming the key to resume from and the revision of the list's snapshot
//! (`-1`: the latest revision, handed out with a 410 when the snapshot is
//! gone). Pure.

use crate::status::ApiError;
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

const VERSION: &str = "meta.k8s.io/v1";

/// A decoded continue token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Continue {
    /// Revision of the snapshot; None: continue at the latest revision.
    pub(crate) rv: Option<u64>,
    /// The key to resume from (inclusive), relative to the list's key prefix.
    pub(crate) start: String,
}

/// The token resuming after relative key `last` at revision `rv` (None: latest).
pub(crate) fn encode(rv: Option<u64>, last: &str) -> String {
    let rv = rv.map_or(-1, |r| r as i64);
    let body = json!({"v": VERSION, "rv": rv, "start": format!("{last}\u{0}")});
    URL_SAFE_NO_PAD.encode(body.to_string())
}

fn invalid(why: &str) -> ApiError {
    ApiError::bad_request(format!("invalid continue token: {why}"))
}

/// Decodes a continue token; malformed tokens are 400s.
pub(crate) fn decode(token: &str) -> Result<Continue, ApiError> {
    let raw = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(token))
        .map_err(|_| invalid("continue key is not valid: illegal base64 data"))?;
    let v: Value = serde_json::from_slice(&raw)
        .map_err(|e| invalid(&format!("continue key is not valid: {e}")))?;
    if v["v"] != VERSION {
        return Err(invalid(&format!(
            "continue key is not valid: server does not recognize this encoded key version {}",
            v["v"]
        )));
    }
    let rv = match v["rv"].as_i64() {
        Some(-1) => None,
        Some(r) if r > 0 => Some(r as u64),
        _ => {
            return Err(invalid(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            ));
        }
    };
    let start = v["start"].as_str().unwrap_or("");
    if start.is_empty() {
        return Err(invalid(
            "continue key is not valid: encoded start key empty",
        ));
    }
    if start.split('/').any(|s| s == "..") || start.starts_with('/') {
        return Err(invalid(
            "continue key is not valid: the key must be relative",
        ));
    }
    Ok(Continue {
        rv,
        start: start.to_string(),
    })
}

/// The 410 kube-apiserver answers a continue token whose snapshot was
/// compacted away, carrying a token that continues at the latest revision.
pub(crate) fn expired_status(start: &str) -> Value {
    let resume = encode(None, start.trim_end_matches('\u{0}'));
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {"continue": resume},
        "status": "Failure",
        "message": "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        "reason": "Expired",
        "code": 410,
    })
}

/// `limit`: None when absent or not positive (everything).
pub(crate) fn limit(raw: Option<&str>) -> Result<Option<usize>, ApiError> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let n: i64 = s.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid limit {s:?}: must be a number"))
            })?;
            Ok((n > 0).then_some(n as usize))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let t = encode(Some(42), "default/web");
        assert!(!t.contains('=') && !t.contains('+') && !t.contains('/'));
        let c = decode(&t).unwrap();
        assert_eq!(c.rv, Some(42));
        assert_eq!(c.start, "default/web\u{0}");
        let latest = decode(&encode(None, "a")).unwrap();
        assert_eq!(latest.rv, None);
        let raw: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&t).unwrap()).unwrap();
        assert_eq!(
            raw,
            json!({"v": "meta.k8s.io/v1", "rv": 42, "start": "default/web\u{0}"})
        );
    }

    #[test]
    fn bad_tokens_are_400s() {
        for bad in [
            "!!!".to_string(),
            URL_SAFE_NO_PAD.encode("not json"),
            URL_SAFE_NO_PAD.encode(r#"{"v":"x","rv":1,"start":"a"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"v":"meta.k8s.io/v1","rv":5,"start":""}"#),
            URL_SAFE_NO_PAD.encode(r#"{"v":"meta.k8s.io/v1","rv":5,"start":"../x"}"#),
        ] {
            let e = decode(&bad).unwrap_err();
            assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"), "{bad}");
            assert!(e.message.starts_with("invalid continue token"));
        }
        // Padded base64 (as some clients re-encode) is accepted too.
        let padded = URL_SAFE.encode(r#"{"v":"meta.k8s.io/v1","rv":5,"start":"a"}"#);
        assert_eq!(decode(&padded).unwrap().rv, Some(5));
    }

    #[test]
    fn expired_status_offers_a_latest_token() {
        let s = expired_status("default/b\u{0}");
        assert_eq!(
            (s["code"].as_u64(), s["reason"].as_str()),
            (Some(410), Some("Expired"))
        );
        let c = decode(s["metadata"]["continue"].as_str().unwrap()).unwrap();
        assert_eq!((c.rv, c.start.as_str()), (None, "default/b\u{0}"));
        assert!(
            s["message"]
                .as_str()
                .unwrap()
                .starts_with("The provided continue parameter is too old")
        );
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None).unwrap(), None);
        assert_eq!(limit(Some("0")).unwrap(), None);
        assert_eq!(limit(Some("-3")).unwrap(), None);
        assert_eq!(limit(Some("500")).unwrap(), Some(500));
        assert_eq!(limit(Some("x")).unwrap_err().code, 400);
    }
}
