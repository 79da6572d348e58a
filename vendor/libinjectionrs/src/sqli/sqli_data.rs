// This module includes the SQL data generated from libinjection's sqlparse_data.json.
include!("generated_data.rs");

/// Longest entry of [`SQL_KEYWORDS`]; no longer word can be one.
const MAX_KEYWORD_LEN: usize = 32;

/// The token type of `word` (any case), `Bareword` when it is no keyword.
pub fn lookup_word(word: &str) -> TokenType {
    lookup_word_bytes(word.as_bytes())
}

/// [`lookup_word`] on bytes. (Rampart's patch: the word is upper-cased eight bytes at a time
/// in registers and looked up in an open-addressing index, where the original allocated a
/// `String` and binary-searched 9,352 entries on every word of the input.)
pub fn lookup_word_bytes(word: &[u8]) -> TokenType {
    if word.is_empty() || word.len() > MAX_KEYWORD_LEN {
        return TokenType::Bareword;
    }
    let mut chunks = [0u64; MAX_KEYWORD_LEN / 8];
    for (chunk, bytes) in chunks.iter_mut().zip(word.chunks(8)) {
        *chunk = upper_case(load_le(bytes));
    }
    match keyword_type(&chunks, word.len()) {
        Some(b'k') => TokenType::Keyword,
        Some(b'f') => TokenType::Function,
        Some(b'U') => TokenType::Union,
        Some(b'E') => TokenType::Expression,
        Some(b'T') => TokenType::Tsql,
        Some(b't') => TokenType::SqlType,
        Some(b'o') => TokenType::Operator,
        Some(b'&') => TokenType::LogicOperator,
        Some(b'v') => TokenType::Variable,
        Some(b'1') => TokenType::Number,
        Some(b'A') => TokenType::Collate,
        Some(b'B') => TokenType::Group,
        Some(b'F') => TokenType::Fingerprint,
        _ => TokenType::Bareword,
    }
}

/// Up to eight bytes as a little-endian integer, zeros above them, read with loads of whole
/// integers (bytes stored one at a time and read back as one integer would stall the load).
fn load_le(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let u16_at = |at: usize| u64::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
    let u32_at = |at: usize| {
        u64::from(u32::from_le_bytes([
            bytes[at],
            bytes[at + 1],
            bytes[at + 2],
            bytes[at + 3],
        ]))
    };
    match n {
        8.. => u64::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
        ]),
        // Two reads that overlap in the middle: the shared bytes are equal in both.
        4..=7 => u32_at(0) | u32_at(n - 4) << ((n - 4) * 8),
        2..=3 => u16_at(0) | u16_at(n - 2) << ((n - 2) * 8),
        1 => u64::from(bytes[0]),
        0 => 0,
    }
}

/// ASCII `a`-`z` upper-cased in all eight bytes at once; other bytes are unchanged.
fn upper_case(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let seven = word & LOW7;
    // High bit set where the low seven bits are at least `a`, and where they are above `z`;
    // no byte carries into the next (at most 0x7f + 0x1f).
    let at_least_a = seven + ONES * u64::from(0x80 - b'a');
    let above_z = seven + ONES * u64::from(0x7f - b'z');
    let lower = at_least_a & !above_z & !word & HIGH;
    word - (lower >> 2)
}

/// The type of the upper-cased word of `len` bytes in `chunks` (little-endian, zeros after it).
#[cfg(feature = "std")]
fn keyword_type(chunks: &[u64; MAX_KEYWORD_LEN / 8], len: usize) -> Option<u8> {
    use std::sync::LazyLock;
    // The table holds 985 words and 8,367 fingerprints (`0` and up to five token types; no
    // word starts with `0`). The tokenizer looks up words all the time and fingerprints two or
    // three times per input, so the words get a small index of their own that stays in cache.
    static WORDS: LazyLock<KeywordIndex> =
        LazyLock::new(|| KeywordIndex::build(|word| !word.starts_with('0')));
    static FINGERPRINTS: LazyLock<KeywordIndex> =
        LazyLock::new(|| KeywordIndex::build(|word| word.starts_with('0')));
    if chunks[0] as u8 == b'0' {
        FINGERPRINTS.get(chunks, len)
    } else {
        WORDS.get(chunks, len)
    }
}

/// An open-addressing index over part of [`SQL_KEYWORDS`]. (Rampart's patch.) Each slot is 0
/// when empty, or an entry's position + 1 in its low 16 bits under 16 bits of the word's
/// hash: most words of prose are no keyword, and one read of one cache line turns them away.
/// The entries hold their words upper-cased in the same eight-byte chunks as a lookup.
#[cfg(feature = "std")]
struct KeywordIndex {
    slots: Box<[u32]>,
    entries: Box<[IndexEntry]>,
}

#[cfg(feature = "std")]
struct IndexEntry {
    chunks: [u64; MAX_KEYWORD_LEN / 8],
    len: u8,
    token_type: u8,
}

#[cfg(feature = "std")]
impl KeywordIndex {
    /// The keywords `include` selects, at a load of at most one half: a miss reads about two
    /// slots, which usually share a cache line.
    fn build(include: impl Fn(&str) -> bool) -> Self {
        let entries: Box<[IndexEntry]> = SQL_KEYWORDS
            .iter()
            .filter(|keyword| include(keyword.word))
            .map(|keyword| {
                let word = keyword.word.as_bytes();
                let mut chunks = [0u64; MAX_KEYWORD_LEN / 8];
                for (chunk, bytes) in chunks.iter_mut().zip(word.chunks(8)) {
                    *chunk = load_le(bytes);
                }
                IndexEntry {
                    chunks,
                    len: u8::try_from(word.len()).expect("keywords are short"),
                    token_type: keyword.token_type,
                }
            })
            .collect();
        assert!(entries.len() < usize::from(u16::MAX));
        let size = (entries.len() * 2).next_power_of_two();
        let mut slots = vec![0u32; size].into_boxed_slice();
        for (position, entry) in entries.iter().enumerate() {
            let hash = word_hash(&entry.chunks, usize::from(entry.len));
            let mut slot = hash as usize & (size - 1);
            while slots[slot] != 0 {
                slot = (slot + 1) & (size - 1);
            }
            // `position` < u16::MAX (asserted above), so the cast loses nothing.
            slots[slot] = ((hash >> 48) as u32) << 16 | (position as u32 + 1);
        }
        Self { slots, entries }
    }

