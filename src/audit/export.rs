//! Export of audit records as JSON lines or CSV (RFC 4180), page by page so a large log
//! never has to fit in memory.

use std::io::{self, Write};

use crate::store::{AuditFilter, AuditRecord, AuditStore, StoreError};

/// Records read per query while exporting.
const PAGE: i64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

const CSV_HEADER: &str =
    "seq,time_ms,actor,action,resource,resource_id,outcome,ip,request_id,purpose,details,hash";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export failed: {0}")]
    Io(#[from] io::Error),
}

/// Writes every record `filter` selects to `out`; returns how many.
pub async fn export(
    store: &dyn AuditStore,
    mut filter: AuditFilter,
    format: ExportFormat,
    out: &mut dyn Write,
    mut progress: impl FnMut(u64),
) -> Result<u64, ExportError> {
    filter.limit = PAGE;
    if format == ExportFormat::Csv {
        writeln!(out, "{CSV_HEADER}")?;
    }
    let mut written = 0;
    loop {
        let page = store.audit_records(&filter).await?;
        let Some(last) = page.last() else {
            break;
        };
        filter.after_seq = last.seq;
        for record in &page {
            match format {
                ExportFormat::Jsonl => {
                    serde_json::to_writer(&mut *out, record).map_err(io::Error::from)?;
                    writeln!(out)?;
                }
                ExportFormat::Csv => writeln!(out, "{}", csv_line(record))?,
            }
        }
        written += page.len() as u64;
        progress(written);
    }
    out.flush()?;
    Ok(written)
}

fn csv_line(record: &AuditRecord) -> String {
    let seq = record.seq.to_string();
    let time = record.time_ms.to_string();
    [
        seq.as_str(),
        time.as_str(),
        &record.actor,
        &record.action,
        &record.resource,
        &record.resource_id,
        &record.outcome,
        &record.ip,
        &record.request_id,
        &record.purpose,
        &record.details,
        &record.hash,
    ]
    .map(csv_field)
    .join(",")
}

/// A field quoted when it holds a separator, quote or line break, quotes doubled. A leading
/// `=`, `+`, `-` or `@` is prefixed with `'` so spreadsheets do not run it as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) && value.len() > 1 {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("{\"k\":1}"), "\"{\"\"k\"\":1}\"");
        assert_eq!(csv_field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_field("-"), "-");
    }
}
