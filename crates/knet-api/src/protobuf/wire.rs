//! Protobuf wire format reading: varints, keys, length-delimited slices.
//! Every read is bounds-checked; malformed input is an error, never a panic.

use super::ProtobufError;

/// A protobuf wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

/// A decoded field value straight off the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl Raw<'_> {
    pub(crate) fn wire_type(&self) -> WireType {
        match self {
            Raw::Varint(_) => WireType::Varint,
            Raw::Fixed64(_) => WireType::Fixed64,
            Raw::Len(_) => WireType::Len,
            Raw::Fixed32(_) => WireType::Fixed32,
        }
    }
}

/// Iterates over the `(field number, value)` pairs of one message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte has been consumed.
    pub(crate) fn is_done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut out: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(ProtobufError(format!(
                    "truncated varint at byte {}",
                    self.pos
                )));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(ProtobufError(format!(
                    "varint overflows 64 bits at byte {}",
                    self.pos
                )));
            }
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(ProtobufError(format!(
            "varint longer than 10 bytes at byte {}",
            self.pos
        )))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(ProtobufError(format!(
                "truncated: {n} bytes wanted at byte {} of {}",
                self.pos,
                self.buf.len()
            )));
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Reads the next field, or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, Raw<'a>)>, ProtobufError> {
        if self.is_done() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|&n| n != 0)
            .ok_or_else(|| ProtobufError(format!("invalid field number {}", key >> 3)))?;
        let raw = match key & 7 {
            0 => Raw::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                Raw::Fixed64(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            }
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| ProtobufError("length does not fit in memory".into()))?;
                Raw::Len(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                Raw::Fixed32(u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
            }
            w => {
                return Err(ProtobufError(format!(
                    "unsupported wire type {w} for field {number}"
                )));
            }
        };
        Ok(Some((number, raw)))
    }
}
