//! Role-based access: roles grant permission strings and inherit other roles' permissions
//! (`viewer < analyst < senior_analyst < investigator < admin < super_admin`). The inheritance
//! is flattened once at start, so a check is a set lookup.

use std::collections::{BTreeSet, HashMap};

use crate::config::RoleConfig;

/// Every role with its full, inherited set of permissions.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    permissions: HashMap<String, BTreeSet<String>>,
    /// Roles whose holders must sign in with a second factor.
    require_mfa: BTreeSet<String>,
}

impl Roles {
    /// Flattens inheritance; fails on a reference to an unknown role or a cycle, naming it.
    pub fn build(roles: &[RoleConfig]) -> Result<Self, String> {
        let by_name: HashMap<&str, &RoleConfig> =
            roles.iter().map(|r| (r.name.as_str(), r)).collect();
        let mut permissions = HashMap::new();
        for role in roles {
            let mut granted = BTreeSet::new();
            let mut path = Vec::new();
            collect(role, &by_name, &mut granted, &mut path)?;
            permissions.insert(role.name.clone(), granted);
        }
        let require_mfa = roles
            .iter()
            .filter(|r| r.require_mfa)
            .map(|r| r.name.clone())
            .collect();
        Ok(Self {
            permissions,
            require_mfa,
        })
    }

    pub fn is_defined(&self, role: &str) -> bool {
        self.permissions.contains_key(role)
    }

    /// The role's permissions, inherited ones included.
    pub fn permissions_of(&self, role: &str) -> Vec<&str> {
        self.permissions
            .get(role)
            .map(|p| p.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.permissions.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Must a user with these roles have signed in with a second factor?
    pub fn requires_mfa(&self, user_roles: &[String]) -> bool {
        user_roles
            .iter()
            .any(|role| self.require_mfa.contains(role))
    }

    /// Does any role grant `permission`?
    pub fn grants_anyone(&self, permission: &str) -> bool {
        self.permissions
            .values()
            .any(|granted| granted.contains(permission))
    }

    /// Does any of `user_roles` grant `permission`? Unknown role names grant nothing.
    pub fn allows(&self, user_roles: &[String], permission: &str) -> bool {
        user_roles
            .iter()
            .filter_map(|role| self.permissions.get(role))
            .any(|granted| granted.contains(permission))
    }
}

fn collect<'a>(
    role: &'a RoleConfig,
    by_name: &HashMap<&str, &'a RoleConfig>,
    granted: &mut BTreeSet<String>,
    path: &mut Vec<&'a str>,
) -> Result<(), String> {
    if path.contains(&role.name.as_str()) {
        path.push(&role.name);
        return Err(format!("roles inherit in a circle: {}", path.join(" -> ")));
    }
    path.push(&role.name);
    granted.extend(role.permissions.iter().cloned());
    for parent in &role.inherits {
        let parent = by_name.get(parent.as_str()).ok_or_else(|| {
            format!(
                "role `{}` inherits `{parent}`, which is not defined",
                role.name
            )
        })?;
        collect(parent, by_name, granted, path)?;
    }
    path.pop();
    Ok(())
}

/// Role names are plain so they survive headers, tokens and shells unchanged.
pub fn valid_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, permissions: &[&str], inherits: &[&str]) -> RoleConfig {
        RoleConfig {
            name: name.into(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            inherits: inherits.iter().map(|p| p.to_string()).collect(),
            require_mfa: false,
        }
    }

    fn ladder() -> Vec<RoleConfig> {
        vec![
            role("viewer", &["reports:read"], &[]),
            role("analyst", &["reports:write"], &["viewer"]),
            role("senior_analyst", &["reports:approve"], &["analyst"]),
            role("investigator", &["cases:read"], &["senior_analyst"]),
            role("admin", &["users:manage"], &["investigator"]),
            role("super_admin", &["system:configure"], &["admin"]),
        ]
    }

    #[test]
    fn permissions_flow_down_the_ladder() {
        let roles = Roles::build(&ladder()).unwrap();
        let has = |role: &str, permission: &str| roles.allows(&[role.to_owned()], permission);
        assert!(has("super_admin", "reports:read"));
        assert!(has("admin", "cases:read"));
        assert!(!has("admin", "system:configure"));
        assert!(has("analyst", "reports:read"));
        assert!(!has("viewer", "reports:write"));
        assert!(!has("ghost", "reports:read"), "unknown roles grant nothing");
        assert!(roles.allows(&["viewer".into(), "analyst".into()], "reports:write"));
    }

    #[test]
    fn cycles_and_unknown_parents_are_named() {
        let err = Roles::build(&[role("a", &[], &["b"]), role("b", &[], &["a"])]).unwrap_err();
        assert!(err.contains("a -> b -> a"), "{err}");
        let err = Roles::build(&[role("a", &[], &["nope"])]).unwrap_err();
        assert!(err.contains("`nope`, which is not defined"), "{err}");
    }

    #[test]
    fn role_names_are_plain() {
        assert!(valid_role_name("senior_analyst"));
        assert!(!valid_role_name("Admin"));
        assert!(!valid_role_name("a,b"));
        assert!(!valid_role_name(""));
    }
}
