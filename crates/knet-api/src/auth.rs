//! Bearer-token authentication: one 256-bit admin token, kept in
//! `<data-dir>/token`, compared in constant time.

use rand::RngCore;
use std::path::Path;

/// The admin bearer token.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// Reads `path`, or creates it (mode 0600) with a fresh random token.
    pub fn load_or_create(path: &Path) -> Result<Self, crate::tls::TlsError> {
        if let Ok(s) = std::fs::read_to_string(path) {
            let t = s.trim();
            if t.len() >= 32 {
                return Ok(Self(t.to_string()));
            }
        }
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        crate::tls::write_private(path, &token)?;
        Ok(Self(token))
    }

    /// A token with this exact value (for embedding).
    pub fn from_value(v: impl Into<String>) -> Self {
        Self(v.into())
    }

    /// The token text (goes into kubeconfigs).
    pub fn value(&self) -> &str {
        &self.0
    }

    /// Whether an `Authorization` header value carries this token.
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(h) = header else { return false };
        let Some(given) = h.strip_prefix(b"Bearer ") else {
            return false;
        };
        constant_time_eq(given.trim_ascii(), self.0.as_bytes())
    }
}

/// Compares without an early exit, so timing reveals only the length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let t = Token::load_or_create(&dir.path().join("token")).unwrap();
        assert_eq!(t.value().len(), 64);
        let again = Token::load_or_create(&dir.path().join("token")).unwrap();
        assert_eq!(again.value(), t.value());
        let good = format!("Bearer {}", t.value());
        assert!(t.accepts(Some(good.as_bytes())));
        assert!(!t.accepts(None));
        assert!(!t.accepts(Some(t.value().as_bytes())));
        let mut bad = good.clone().into_bytes();
        *bad.last_mut().unwrap() ^= 1;
        assert!(!t.accepts(Some(&bad)));
        assert!(!t.accepts(Some(b"Bearer short")));
    }
}
