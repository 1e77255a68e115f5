//! Rows of a `COPY ... TO STDOUT (FORMAT binary)` stream, decoded without an allocation per row.
//!
//! PostgreSQL's binary COPY format: a header (the 11-byte signature `PGCOPY\n\xff\r\n\0`, a 32-bit
//! flags field and a 32-bit header extension length followed by that many bytes), then one tuple per
//! row (a 16-bit field count, then per field a 32-bit length, -1 for NULL, and the bytes), then a
//! trailer (a field count of -1). The server sends every row as one CopyData message, the header in
//! front of the first. The audit reads millions of rows: a [`CopyRow`] keeps the message and the
//! position of each field, and its accessors read them in place.

use bytes::Bytes;

/// The signature a binary COPY stream starts with.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// The most columns a decoded row may have.
pub(crate) const MAX_COLUMNS: usize = 6;

/// What a column holds; fixed-width columns are checked for their width when a row is decoded,
/// so that reading them cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    /// `smallint`.
    Int2,
    /// `bigint`.
    Int8,
    /// `bytea` or `text` (read as bytes; text is checked for UTF-8 where it is used).
    Bytes,
}

/// Why a COPY message is not a row of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CopyFormatError {
    #[error("the stream does not start with the binary COPY signature")]
    Signature,
    #[error("the message is truncated")]
    Truncated,
    #[error("a row has {found} fields, {expected} were expected")]
    FieldCount { expected: usize, found: i16 },
    #[error("field {field} is NULL")]
    Null { field: usize },
    #[error("field {field} is {found} bytes, {expected} were expected")]
    Width {
        field: usize,
        expected: usize,
        found: usize,
    },
    #[error("{0} bytes follow the row")]
    TrailingBytes(usize),
    #[error("a message follows the trailer")]
    AfterTrailer,
}

/// One decoded row: its message and the byte range of each field.
#[derive(Debug, Clone)]
pub(crate) struct CopyRow {
    data: Bytes,
    fields: [(usize, usize); MAX_COLUMNS],
}

impl CopyRow {
    /// The bytes of field `i` (empty past the row's columns).
    pub(crate) fn bytes(&self, i: usize) -> &[u8] {
        self.fields
            .get(i)
            .and_then(|&(start, end)| self.data.get(start..end))
            .unwrap_or_default()
    }

    /// Field `i` as a `bigint` (0 if it is not a [`Column::Int8`], which decoding rules out).
    pub(crate) fn int8(&self, i: usize) -> i64 {
        <[u8; 8]>::try_from(self.bytes(i)).map_or(0, i64::from_be_bytes)
    }

    /// Field `i` as a `smallint` (0 if it is not a [`Column::Int2`], which decoding rules out).
    pub(crate) fn int2(&self, i: usize) -> i16 {
        <[u8; 2]>::try_from(self.bytes(i)).map_or(0, i16::from_be_bytes)
    }

    /// Field `i` as text.
    pub(crate) fn text(&self, i: usize) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(self.bytes(i))
    }

    /// A row of these fields (at most [`MAX_COLUMNS`]; a `bigint` as its 8 big-endian bytes, a
    /// `smallint` as 2), built in memory as if decoded.
    #[cfg(test)]
    pub(crate) fn of(values: &[&[u8]]) -> Self {
        let mut data = Vec::new();
        let mut fields = [(0, 0); MAX_COLUMNS];
        for (value, slot) in values.iter().zip(&mut fields) {
            *slot = (data.len(), data.len() + value.len());
            data.extend_from_slice(value);
        }
        Self {
            data: Bytes::from(data),
            fields,
        }
    }
}

/// Decodes the messages of one binary COPY stream whose rows have the given columns.
#[derive(Debug)]
pub(crate) struct CopyDecoder {
    columns: &'static [Column],
    header_read: bool,
    trailer_read: bool,
}

impl CopyDecoder {
    /// A decoder for rows of `columns` (at most [`MAX_COLUMNS`]).
    pub(crate) fn new(columns: &'static [Column]) -> Self {
        Self {
            columns,
            header_read: false,
            trailer_read: false,
        }
    }

    /// Decodes one CopyData message: a row, or `None` for the header alone or the trailer.
    pub(crate) fn decode(&mut self, data: Bytes) -> Result<Option<CopyRow>, CopyFormatError> {
        if self.trailer_read {
            return Err(CopyFormatError::AfterTrailer);
        }
        let mut at = 0;
        if !self.header_read {
            if data.get(..SIGNATURE.len()) != Some(SIGNATURE.as_slice()) {
                return Err(CopyFormatError::Signature);
            }
            at = SIGNATURE.len() + 4;
            let extension = read_i32(&data, at)?;
            at += 4;
            at = usize::try_from(extension)
                .ok()
                .and_then(|extension| at.checked_add(extension))
                .filter(|&end| end <= data.len())
                .ok_or(CopyFormatError::Truncated)?;
            self.header_read = true;
            if at == data.len() {
                return Ok(None);
            }
        }
        let count = read_i16(&data, at)?;
        at += 2;
        if count == -1 {
            self.trailer_read = true;
            return match data.len() - at {
                0 => Ok(None),
                extra => Err(CopyFormatError::TrailingBytes(extra)),
            };
        }
        if usize::try_from(count).ok() != Some(self.columns.len())
            || self.columns.len() > MAX_COLUMNS
        {
            return Err(CopyFormatError::FieldCount {
                expected: self.columns.len(),
                found: count,
            });
        }
        let mut fields = [(0, 0); MAX_COLUMNS];
        for (field, (column, slot)) in self.columns.iter().zip(&mut fields).enumerate() {
            let length = read_i32(&data, at)?;
            at += 4;
            let length = usize::try_from(length).map_err(|_| CopyFormatError::Null { field })?;
            let end = at
                .checked_add(length)
                .filter(|&end| end <= data.len())
                .ok_or(CopyFormatError::Truncated)?;
            let expected = match column {
                Column::Int2 => Some(2),
                Column::Int8 => Some(8),
                Column::Bytes => None,
            };
            if let Some(expected) = expected
                && expected != length
            {
                return Err(CopyFormatError::Width {
                    field,
                    expected,
                    found: length,
                });
            }
            *slot = (at, end);
            at = end;
        }
        if at != data.len() {
            return Err(CopyFormatError::TrailingBytes(data.len() - at));
        }
        Ok(Some(CopyRow { data, fields }))
    }
}

