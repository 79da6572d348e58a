//! A small time-bounded cache of verified credentials, so an authenticated request does not
//! pay for a signature check or a store query every time. Bounded in size (cleared when full)
//! and in time, on the same (injectable) Unix clock as the identity service; cleared whenever
//! this process revokes something.

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept at most; past it the cache starts over (cheap, and rare in practice).
const CAPACITY: usize = 50_000;

pub struct CredentialCache<V> {
    // foldhash: keys (tokens) are long and looked up on every authenticated request; its seed
    // is random per process, so keys cannot be chosen to collide.
    entries: Mutex<HashMap<String, (i64, V), foldhash::fast::RandomState>>,
    ttl_seconds: i64,
}

impl<V: Clone> CredentialCache<V> {
    pub fn new(ttl_seconds: i64) -> Self {
        Self {
            entries: Mutex::new(HashMap::default()),
            ttl_seconds,
        }
    }

    /// The value cached for `key`, if still valid at `now`.
    pub fn get(&self, key: &str, now: i64) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((until, value)) if *until > now => Some(value.clone()),
            _ => None,
        }
    }

    /// Keeps `value` from `now` for the cache's TTL, and never past `valid_until` if given.
    pub fn insert(&self, key: &str, value: V, now: i64, valid_until: Option<i64>) {
        let until = valid_until.map_or(now + self.ttl_seconds, |limit| {
            limit.min(now + self.ttl_seconds)
        });
        if until <= now {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key.to_owned(), (until, value));
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_on_the_given_clock_and_clear() {
        let cache = CredentialCache::new(60);
        cache.insert("a", 1, 1000, None);
        cache.insert("gone", 2, 1000, Some(1000));
        cache.insert("short", 3, 1000, Some(1005));
        assert_eq!(cache.get("a", 1059), Some(1));
        assert_eq!(cache.get("a", 1060), None);
        assert_eq!(cache.get("gone", 1000), None);
        assert_eq!(cache.get("short", 1004), Some(3));
        assert_eq!(cache.get("short", 1005), None);
        cache.clear();
        assert_eq!(cache.get("a", 1001), None);
    }
}
