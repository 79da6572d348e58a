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
//!   full generation becomes the old one and the old one is emptied for reuse. A flood of
//!   distinct values evicts entries, and costs nothing else.
//!
//! A generation keeps its texts one after another in one buffer that it reuses, rather than
//! one allocation per value: a chat server stores a new message with nearly every request and
//! drops thousands at each turnover, and the allocator handed those pages back to the kernel
//! and faulted them in again.

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
/// What an entry costs besides its text: its table slot, with the table's spare room.
const ENTRY_OVERHEAD: usize = 64;

pub(super) struct CleanCache {
    hasher: RandomState,
    shards: [Mutex<Shard>; SHARDS],
}

#[derive(Default)]
struct Shard {
    current: Generation,
    previous: Generation,
}

/// Values found clean since the last turnover: their texts in `texts`, one after another,
/// and a table of where each one is.
#[derive(Default)]
struct Generation {
    table: HashTable<Entry>,
    texts: Vec<u8>,
}

struct Entry {
    hash: u64,
    client: [u8; 16],
    families: u16,
    /// Where the text is in the generation's `texts`.
    start: u32,
    len: u32,
}

impl Generation {
    fn text(&self, entry: &Entry) -> &[u8] {
        let start = entry.start as usize;
        &self.texts[start..start + entry.len as usize]
    }

    fn find(&self, key: &Key<'_>) -> Option<&Entry> {
        self.table.find(key.hash, |entry| {
            entry.client == key.client
                && entry.families == key.families
                && self.text(entry) == key.text.as_bytes()
        })
    }

    /// What the generation holds, by the measure of [`GENERATION_BYTES`].
    fn bytes(&self) -> usize {
        self.texts.len() + self.table.len() * ENTRY_OVERHEAD
    }

    fn clear(&mut self) {
        self.table.clear();
        self.texts.clear();
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
        if shard.current.find(key).is_some() {
            return true;
        }
        if shard.previous.find(key).is_none() {
            return false;
        }
        // Still in use: copied into the current generation, so it outlives the next turnover.
        shard.insert(key);
        true
    }

    /// Remembers a value the filter found clean.
    pub(super) fn insert(&self, key: Key<'_>) {
        let mut shard = self.shard(&key);
        if shard.current.find(&key).is_none() {
            shard.insert(&key);
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
    fn insert(&mut self, key: &Key<'_>) {
        let cost = key.text.len() + ENTRY_OVERHEAD;
        if self.current.bytes() + cost > GENERATION_BYTES {
            // The old generation's table and buffer keep their capacity for the new one: no
            // regrowing (and page faulting) them from empty on the request path.
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.clear();
        }
        let generation = &mut self.current;
        if generation.texts.capacity() == 0 {
            // Allocated once, whole: the texts never outgrow it, so it is never moved.
            generation.texts.reserve_exact(GENERATION_BYTES);
        }
        // Texts are at most MAX_CACHED_BYTES and a generation at most GENERATION_BYTES, so
        // positions fit in u32.
        let start = generation.texts.len() as u32;
        generation.texts.extend_from_slice(key.text.as_bytes());
        let entry = Entry {
            hash: key.hash,
            client: key.client,
            families: key.families,
            start,
            len: key.text.len() as u32,
        };
        generation
            .table
            .insert_unique(key.hash, entry, |entry| entry.hash);
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
            for generation in [&shard.current, &shard.previous] {
                let held: usize = generation
                    .table
                    .iter()
                    .map(|entry| entry.len as usize + ENTRY_OVERHEAD)
                    .sum();
                assert!(held <= GENERATION_BYTES, "{held}");
                assert_eq!(held, generation.bytes());
                // The buffer reused across turnovers is one generation's worth, never more.
                assert!(generation.texts.capacity() <= GENERATION_BYTES);
            }
        }
        // Early values are gone.
        assert!(!cache.contains(&cache.key(CLIENT, FamilySet::ALL, &text(1)).unwrap()));
    }
}