    fn get(&self, chunks: &[u64; MAX_KEYWORD_LEN / 8], len: usize) -> Option<u8> {
        let hash = word_hash(chunks, len);
        let tag = ((hash >> 48) as u32) << 16;
        let mask = self.slots.len() - 1;
        let mut slot = hash as usize & mask;
        loop {
            let slot_value = self.slots[slot];
            if slot_value == 0 {
                return None;
            }
            if slot_value & 0xffff_0000 == tag {
                let entry = &self.entries[(slot_value & 0xffff) as usize - 1];
                let used = len.div_ceil(8);
                if usize::from(entry.len) == len && entry.chunks[..used] == chunks[..used] {
                    return Some(entry.token_type);
                }
            }
            slot = (slot + 1) & mask;
        }
    }
}

/// Whether a keyword of several words (`UNION ALL`, `NATURAL LEFT OUTER JOIN`) may start with
/// `first` and a space. (Rampart's patch.) Folding looks up every pair of neighbouring words
/// as one, but only 108 keywords have a space, and in prose most pairs start with a word that
/// none of them starts with. A bit per length and first and last byte (upper-cased) in a
/// 1,024-bit set built once: a clear bit proves that no keyword starts with `first` and a
/// space, so the lookup of the pair could only miss; a set bit means look it up.
#[cfg(feature = "std")]
pub fn may_start_keyword_of_words(first: &[u8]) -> bool {
    use std::sync::LazyLock;
    static STARTS: LazyLock<[u64; 16]> = LazyLock::new(|| {
        let mut bits = [0u64; 16];
        for keyword in SQL_KEYWORDS.iter().filter(|k| !k.word.starts_with('0')) {
            let word = keyword.word.as_bytes();
            for (at, _) in word.iter().enumerate().filter(|(_, &b)| b == b' ') {
                let bit = start_bit(&word[..at]);
                bits[bit / 64] |= 1 << (bit % 64);
            }
        }
        bits
    });
    if first.is_empty() {
        return false;
    }
    let bit = start_bit(first);
    STARTS[bit / 64] & 1 << (bit % 64) != 0
}

/// Without `std`, every pair is looked up.
#[cfg(not(feature = "std"))]
pub fn may_start_keyword_of_words(_first: &[u8]) -> bool {
    true
}

/// The bit of [`may_start_keyword_of_words`]'s set for a non-empty word.
#[cfg(feature = "std")]
fn start_bit(word: &[u8]) -> usize {
    let first = word[0].to_ascii_uppercase();
    let last = word[word.len() - 1].to_ascii_uppercase();
    let key = (word.len() as u32) | u32::from(first) << 8 | u32::from(last) << 16;
    (key.wrapping_mul(0x9E37_79B9) >> 22) as usize
}

/// A multiplicative hash of a word of `len` bytes held in `chunks`, eight bytes at a time.
/// Not for untrusted keys in general: the table is fixed and only ever read, so colliding
/// words cost a few more slot reads and nothing else.
#[cfg(feature = "std")]
fn word_hash(chunks: &[u64; MAX_KEYWORD_LEN / 8], len: usize) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut hash = (len as u64).wrapping_mul(K);
    for &chunk in chunks.iter().take(len.div_ceil(8)) {
        hash = (hash ^ chunk).wrapping_mul(K).rotate_left(29);
    }
    // Fold the high bits down: the slot is taken from the low ones, the tag from the high.
    (hash ^ (hash >> 32)).wrapping_mul(K)
}

#[cfg(not(feature = "std"))]
fn keyword_type(chunks: &[u64; MAX_KEYWORD_LEN / 8], len: usize) -> Option<u8> {
    let mut padded = [0u8; MAX_KEYWORD_LEN];
    for (bytes, chunk) in padded.chunks_mut(8).zip(chunks) {
        bytes.copy_from_slice(&chunk.to_le_bytes());
    }
    let upper = &padded[..len];
    SQL_KEYWORDS
        .binary_search_by(|k| k.word.as_bytes().cmp(upper))
        .ok()
        .map(|i| SQL_KEYWORDS[i].token_type)
}

// Additional helper functions can be added here
impl CharType {
    pub fn is_white(&self) -> bool {
        matches!(self, CharType::White)
    }
    
    pub fn is_word(&self) -> bool {
        matches!(self, CharType::Word | CharType::BWord)
    }
    
    pub fn is_string_start(&self) -> bool {
        matches!(self, CharType::String | CharType::BString | CharType::EString | 
                      CharType::NQString | CharType::QString | 
                      CharType::UString | CharType::XString)
    }
    
    pub fn is_operator(&self) -> bool {
        matches!(self, CharType::Op1 | CharType::Op2 | CharType::Unary)
    }
    
    pub fn is_number(&self) -> bool {
        matches!(self, CharType::Number)
    }
}

// Helper for getting character type
pub fn get_char_type(ch: u8) -> CharType {
    CHAR_MAP[ch as usize]
}