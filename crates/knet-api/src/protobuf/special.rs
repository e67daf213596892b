//! The apimachinery types with their own JSON form: Quantity, IntOrString,
//! Time, MicroTime, Duration and RawExtension.

use super::ProtobufError;
use super::schema::Kind;
use super::wire::{Raw, Reader};
use base64::Engine as _;
use serde_json::Value;

/// Decodes one special-typed message (`kind` is not `Msg` or a scalar).
pub(crate) fn decode(kind: Kind, raw: Raw<'_>) -> Result<Value, ProtobufError> {
    let Raw::Len(buf) = raw else {
        return Err(ProtobufError(format!("{kind:?} must be length-delimited")));
    };
    let fields = read_fields(buf)?;
    let int = |n: u32| -> i64 {
        fields
            .iter()
            .rev()
            .find_map(|(k, v)| match v {
                Raw::Varint(x) if *k == n => Some(*x as i64),
                _ => None,
            })
            .unwrap_or(0)
    };
    let bytes = |n: u32| -> &[u8] {
        fields
            .iter()
            .rev()
            .find_map(|(k, v)| match v {
                Raw::Len(b) if *k == n => Some(*b),
                _ => None,
            })
            .unwrap_or(&[])
    };
    let text = |n: u32| -> Result<String, ProtobufError> {
        String::from_utf8(bytes(n).to_vec())
            .map_err(|_| ProtobufError("string is not valid UTF-8".into()))
    };
    Ok(match kind {
        Kind::Quantity => Value::String(text(1)?),
        Kind::IntOrString if int(1) == 1 => Value::String(text(3)?),
        Kind::IntOrString => Value::from(int(2) as i32),
        Kind::Time => time(int(1), 0, false)?,
        Kind::MicroTime => time(int(1), int(2), true)?,
        Kind::Duration => Value::String(go_duration(int(1))),
        Kind::RawExtension => {
            let b = bytes(1);
            serde_json::from_slice(b).unwrap_or_else(|_| {
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            })
        }
        other => return Err(ProtobufError(format!("{other:?} is not a special type"))),
    })
}

fn read_fields(buf: &[u8]) -> Result<Vec<(u32, Raw<'_>)>, ProtobufError> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while let Some(f) = r.next_field()? {
        out.push(f);
    }
    Ok(out)
}

/// RFC 3339 in UTC; the zero time is `null` (Go's zero `metav1.Time`).
fn time(seconds: i64, nanos: i64, micro: bool) -> Result<Value, ProtobufError> {
    if seconds == 0 && nanos == 0 {
        return Ok(Value::Null);
    }
    let nanos = i32::try_from(nanos).map_err(|_| ProtobufError(format!("bad nanos {nanos}")))?;
    let ts = jiff::Timestamp::new(seconds, nanos)
        .map_err(|e| ProtobufError(format!("time {seconds}s out of range: {e}")))?;
    let fmt = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Value::String(ts.strftime(fmt).to_string()))
}

/// Go's `time.Duration.String()` for whole-unit cases: `1h2m3s`, `1.5s`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (unit, div) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", trim_fraction(n, div));
    }
    let (h, rem) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (m, rem) = (rem / 60_000_000_000, rem % 60_000_000_000);
    let secs = trim_fraction(rem, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{secs}s"),
        (0, m) => format!("{sign}{m}m{secs}s"),
        (h, m) => format!("{sign}{h}h{m}m{secs}s"),
    }
}

fn trim_fraction(n: u64, div: u64) -> String {
    let (whole, frac) = (n / div, n % div);
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(2_000_000), "2ms");
    }

    #[test]
    fn time_is_rfc3339_utc() {
        assert_eq!(
            time(1_700_000_000, 0, false).unwrap(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            time(1_700_000_000, 123_456_000, true).unwrap(),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(time(0, 0, false).unwrap(), Value::Null);
    }
}
