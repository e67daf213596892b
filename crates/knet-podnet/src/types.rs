//! Small validated newtypes shared by the CNI plugin, the agent and the
//! netlink layer. Parsing happens once, here.

use std::fmt;
use std::str::FromStr;

/// A Linux interface name: 1..=15 bytes, no `/`, no whitespace, not `.`/`..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName(String);

/// Why a string is not a valid interface name or MAC address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypeError {
    /// Interface names are at most 15 bytes and may not contain `/`, `:` or spaces.
    #[error("invalid interface name {0:?}: must be 1-15 bytes without '/', ':' or whitespace")]
    IfName(String),
    /// MAC addresses are six hex octets separated by `:`.
    #[error("invalid MAC address {0:?}: expected six hex octets like 0e:2a:0a:f4:00:00")]
    Mac(String),
}

impl IfName {
    /// Validates `s` as an interface name.
    pub fn new(s: &str) -> Result<Self, TypeError> {
        let ok = !s.is_empty()
            && s.len() <= 15
            && s != "."
            && s != ".."
            && !s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace());
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(TypeError::IfName(s.to_string()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for IfName {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// A locally administered unicast MAC from six arbitrary bytes.
    pub fn local_unicast(mut bytes: [u8; 6]) -> Self {
        bytes[0] = (bytes[0] & 0xfe) | 0x02;
        Self(bytes)
    }

    /// From a netlink attribute (must be 6 bytes).
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 6]>::try_from(b).ok().map(Self)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Mac {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TypeError::Mac(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let p = parts.next().ok_or_else(err)?;
            if p.len() != 2 {
                return Err(err());
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Self(out))
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_rules() {
        assert!(IfName::new("eth0").is_ok());
        assert!(IfName::new("abcdefghijklmno").is_ok());
        assert!(IfName::new("abcdefghijklmnop").is_err());
        assert!(IfName::new("").is_err());
        assert!(IfName::new("a/b").is_err());
        assert!(IfName::new("a b").is_err());
    }

    #[test]
    fn mac_roundtrip() {
        let m: Mac = "0e:2a:0a:f4:00:0F".parse().unwrap();
        assert_eq!(m.to_string(), "0e:2a:0a:f4:00:0f");
        assert!("0e:2a:0a:f4:00".parse::<Mac>().is_err());
        assert!("0e:2a:0a:f4:00:00:01".parse::<Mac>().is_err());
        assert!("zz:2a:0a:f4:00:00".parse::<Mac>().is_err());
        let l = Mac::local_unicast([0xff; 6]);
        assert_eq!(l.0[0], 0xfe);
        assert_eq!(l.0[0] & 1, 0);
    }
}