fn read_i16(data: &[u8], at: usize) -> Result<i16, CopyFormatError> {
    data.get(at..at + 2)
        .and_then(|bytes| <[u8; 2]>::try_from(bytes).ok())
        .map(i16::from_be_bytes)
        .ok_or(CopyFormatError::Truncated)
}

fn read_i32(data: &[u8], at: usize) -> Result<i32, CopyFormatError> {
    data.get(at..at + 4)
        .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
        .map(i32::from_be_bytes)
        .ok_or(CopyFormatError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[Column] = &[Column::Int8, Column::Bytes, Column::Int2];

    fn header() -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out
    }

    fn row(leaf: i64, bytes: &[u8], small: i16) -> Vec<u8> {
        let mut out = 3i16.to_be_bytes().to_vec();
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&leaf.to_be_bytes());
        out.extend_from_slice(&i32::try_from(bytes.len()).unwrap().to_be_bytes());
        out.extend_from_slice(bytes);
        out.extend_from_slice(&2i32.to_be_bytes());
        out.extend_from_slice(&small.to_be_bytes());
        out
    }

    #[test]
    fn rows_are_read_in_place_after_the_header_and_until_the_trailer() {
        let mut decoder = CopyDecoder::new(COLUMNS);
        let mut first = header();
        first.extend(row(-5, b"abc", 7));
        let decoded = decoder.decode(Bytes::from(first)).unwrap().unwrap();
        assert_eq!(
            (decoded.int8(0), decoded.bytes(1), decoded.int2(2)),
            (-5, &b"abc"[..], 7)
        );
        assert_eq!(decoded.text(1).unwrap(), "abc");
        assert_eq!(decoded.bytes(5), b"");
        let next = decoder
            .decode(Bytes::from(row(1 << 40, b"", -1)))
            .unwrap()
            .unwrap();
        assert_eq!(
            (next.int8(0), next.bytes(1), next.int2(2)),
            (1 << 40, &b""[..], -1)
        );
        assert!(
            decoder
                .decode(Bytes::from((-1i16).to_be_bytes().to_vec()))
                .unwrap()
                .is_none()
        );
        assert_eq!(
            decoder.decode(Bytes::from(row(1, b"", 1))).unwrap_err(),
            CopyFormatError::AfterTrailer
        );
    }

    #[test]
    fn a_header_alone_is_no_row() {
        let mut decoder = CopyDecoder::new(COLUMNS);
        assert!(decoder.decode(Bytes::from(header())).unwrap().is_none());
        assert_eq!(
            decoder
                .decode(Bytes::from(row(3, b"x", 1)))
                .unwrap()
                .unwrap()
                .int8(0),
            3
        );
    }

    #[test]
    fn malformed_rows_are_refused() {
        let decode = |message: Vec<u8>| {
            let mut decoder = CopyDecoder::new(COLUMNS);
            decoder.decode(Bytes::from(header())).unwrap();
            decoder.decode(Bytes::from(message))
        };
        let good = row(1, b"abc", 2);
        assert_eq!(
            decode(good[..good.len() - 1].to_vec()).unwrap_err(),
            CopyFormatError::Truncated
        );
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(
            decode(longer).unwrap_err(),
            CopyFormatError::TrailingBytes(1)
        );
        let mut fewer = good.clone();
        fewer[..2].copy_from_slice(&2i16.to_be_bytes());
        assert!(matches!(
            decode(fewer).unwrap_err(),
            CopyFormatError::FieldCount { found: 2, .. }
        ));
        let mut null = good.clone();
        null[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            decode(null).unwrap_err(),
            CopyFormatError::Null { field: 1 }
        );
        let narrow = {
            let mut out = 3i16.to_be_bytes().to_vec();
            out.extend_from_slice(&4i32.to_be_bytes());
            out.extend_from_slice(&[0; 4]);
            out
        };
        assert!(matches!(
            decode(narrow).unwrap_err(),
            CopyFormatError::Width {
                field: 0,
                expected: 8,
                found: 4
            }
        ));
        let mut decoder = CopyDecoder::new(COLUMNS);
        assert_eq!(
            decoder.decode(Bytes::from_static(b"PGCOPY\n")).unwrap_err(),
            CopyFormatError::Signature
        );
    }

    #[test]
    fn arbitrary_messages_never_panic() {
        // Every prefix and every single-byte change of a valid first message.
        let mut message = header();
        message.extend(row(9, b"hello", 3));
        for end in 0..=message.len() {
            let _ = CopyDecoder::new(COLUMNS).decode(Bytes::from(message[..end].to_vec()));
        }
        for at in 0..message.len() {
            for value in [0x00, 0x7f, 0x80, 0xff] {
                let mut changed = message.clone();
                changed[at] = value;
                let _ = CopyDecoder::new(COLUMNS).decode(Bytes::from(changed));
            }
        }
    }
}
