//! A minimal protocol-buffers reader for the ingest protocols (Loki push,
//! OTLP): walks the fields of one message, so each protocol reads the few
//! messages it needs without generated code or a protoc at build time.
//! Unknown fields are skipped, as protobuf requires.

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid protobuf at byte {at}: {what}")]
pub struct ProtoError {
    pub at: usize,
    pub what: &'static str,
}

/// One field's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Field<'a> {
    pub fn bytes(self) -> &'a [u8] {
        match self {
            Field::Bytes(b) => b,
            _ => &[],
        }
    }

    /// A string field, with invalid UTF-8 replaced (a log line is kept
    /// rather than refused for one bad byte).
    pub fn string(self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }

    pub fn u64(self) -> u64 {
        match self {
            Field::Varint(v) | Field::Fixed64(v) => v,
            Field::Fixed32(v) => v.into(),
            Field::Bytes(_) => 0,
        }
    }
}

/// The fields of one message, in order: `(number, value)`.
pub struct Fields<'a> {
    data: &'a [u8],
    at: usize,
    /// Where `data` starts in the whole body, for error positions.
    base: usize,
}

impl<'a> Fields<'a> {
    pub fn new(data: &'a [u8]) -> Fields<'a> {
        Fields {
            data,
            at: 0,
            base: 0,
        }
    }

    /// The fields of a message found anywhere inside this one's bytes.
    pub fn nested(&self, data: &'a [u8]) -> Fields<'a> {
        let offset = data.as_ptr() as usize - self.data.as_ptr() as usize;
        Fields {
            data,
            at: 0,
            base: self.base + offset,
        }
    }

    /// The bytes of the message this walks.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Where the next field starts, counted from the start of the body.
    pub fn offset(&self) -> usize {
        self.base + self.at
    }

    fn error(&self, what: &'static str) -> ProtoError {
        ProtoError {
            at: self.base + self.at,
            what,
        }
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .data
                .get(self.at)
                .ok_or_else(|| self.error("truncated varint"))?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| self.error("field runs past the end"))?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Field<'a>), ProtoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.data.len() {
            return None;
        }
        let field = (|| {
            let key = self.varint()?;
            let number = u32::try_from(key >> 3).map_err(|_| self.error("field number"))?;
            let value = match key & 7 {
                0 => Field::Varint(self.varint()?),
                1 => Field::Fixed64(u64::from_le_bytes(
                    self.take(8)?.try_into().expect("8 bytes"),
                )),
                2 => {
                    let n = usize::try_from(self.varint()?)
                        .map_err(|_| self.error("length too large"))?;
                    Field::Bytes(self.take(n)?)
                }
                5 => Field::Fixed32(u32::from_le_bytes(
                    self.take(4)?.try_into().expect("4 bytes"),
                )),
                _ => return Err(self.error("unsupported wire type (groups are not used here)")),
            };
            Ok((number, value))
        })();
        if field.is_err() {
            self.at = self.data.len();
        }
        Some(field)
    }
}

pub(crate) mod write {
    //! The writer side: tests build requests with it, and OTLP answers a
    //! failed request with a `google.rpc.Status`.

    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn bytes(out: &mut Vec<u8>, number: u32, data: &[u8]) {
        varint(out, (u64::from(number) << 3) | 2);
        varint(out, data.len() as u64);
        out.extend_from_slice(data);
    }

    pub fn uint(out: &mut Vec<u8>, number: u32, v: u64) {
        varint(out, u64::from(number) << 3);
        varint(out, v);
    }

    #[cfg(test)]
    pub fn fixed64(out: &mut Vec<u8>, number: u32, v: u64) {
        varint(out, (u64::from(number) << 3) | 1);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_skips_nothing_it_should_not() {
        let mut inner = Vec::new();
        write::uint(&mut inner, 1, 300);
        let mut msg = Vec::new();
        write::bytes(&mut msg, 1, b"hello");
        write::bytes(&mut msg, 2, &inner);
        msg.extend_from_slice(&[(3 << 3) | 5, 1, 0, 0, 0]);
        let fields: Vec<_> = Fields::new(&msg).collect::<Result<_, _>>().unwrap();
        assert_eq!(fields[0], (1, Field::Bytes(b"hello")));
        assert_eq!(fields[2], (3, Field::Fixed32(1)));
        let outer = Fields::new(&msg);
        let nested: Vec<_> = outer
            .nested(fields[1].1.bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(nested, vec![(1, Field::Varint(300))]);
    }

    #[test]
    fn truncation_is_an_error_with_its_position() {
        let mut msg = Vec::new();
        write::bytes(&mut msg, 1, b"hello");
        msg.truncate(4);
        let error = Fields::new(&msg).next().unwrap().unwrap_err();
        assert_eq!(error.what, "field runs past the end");
        assert_eq!(error.at, 2);
    }
}
