//! Reading the audit log from PostgreSQL for verification. `COPY … TO STDOUT (FORMAT binary)`
//! streams rows without a query's per-row protocol work (the server sends about 3× the rows
//! per second here), and each row's text is borrowed from the message it arrived in.
//!
//! The binary format: a header (signature, flags, extension area), then per row a field
//! count and each field as a big-endian length and its bytes (`bigint` as 8 big-endian bytes,
//! `text` as UTF-8), then a count of -1.

use futures_util::TryStreamExt;
use sqlx::postgres::PgPoolCopyExt;

use super::StoreError;
use super::audit::{COLUMN_COUNT, COLUMNS, RecordView, Visit};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Signature, flags and the extension area's length.
const HEADER: usize = SIGNATURE.len() + 4 + 4;

/// [`super::AuditStore::scan_audit`] on PostgreSQL: up to `limit` records after `after_seq`,
/// in order, shown to `visit` until it returns false.
pub(super) async fn scan(
    pool: &sqlx::PgPool,
    after_seq: i64,
    limit: i64,
    visit: &mut Visit,
) -> Result<Option<i64>, StoreError> {
    // COPY takes no bound parameters; both are integers, formatted here.
    let statement = format!(
        "COPY (SELECT {COLUMNS} FROM audit_log WHERE seq > {after_seq} ORDER BY seq \
         LIMIT {limit}) TO STDOUT (FORMAT binary)"
    );
    let mut chunks = pool.copy_out_raw(&statement).await?;
    let mut reader = CopyReader::default();
    let (mut last, mut visiting) = (None, true);
    // Read to the end even after `visit` has had enough: a COPY left unread would be
    // discarded by the connection's next user anyway, and a page is bounded.
    while let Some(chunk) = chunks.try_next().await? {
        reader.feed(&chunk, &mut |record| {
            if visiting {
                last = Some(record.seq);
                visiting = visit(record);
            }
        })?;
    }
    reader.finish()?;
    Ok(last)
}

/// Parses the binary COPY stream as it arrives in messages of any size: rows normally come
/// one per message, and only a row split across messages is copied.
#[derive(Default)]
struct CopyReader {
    /// The start of a row (or the header) whose end has not arrived yet.
    pending: Vec<u8>,
    header_read: bool,
    ended: bool,
}

