//! Schema-driven decoding of one protobuf message into Kubernetes JSON:
//! camelCase names, Go-JSON omission of unset/zero fields, IntOrString,
//! Quantity, Time as RFC 3339, base64 bytes, maps and repeated fields.

use super::ProtobufError;
use super::schema::{FieldDef, Kind, message};
use super::wire::{Raw, Reader, WireType};
use base64::Engine as _;
use serde_json::{Map, Number, Value};

/// Nesting deeper than this is refused (no real object comes close).
const MAX_DEPTH: usize = 64;

/// Decodes `buf` as message `name`.
pub(crate) fn decode_message(
    buf: &[u8],
    name: &str,
    depth: usize,
) -> Result<Map<String, Value>, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError(format!(
            "message nesting deeper than {MAX_DEPTH}"
        )));
    }
    let fields =
        message(name).ok_or_else(|| ProtobufError(format!("no schema for message {name}")))?;
    let mut slots: Vec<Option<Value>> = vec![None; fields.len()];
    let mut reader = Reader::new(buf);
    while let Some((number, raw)) = reader.next_field()? {
        let Some(idx) = fields.iter().position(|f| f.number == number) else {
            continue; // Unknown field: newer server types; skip like protobuf does.
        };
        let f = &fields[idx];
        let ctx = || {
            format!(
                "{name}.{}",
                if f.json.is_empty() {
                    "<inline>"
                } else {
                    f.json
                }
            )
        };
        accumulate(&mut slots[idx], f, raw, depth)
            .map_err(|e| ProtobufError(format!("{}: {}", ctx(), e.0)))?;
    }
    let mut out = Map::new();
    for (f, slot) in fields.iter().zip(slots) {
        let Some(v) = slot else { continue };
        if f.inline {
            if let Value::Object(m) = v {
                out.extend(m);
            }
        } else if !omitted(f, &v) {
            out.insert(f.json.to_string(), v);
        }
    }
    Ok(out)
}

/// Go's `omitempty` for a non-pointer field that the wire always carries.
fn omitted(f: &FieldDef, v: &Value) -> bool {
    if f.pointer || f.keep_zero || f.repeated || f.map {
        return false;
    }
    match (f.kind, v) {
        (Kind::Msg(_) | Kind::RawExtension, _) => false,
        // A zero Time is `null` in Go; a zero IntOrString means "unset".
        (Kind::Time | Kind::MicroTime, Value::Null) => true,
        (_, Value::String(s)) => s.is_empty(),
        (_, Value::Bool(b)) => !b,
        (_, Value::Number(n)) => n.as_f64() == Some(0.0),
        (_, Value::Null) => true,
        _ => false,
    }
}

fn accumulate(
    slot: &mut Option<Value>,
    f: &FieldDef,
    raw: Raw<'_>,
    depth: usize,
) -> Result<(), ProtobufError> {
    if f.map {
        let Raw::Len(entry) = raw else {
            return Err(wire_mismatch(raw.wire_type()));
        };
        let (k, v) = map_entry(entry, f.kind, depth)?;
        let obj = slot.get_or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = obj {
            m.insert(k, v);
        }
        return Ok(());
    }
    if f.repeated {
        let arr = slot.get_or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(items) = arr else {
            return Ok(());
        };
        if let (Raw::Len(packed), true) = (raw, is_packable(f.kind)) {
            let mut r = Reader::new(packed);
            while !r.is_done() {
                items.push(value(f.kind, Raw::Varint(r.varint()?), depth)?);
            }
            return Ok(());
        }
        items.push(value(f.kind, raw, depth)?);
        return Ok(());
    }
    let v = value(f.kind, raw, depth)?;
    // A message field repeated on the wire merges; scalars: last one wins.
    match (slot.as_mut(), v) {
        (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
        (_, v) => *slot = Some(v),
    }
    Ok(())
}

fn is_packable(kind: Kind) -> bool {
    matches!(kind, Kind::I32 | Kind::I64 | Kind::Bool)
}

fn wire_mismatch(got: WireType) -> ProtobufError {
    ProtobufError(format!("unexpected wire type {got:?}"))
}

fn map_entry(buf: &[u8], kind: Kind, depth: usize) -> Result<(String, Value), ProtobufError> {
    let mut key = String::new();
    let mut val = None;
    let mut r = Reader::new(buf);
    while let Some((n, raw)) = r.next_field()? {
        match n {
            1 => key = string(raw)?,
            2 => val = Some(value(kind, raw, depth)?),
            _ => {}
        }
    }
    let val = match val {
        Some(v) => v,
        None => zero_of(kind),
    };
    Ok((key, val))
}

fn zero_of(kind: Kind) -> Value {
    match kind {
        Kind::Str | Kind::Bytes | Kind::Quantity => Value::String(String::new()),
        Kind::Msg(_) => Value::Object(Map::new()),
        Kind::Bool => Value::Bool(false),
        _ => Value::from(0),
    }
}

fn string(raw: Raw<'_>) -> Result<String, ProtobufError> {
    let Raw::Len(b) = raw else {
        return Err(wire_mismatch(raw.wire_type()));
    };
    String::from_utf8(b.to_vec()).map_err(|_| ProtobufError("string is not valid UTF-8".into()))
}

fn varint(raw: Raw<'_>) -> Result<u64, ProtobufError> {
    match raw {
        Raw::Varint(v) => Ok(v),
        other => Err(wire_mismatch(other.wire_type())),
    }
}

fn value(kind: Kind, raw: Raw<'_>, depth: usize) -> Result<Value, ProtobufError> {
    Ok(match kind {
        Kind::Str => Value::String(string(raw)?),
        Kind::Bytes => {
            let Raw::Len(b) = raw else {
                return Err(wire_mismatch(raw.wire_type()));
            };
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        // int32 travels sign-extended to 64 bits; truncating restores it.
        Kind::I32 => Value::from(varint(raw)? as i64 as i32),
        Kind::I64 => Value::from(varint(raw)? as i64),
        Kind::Bool => Value::Bool(varint(raw)? != 0),
        Kind::F64 => match raw {
            Raw::Fixed64(b) => float(f64::from_bits(b))?,
            other => return Err(wire_mismatch(other.wire_type())),
        },
        Kind::F32 => match raw {
            Raw::Fixed32(b) => float(f64::from(f32::from_bits(b)))?,
            other => return Err(wire_mismatch(other.wire_type())),
        },
        Kind::Msg(name) => {
            let Raw::Len(b) = raw else {
                return Err(wire_mismatch(raw.wire_type()));
            };
            Value::Object(decode_message(b, name, depth + 1)?)
        }
        special => super::special::decode(special, raw)?,
    })
}

fn float(f: f64) -> Result<Value, ProtobufError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| ProtobufError(format!("float {f} is not representable in JSON")))
}
