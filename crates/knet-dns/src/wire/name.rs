//! Domain names on the wire: decompression with pointer-loop protection, and
//! conversion between wire form and the lowercase dotted form used for lookups.

/// Longest name in wire form (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name could not be read or built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The message ended inside the name.
    #[error("name runs past the end of the message")]
    Truncated,
    /// A compression pointer points forward or at itself (a loop).
    #[error("compression pointer loop")]
    PointerLoop,
    /// Label type 0x40/0x80 (extended/reserved).
    #[error("unsupported label type")]
    BadLabel,
    /// More than 255 bytes, or a label longer than 63.
    #[error("name too long")]
    TooLong,
}

/// A decompressed domain name in wire form (length-prefixed labels, ending
/// with the root label). Stored inline: no allocation.
#[derive(Clone, Copy)]
pub struct WireName {
    buf: [u8; MAX_NAME_LEN],
    len: u8,
}

impl std::fmt::Debug for WireName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WireName({:?})", self.to_lower_dotted().0)
    }
}

impl WireName {
    /// The root name.
    pub fn root() -> WireName {
        WireName {
            buf: [0; MAX_NAME_LEN],
            len: 1,
        }
    }

    /// The wire bytes, including the final zero label.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// Reads a possibly compressed name starting at `start`; returns the name
    /// and the offset just after it in the message. Pointers must point
    /// strictly backwards, which rules out loops.
    pub fn parse(msg: &[u8], start: usize) -> Result<(WireName, usize), NameError> {
        let mut out = WireName::root();
        // Fast path: an uncompressed name (every query's question) is taken
        // in one copy. Anything else (pointers, bad labels, truncation, too
        // long) is left to the general walk below, which reports it.
        let mut at = start;
        while at - start < MAX_NAME_LEN {
            match msg.get(at) {
                Some(0) => {
                    let n = at + 1 - start;
                    out.buf[..n].copy_from_slice(&msg[start..=at]);
                    out.len = n as u8;
                    return Ok((out, at + 1));
                }
                Some(&l) if l & 0xc0 == 0 => at += 1 + usize::from(l),
                _ => break,
            }
        }
        let mut len = 0usize;
        let mut at = start;
        let mut end = None;
        let mut limit = start;
        loop {
            let b = *msg.get(at).ok_or(NameError::Truncated)?;
            match b & 0xc0 {
                0x00 => {
                    let l = usize::from(b);
                    if l == 0 {
                        out.buf[len] = 0;
                        out.len = (len + 1) as u8;
                        return Ok((out, end.unwrap_or(at + 1)));
                    }
                    let label = msg.get(at + 1..at + 1 + l).ok_or(NameError::Truncated)?;
                    if len + 1 + l + 1 > MAX_NAME_LEN {
                        return Err(NameError::TooLong);
                    }
                    out.buf[len] = b;
                    out.buf[len + 1..len + 1 + l].copy_from_slice(label);
                    len += 1 + l;
                    at += 1 + l;
                }
                0xc0 => {
                    let lo = *msg.get(at + 1).ok_or(NameError::Truncated)?;
                    let target = (usize::from(b & 0x3f) << 8) | usize::from(lo);
                    if target >= limit {
                        return Err(NameError::PointerLoop);
                    }
                    end.get_or_insert(at + 2);
                    limit = target;
                    at = target;
                }
                _ => return Err(NameError::BadLabel),
            }
        }
    }

    /// Builds a wire name from a dotted name (a trailing dot is optional).
    /// Only used for names knet itself produces; rejects over-long input.
    pub fn from_dotted(name: &str) -> Result<WireName, NameError> {
        let mut out = WireName::root();
        let mut len = 0usize;
        for label in name.split('.').filter(|l| !l.is_empty()) {
            let l = label.len();
            if l > MAX_LABEL_LEN || len + 1 + l + 1 > MAX_NAME_LEN {
                return Err(NameError::TooLong);
            }
            out.buf[len] = l as u8;
            out.buf[len + 1..len + 1 + l].copy_from_slice(label.as_bytes());
            len += 1 + l;
        }
        out.buf[len] = 0;
        out.len = (len + 1) as u8;
        Ok(out)
    }

    /// The lowercase dotted form (no trailing dot; root is ""), and whether a
    /// label held bytes outside `[a-z0-9_*-]` (such names match nothing in
    /// the cluster zones; a dot inside a label is escaped away as `\.` is not
    /// representable, so the flag also guards against confusion).
    pub fn to_lower_dotted(&self) -> (String, bool) {
        let bytes = self.as_bytes();
        let mut s = Vec::with_capacity(bytes.len());
        let mut odd = false;
        let mut at = 0;
        while let Some(&l) = bytes.get(at) {
            if l == 0 {
                break;
            }
            if !s.is_empty() {
                s.push(b'.');
            }
            for &c in &bytes[at + 1..at + 1 + usize::from(l)] {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_' {
                    s.push(c);
                } else {
                    odd = true;
                    // Keep the byte visible but unmatchable in the cluster zones.
                    s.push(if c.is_ascii_graphic() && c != b'.' {
                        c
                    } else {
                        b'?'
                    });
                }
            }
            at += 1 + usize::from(l);
        }
        // Only ASCII was pushed, so this never takes the lossy branch.
        let s = String::from_utf8(s)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        (s, odd)
    }

    /// Byte offsets of each label start (for registering compression targets).
    pub fn label_offsets(&self) -> impl Iterator<Item = usize> + '_ {
        let bytes = self.as_bytes();
        let mut at = 0usize;
        std::iter::from_fn(move || {
            let l = *bytes.get(at)?;
            if l == 0 {
                return None;
            }
            let here = at;
            at += 1 + usize::from(l);
            Some(here)
        })
    }
}