impl CopyReader {
    fn feed(
        &mut self,
        chunk: &[u8],
        visit: &mut dyn FnMut(&RecordView<'_>),
    ) -> Result<(), sqlx::Error> {
        if self.pending.is_empty() {
            let used = self.parse(chunk, visit)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            let mut data = std::mem::take(&mut self.pending);
            data.extend_from_slice(chunk);
            let used = self.parse(&data, visit)?;
            data.drain(..used);
            self.pending = data;
        }
        Ok(())
    }

    /// The stream ended: it must have ended where the format says it does.
    fn finish(&self) -> Result<(), sqlx::Error> {
        if self.ended && self.pending.is_empty() {
            Ok(())
        } else {
            Err(malformed("the COPY stream ended early"))
        }
    }

    /// Visits every whole row in `data`; returns how many bytes it used.
    fn parse(
        &mut self,
        data: &[u8],
        visit: &mut dyn FnMut(&RecordView<'_>),
    ) -> Result<usize, sqlx::Error> {
        let mut at = 0;
        if !self.header_read {
            let Some(header) = data.get(..HEADER) else {
                return Ok(0);
            };
            if &header[..SIGNATURE.len()] != SIGNATURE {
                return Err(malformed("not a binary COPY stream"));
            }
            let extension = be_u32(&header[HEADER - 4..]) as usize;
            if data.len() < HEADER + extension {
                return Ok(0);
            }
            at = HEADER + extension;
            self.header_read = true;
        }
        while at < data.len() {
            if self.ended {
                return Err(malformed("data after the end of the COPY stream"));
            }
            match parse_row(&data[at..])? {
                Row::End => {
                    self.ended = true;
                    at += 2;
                }
                Row::Record(record, length) => {
                    visit(&record);
                    at += length;
                }
                Row::Incomplete => break,
            }
        }
        Ok(at)
    }
}

enum Row<'a> {
    Record(RecordView<'a>, usize),
    End,
    Incomplete,
}

fn parse_row(data: &[u8]) -> Result<Row<'_>, sqlx::Error> {
    let Some(count) = data.get(..2) else {
        return Ok(Row::Incomplete);
    };
    match i16::from_be_bytes([count[0], count[1]]) {
        -1 => return Ok(Row::End),
        n if usize::try_from(n) == Ok(COLUMN_COUNT) => {}
        n => return Err(malformed(&format!("a row of {n} fields"))),
    }
    let mut fields = [&[][..]; COLUMN_COUNT];
    let mut at = 2;
    for field in &mut fields {
        let Some(length) = data.get(at..at + 4) else {
            return Ok(Row::Incomplete);
        };
        // -1 is NULL, which no audit column holds.
        let length = usize::try_from(be_u32(length) as i32)
            .map_err(|_| malformed("a NULL in the audit log"))?;
        let Some(bytes) = data.get(at + 4..at + 4 + length) else {
            return Ok(Row::Incomplete);
        };
        *field = bytes;
        at += 4 + length;
    }
    let bigint = |bytes: &[u8]| -> Result<i64, sqlx::Error> {
        Ok(i64::from_be_bytes(
            bytes
                .try_into()
                .map_err(|_| malformed("a bigint that is not 8 bytes"))?,
        ))
    };
    let record = RecordView::from_columns(bigint(fields[0])?, bigint(fields[1])?, |i| {
        std::str::from_utf8(fields[i]).map_err(|_| malformed("text that is not UTF-8"))
    })?;
    Ok(Row::Record(record, at))
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn malformed(what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("reading the audit log with COPY: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream PostgreSQL sends for `rows` of (seq, time_ms, ten texts).
    fn encode(rows: &[(i64, i64, [&str; 10])]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&3u32.to_be_bytes());
        out.extend_from_slice(b"ext");
        for (seq, time_ms, texts) in rows {
            out.extend_from_slice(&12i16.to_be_bytes());
            for number in [seq, time_ms] {
                out.extend_from_slice(&8u32.to_be_bytes());
                out.extend_from_slice(&number.to_be_bytes());
            }
            for text in texts {
                out.extend_from_slice(&(text.len() as u32).to_be_bytes());
                out.extend_from_slice(text.as_bytes());
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    fn read(stream: &[u8], chunk_size: usize) -> Result<Vec<(i64, i64, Vec<String>)>, sqlx::Error> {
        let mut reader = CopyReader::default();
        let mut seen = Vec::new();
        for chunk in stream.chunks(chunk_size) {
            reader.feed(chunk, &mut |r| {
                let mut texts: Vec<String> = r.texts.iter().map(|t| t.to_string()).collect();
                texts.push(r.hash.to_owned());
                seen.push((r.seq, r.time_ms, texts));
            })?;
        }
        reader.finish()?;
        Ok(seen)
    }

    #[test]
    fn rows_are_read_however_the_stream_is_cut() {
        let a = [
            "alice", "login", "session", "", "success", "ip-1", "r-1", "", "{}", "ab12",
        ];
        let b = [
            "bob",
            "ban",
            "client",
            "x",
            "denied",
            "",
            "r-2",
            "audit",
            "{\"n\":1}",
            "cd",
        ];
        let stream = encode(&[(1, 1_700_000_000_000, a), (2, -5, b)]);
        let expected = read(&stream, stream.len()).unwrap();
        assert_eq!(expected.len(), 2);
        assert_eq!((expected[0].0, expected[0].1), (1, 1_700_000_000_000));
        assert_eq!(expected[1].2[8], "{\"n\":1}");
        assert_eq!(expected[1].2[9], "cd");
        for size in [1, 2, 3, 7, 19, 25, 64] {
            assert_eq!(read(&stream, size).unwrap(), expected, "chunks of {size}");
        }
    }

    #[test]
    fn damaged_streams_are_errors() {
        let row = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
        let stream = encode(&[(1, 2, row)]);
        // Cut short: the end marker never arrives.
        assert!(read(&stream[..stream.len() - 2], 8).is_err());
        // Not the binary format.
        assert!(read(b"1\t2\tabc\n", 8).is_err());
        // A NULL where text belongs.
        let null = stream.len() - 2 - 1 - 4;
        let mut with_null = stream.clone();
        with_null[null..null + 4].copy_from_slice(&(-1i32).to_be_bytes());
        with_null.remove(null + 4);
        assert!(read(&with_null, 1024).is_err());
        // Text that is not UTF-8.
        let mut bad_text = stream.clone();
        bad_text[null + 4] = 0xff;
        assert!(read(&bad_text, 1024).is_err());
        // Anything after the end.
        let mut trailing = stream.clone();
        trailing.push(0);
        assert!(read(&trailing, 1024).is_err());
    }
}
