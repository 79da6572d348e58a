//! Values recently inspected and found clean, per client: the text a client sends again is not
//! read again.
//!
//! A chat client resends the whole conversation with every turn, the system prompt and every
//! earlier message, so inspecting each body in full costs a conversation of n turns O(n²);
//! browsers resend the same `User-Agent` and cookies with every request. Only the new text
//! needs reading.
//!
//! What makes this safe:
//! - Only a clean result is kept: a value with any finding is inspected every time.
//! - The key is the whole value, compared byte for byte (the hash only finds the candidate),
//!   with the families inspected at its place (exclusions differ per route and parameter) and
//!   the client's address. One client's cache therefore tells another nothing, not even by
//!   timing. The rules are compiled into the binary, so a clean result cannot go stale.
//! - Memory is bounded: each shard keeps two generations of at most [`GENERATION_BYTES`]; a
//!   full generation becomes the old one and the old one is dropped. A flood of distinct
//!   values evicts entries, and costs nothing else.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;

use foldhash::quality::RandomState;
use hashbrown::HashTable;

use super::FamilySet;

/// Shorter values cost less to inspect than to look up.
const MIN_CACHED_BYTES: usize = 64;
/// Longer values are rare enough that keeping them would only push out many others.
const MAX_CACHED_BYTES: usize = 64 * 1024;
const SHARDS: usize = 16;
/// The budget of one generation of one shard: at most 16 × 2 × 1 MiB is held in all.
const GENERATION_BYTES: usize = 1024 * 1024;
/// What an entry costs besides its text: the table slot and the allocator's header.
const ENTRY_OVERHEAD: usize = 64;

pub(super) struct CleanCache {
    hasher: RandomState,
    shards: [Mutex<Shard>; SHARDS],
}

#[derive(Default)]
struct Shard {
    current: HashTable<Entry>,
    previous: HashTable<Entry>,
    current_bytes: usize,
}

struct Entry {
    hash: u64,
    client: [u8; 16],
    families: u16,
    text: Box<str>,
}

impl Entry {
    fn is(&self, key: &Key<'_>) -> bool {
        self.client == key.client && self.families == key.families && *self.text == *key.text
    }
}

/// The cache key of one value: the client, the families inspected and the text.
pub(super) struct Key<'a> {
    hash: u64,
    client: [u8; 16],
    families: u16,
    text: &'a str,
}

impl CleanCache {
    pub(super) fn new() -> Self {
        Self {
            hasher: RandomState::default(),
            shards: std::array::from_fn(|_| Mutex::default()),
        }
    }

    /// The key of `text` for `client`, if the value is worth caching.
    pub(super) fn key<'a>(
        &self,
        client: IpAddr,
        families: FamilySet,
        text: &'a str,
    ) -> Option<Key<'a>> {
        if !(MIN_CACHED_BYTES..=MAX_CACHED_BYTES).contains(&text.len()) {
            return None;
        }
        let client = match client {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        let families = families.bits();
        let hash = self.hasher.hash_one((client, families, text));
        Some(Key {
            hash,
            client,
            families,
            text,
        })
    }

    /// True if the value was found clean recently.
    pub(super) fn contains(&self, key: &Key<'_>) -> bool {
        let mut shard = self.shard(key);
        let matches = |entry: &Entry| entry.is(key);
        if shard.current.find(key.hash, matches).is_some() {
            return true;
        }
        let Ok(found) = shard.previous.find_entry(key.hash, matches) else {
            return false;
        };
        // Still in use: carried into the current generation, so it outlives the next turnover.
        let (entry, _) = found.remove();
        shard.insert(entry);
        true
    }

    /// Remembers a value the filter found clean.
    pub(super) fn insert(&self, key: Key<'_>) {
        let mut shard = self.shard(&key);
        if shard
            .current
            .find(key.hash, |entry| entry.is(&key))
            .is_none()
        {
            shard.insert(Entry {
                hash: key.hash,
                client: key.client,
                families: key.families,
                text: key.text.into(),
            });
        }
    }

    fn shard(&self, key: &Key<'_>) -> std::sync::MutexGuard<'_, Shard> {
        // The table uses the low bits of the hash, the shard the high ones.
        let index = (key.hash >> 60) as usize % SHARDS;
        // A panic while holding the lock leaves the tables consistent (no update spans two
        // calls that could be interrupted), so a poisoned lock is still usable.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for CleanCache {
    fn default() -> Self {
        Self::new()
    }
}

impl Shard {
    fn insert(&mut self, entry: Entry) {
        let cost = entry.text.len() + ENTRY_OVERHEAD;
        if self.current_bytes + cost > GENERATION_BYTES {
            // The old generation's table keeps its capacity for the new one: no regrowing
            // (and page faulting) a table from empty on the request path.
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.clear();
            self.current_bytes = 0;
        }
        self.current_bytes += cost;
        self.current
            .insert_unique(entry.hash, entry, |entry| entry.hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack_filter::Family;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 8));

    fn text(n: usize) -> String {
        format!("message number {n} of a conversation that is long enough to be worth caching")
    }

    #[test]
    fn a_value_is_found_only_for_its_client_and_families() {
        let cache = CleanCache::new();
        let value = text(1);
        cache.insert(cache.key(CLIENT, FamilySet::ALL, &value).unwrap());
        assert!(cache.contains(&cache.key(CLIENT, FamilySet::ALL, &value).unwrap()));
        assert!(!cache.contains(&cache.key(OTHER, FamilySet::ALL, &value).unwrap()));
        let fewer = FamilySet::ALL.without(Family::Sqli);
        assert!(!cache.contains(&cache.key(CLIENT, fewer, &value).unwrap()));
        let mut changed = value.clone();
        changed.push('!');
        assert!(!cache.contains(&cache.key(CLIENT, FamilySet::ALL, &changed).unwrap()));
    }

    #[test]
    fn short_and_huge_values_are_not_cached() {
        let cache = CleanCache::new();
        assert!(cache.key(CLIENT, FamilySet::ALL, "short").is_none());
        let huge = "x".repeat(MAX_CACHED_BYTES + 1);
        assert!(cache.key(CLIENT, FamilySet::ALL, &huge).is_none());
    }

    #[test]
    fn memory_stays_bounded_and_values_in_use_survive_turnover() {
        let cache = CleanCache::new();
        let kept = text(0);
        cache.insert(cache.key(CLIENT, FamilySet::ALL, &kept).unwrap());
        // Several times what all shards hold, with the kept value used all along.
        let total = SHARDS * GENERATION_BYTES * 4;
        let per_value = text(1).len() + ENTRY_OVERHEAD;
        for n in 1..total / per_value {
            cache.insert(cache.key(CLIENT, FamilySet::ALL, &text(n)).unwrap());
            if n % 1000 == 0 {
                assert!(cache.contains(&cache.key(CLIENT, FamilySet::ALL, &kept).unwrap()));
            }
        }
        for shard in &cache.shards {
            let shard = shard.lock().unwrap();
            let held: usize = shard
                .current
                .iter()
                .chain(shard.previous.iter())
                .map(|entry| entry.text.len() + ENTRY_OVERHEAD)
                .sum();
            assert!(held <= 2 * GENERATION_BYTES, "{held}");
        }
        // Early values are gone.
        assert!(!cache.contains(&cache.key(CLIENT, FamilySet::ALL, &text(1)).unwrap()));
    }
}
