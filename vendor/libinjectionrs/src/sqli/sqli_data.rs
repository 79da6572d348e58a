// This module includes the SQL data generated from libinjection's sqlparse_data.json.
include!("generated_data.rs");

/// Longest entry of [`SQL_KEYWORDS`]; no longer word can be one.
const MAX_KEYWORD_LEN: usize = 32;

/// The token type of `word` (any case), `Bareword` when it is no keyword.
pub fn lookup_word(word: &str) -> TokenType {
    lookup_word_bytes(word.as_bytes())
}

/// [`lookup_word`] on bytes. (Rampart's patch: the upper-cased word lives on the stack and
/// the table is read through a hash index, where the original allocated a `String` and
/// binary-searched 9,352 entries on every word of the input.)
pub fn lookup_word_bytes(word: &[u8]) -> TokenType {
    if word.is_empty() || word.len() > MAX_KEYWORD_LEN {
        return TokenType::Bareword;
    }
    let mut buffer = [0u8; MAX_KEYWORD_LEN];
    let upper = &mut buffer[..word.len()];
    for (to, from) in upper.iter_mut().zip(word) {
        *to = from.to_ascii_uppercase();
    }
    match keyword_type(upper) {
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

#[cfg(feature = "std")]
fn keyword_type(upper: &[u8]) -> Option<u8> {
    use std::collections::HashMap;
    use std::sync::LazyLock;
    type Index = HashMap<&'static [u8], u8, foldhash::fast::FixedState>;
    static INDEX: LazyLock<Index> = LazyLock::new(|| {
        SQL_KEYWORDS
            .iter()
            .map(|k| (k.word.as_bytes(), k.token_type))
            .collect()
    });
    INDEX.get(upper).copied()
}

#[cfg(not(feature = "std"))]
fn keyword_type(upper: &[u8]) -> Option<u8> {
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