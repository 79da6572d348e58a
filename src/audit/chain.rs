//! The hash chain: each record's hash covers the previous record's hash and every field of
//! the record in a canonical byte form, so no field can change without the hash changing.

use ring::digest::{Context, SHA256};

use crate::identity::secret::hex;
use crate::store::{AuditHead, AuditRecord, RecordView};

/// The previous hash of the first record ever written.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a writer knows about an event before it is placed in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEntry {
    pub time_ms: i64,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub resource_id: String,
    pub outcome: String,
    pub ip: String,
    pub request_id: String,
    pub purpose: String,
    /// A JSON object.
    pub details: String,
}

/// The hash of `record` chained after `prev_hash` (hex). Numbers are fixed-width big-endian
/// and every text is length-prefixed, so no two different records share canonical bytes.
pub fn record_hash(prev_hash: &str, record: &RecordView<'_>) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(prev_hash.as_bytes());
    context.update(&record.seq.to_be_bytes());
    context.update(&record.time_ms.to_be_bytes());
    for text in record.texts {
        context.update(&(text.len() as u64).to_be_bytes());
        context.update(text.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// `entries` numbered and hashed after `head`.
pub fn seal(head: &AuditHead, entries: Vec<AuditEntry>) -> Vec<AuditRecord> {
    let mut prev_hash = head.hash.clone();
    entries
        .into_iter()
        .zip(head.seq + 1..)
        .map(|(entry, seq)| {
            let mut record = AuditRecord {
                seq,
                time_ms: entry.time_ms,
                actor: entry.actor,
                action: entry.action,
                resource: entry.resource,
                resource_id: entry.resource_id,
                outcome: entry.outcome,
                ip: entry.ip,
                request_id: entry.request_id,
                purpose: entry.purpose,
                details: entry.details,
                hash: String::new(),
            };
            record.hash = hex(&record_hash(&prev_hash, &record.view()));
            prev_hash.clone_from(&record.hash);
            record
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(actor: &str) -> AuditEntry {
        AuditEntry {
            time_ms: 1,
            actor: actor.into(),
            action: "login".into(),
            details: "{}".into(),
            ..AuditEntry::default()
        }
    }

    #[test]
    fn sealing_numbers_and_links_records() {
        let head = AuditHead {
            seq: 0,
            hash: GENESIS.into(),
        };
        let records = seal(&head, vec![entry("ana"), entry("bo")]);
        assert_eq!(records[0].seq, 1);
        assert_eq!(records[1].seq, 2);
        assert_eq!(
            records[0].hash,
            hex(&record_hash(GENESIS, &records[0].view()))
        );
        assert_eq!(
            records[1].hash,
            hex(&record_hash(&records[0].hash, &records[1].view()))
        );
    }

    #[test]
    fn every_field_and_the_link_change_the_hash() {
        let head = AuditHead {
            seq: 0,
            hash: GENESIS.into(),
        };
        let record = seal(&head, vec![entry("ana")]).remove(0);
        let original = record_hash(GENESIS, &record.view());
        let mut changed = record.clone();
        changed.actor = "anb".into();
        assert_ne!(record_hash(GENESIS, &changed.view()), original);
        // Moving a byte between two fields is a different record too.
        let mut shifted = record.clone();
        shifted.actor = "an".into();
        shifted.action = "alogin".into();
        assert_ne!(record_hash(GENESIS, &shifted.view()), original);
        assert_ne!(record_hash(&"1".repeat(64), &record.view()), original);
    }
}
