//! Kubernetes naming rules, checked at plan time so a typo fails before any request.

/// RFC 1123 label: lower-case alphanumerics and `-`, starting and ending alphanumeric,
/// at most 63 characters. Namespaces and many names must be labels.
pub fn dns1123_label(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("{s:?} must be 1 to 63 characters long"));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !s.chars().all(ok_char) || !s.starts_with(alnum) || !s.ends_with(alnum) {
        return Err(format!(
            "{s:?} is not a valid DNS-1123 label: use lower-case letters, digits and '-', \
             starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters. Most object names.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err(format!("{s:?} must be 1 to 253 characters long"));
    }
    if s.split('.').all(|l| dns1123_label(l).is_ok()) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid DNS-1123 subdomain: use lower-case letters, digits, '-' \
             and '.', each part starting and ending with a letter or digit"
        ))
    }
}

/// The looser rule of kinds whose names are path segments only (RBAC: `system:auth`).
pub fn path_segment(s: &str) -> Result<(), String> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('%') {
        return Err(format!(
            "{s:?} is not a valid name: it must not be empty, '.', '..' or contain '/' or '%'"
        ));
    }
    Ok(())
}

/// A label or annotation key: optional `prefix/` (a DNS subdomain) and a name of at most
/// 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
pub fn qualified_key(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        dns1123_subdomain(p).map_err(|e| format!("key {s:?}: prefix {e}"))?;
    }
    if name.is_empty() || name.len() > 63 || !is_label_value(name) {
        return Err(format!(
            "key {s:?} is not valid: the name part must be 1 to 63 letters, digits, '-', '_' \
             or '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A label value: empty, or at most 63 alphanumerics, `-`, `_`, `.`, starting and ending
/// alphanumeric.
pub fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() || (s.len() <= 63 && is_label_value(s)) {
        Ok(())
    } else {
        Err(format!(
            "label value {s:?} is not valid: at most 63 letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit"
        ))
    }
}

fn is_label_value(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

/// A DNS name in a certificate: a subdomain, optionally with a leading `*.` wildcard.
/// Upper case is allowed (it is not a Kubernetes name).
pub fn dns_name(s: &str) -> Result<(), String> {
    let rest = s.strip_prefix("*.").unwrap_or(s);
    dns1123_subdomain(&rest.to_ascii_lowercase())
        .map_err(|_| format!("{s:?} is not a valid DNS name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(dns1123_label("istio-system").is_ok());
        for bad in ["", "Istio", "-a", "a-", "a.b", &"a".repeat(64)] {
            assert!(dns1123_label(bad).is_err(), "{bad}");
        }
        assert!(dns1123_subdomain("widgets.example.com").is_ok());
        assert!(dns1123_subdomain("a..b").is_err());
        assert!(dns1123_subdomain("Upper.case").is_err());
        assert!(path_segment("system:auth-delegator").is_ok());
        assert!(path_segment("a/b").is_err());
    }

    #[test]
    fn label_keys_values_and_dns_names() {
        assert!(qualified_key("istio-injection").is_ok());
        assert!(qualified_key("eks.amazonaws.com/role-arn").is_ok());
        assert!(qualified_key("bad key").is_err());
        assert!(qualified_key("Bad_Prefix/x").is_err());
        assert!(label_value("enabled").is_ok());
        assert!(label_value("").is_ok());
        assert!(label_value("-x").is_err());
        assert!(dns_name("*.mesh.example.com").is_ok());
        assert!(dns_name("Istiod.Istio-System.svc").is_ok());
        assert!(dns_name("a b").is_err());
    }
}
