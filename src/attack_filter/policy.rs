//! Per-route filter settings: off, detect-only or block; the anomaly score that blocks; and
//! exclusions for the places where a route legitimately receives attack-shaped input (a code
//! field on a developer chat, HTML in a CMS body).
//!
//! An exclusion is written `[FAMILY@]LOCATION[:NAME]` or just `FAMILY`:
//! `"body:content"` (nothing checked in the JSON field `content`), `"sqli@query:q"` (no SQL
//! checks on the query parameter `q`), `"header:user-agent"`, `"xss@body"`, `"lfi"`.
//! A name ending in `*` matches every name with that prefix (`"body:messages.*"`).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::{Family, FamilySet, Location};

/// What a route does with requests the filter scores at or over the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterMode {
    /// Not inspected at all.
    Off,
    /// Inspected and logged, never refused: for tuning a route before blocking.
    Detect,
    /// Refused with 403 `attack_detected`.
    #[default]
    Block,
}

/// Anomaly score that blocks unless a route sets its own: one conclusive finding.
pub const DEFAULT_THRESHOLD: u32 = 5;

/// The filter settings of one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterPolicy {
    pub mode: FilterMode,
    pub threshold: u32,
    pub exclusions: Vec<Exclusion>,
}

impl Default for FilterPolicy {
    fn default() -> Self {
        Self {
            mode: FilterMode::Block,
            threshold: DEFAULT_THRESHOLD,
            exclusions: Vec::new(),
        }
    }
}

impl FilterPolicy {
    /// The families checked for a value at `location` named `name`.
    pub fn families_for(&self, location: Location, name: &str) -> FamilySet {
        let mut families = FamilySet::ALL;
        for exclusion in &self.exclusions {
            if !exclusion.covers(location, name) {
                continue;
            }
            match exclusion.family {
                Some(family) => families = families.without(family),
                None => return FamilySet::NONE,
            }
        }
        families
    }
}

/// One `attack_filter_exclude` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    pub family: Option<Family>,
    pub location: Option<Location>,
    pub name: Option<String>,
}

impl Exclusion {
    fn covers(&self, location: Location, name: &str) -> bool {
        if self.location.is_some_and(|l| l != location) {
            return false;
        }
        match &self.name {
            None => true,
            Some(pattern) => {
                let (pattern, prefix) = match pattern.strip_suffix('*') {
                    Some(stem) => (stem, true),
                    None => (pattern.as_str(), false),
                };
                let same = |a: &str, b: &str| match location {
                    Location::Header => a.eq_ignore_ascii_case(b),
                    _ => a == b,
                };
                if prefix {
                    name.len() >= pattern.len()
                        && name.is_char_boundary(pattern.len())
                        && same(&name[..pattern.len()], pattern)
                } else {
                    same(name, pattern)
                }
            }
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let families: Vec<&str> = Family::ALL.iter().map(|f| f.as_str()).collect();
        let (family, place) = match text.split_once('@') {
            Some((family, place)) => (Some(family), Some(place)),
            None if Family::parse(text).is_some() => (Some(text), None),
            None => (None, Some(text)),
        };
        let family = family
            .map(|name| {
                Family::parse(name).ok_or_else(|| {
                    format!(
                        "`{name}` is not an attack family; use one of {}",
                        families.join(", ")
                    )
                })
            })
            .transpose()?;
        let (location, name) = match place {
            None => (None, None),
            Some(place) => {
                let (location, name) = match place.split_once(':') {
                    Some((location, name)) if !name.is_empty() => (location, Some(name)),
                    Some((location, _)) => (location, None),
                    None => (place, None),
                };
                let location = Location::parse(location).ok_or_else(|| {
                    format!(
                        "`{location}` is not a place in a request; use path, query, header, cookie or body (as in \"sqli@query:q\")"
                    )
                })?;
                (Some(location), name.map(str::to_owned))
            }
        };
        Ok(Self {
            family,
            location,
            name,
        })
    }
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(family) = self.family {
            f.write_str(family.as_str())?;
            if self.location.is_some() {
                f.write_str("@")?;
            }
        }
        if let Some(location) = self.location {
            f.write_str(location.as_str())?;
        }
        if let Some(name) = &self.name {
            write!(f, ":{name}")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Exclusion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Exclusion::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(exclusions: &[&str]) -> FilterPolicy {
        FilterPolicy {
            exclusions: exclusions
                .iter()
                .map(|e| Exclusion::parse(e).unwrap())
                .collect(),
            ..FilterPolicy::default()
        }
    }

    #[test]
    fn exclusions_narrow_by_family_place_and_name() {
        let p = policy(&["sqli@query:q", "body:content", "header:User-Agent", "lfi"]);
        let q = p.families_for(Location::Query, "q");
        assert!(!q.contains(Family::Sqli) && q.contains(Family::Xss));
        assert!(
            p.families_for(Location::Query, "other")
                .contains(Family::Sqli)
        );
        assert!(p.families_for(Location::Body, "content").is_empty());
        assert!(p.families_for(Location::Header, "user-agent").is_empty());
        assert!(!p.families_for(Location::Cookie, "x").contains(Family::Lfi));
    }

    #[test]
    fn prefix_names_match_json_paths() {
        let p = policy(&["xss@body:messages.*"]);
        assert!(
            !p.families_for(Location::Body, "messages.content")
                .contains(Family::Xss)
        );
        assert!(
            p.families_for(Location::Body, "title")
                .contains(Family::Xss)
        );
    }

    #[test]
    fn bad_exclusions_say_what_is_allowed() {
        let err = Exclusion::parse("sql@query:q").unwrap_err();
        assert!(err.contains("sqli, xss"), "{err}");
        let err = Exclusion::parse("args:q").unwrap_err();
        assert!(err.contains("path, query, header, cookie or body"), "{err}");
        assert_eq!(
            Exclusion::parse("xss@body").unwrap().to_string(),
            "xss@body"
        );
    }
}
