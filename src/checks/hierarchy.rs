//! The CA hierarchy and what it issues: path lengths leave room for every CA below, each
//! validity nests inside its issuer's, and certificate lifetimes respect cert-manager's
//! minimums and a short-lived CA's 7-day limit.

use std::time::Duration;

use super::issuance::Issuance;
use super::view::{at, field, View, CA};
use crate::config::ResourceDecl;
use crate::diag::Diagnostic;
use crate::duration::format;

pub const PATH_LENGTH_EXHAUSTED: &str = "pki::path_length_exhausted";
pub const PATH_LENGTH_EXCEEDS_PARENT: &str = "pki::path_length_exceeds_parent";
pub const VALIDITY_EXCEEDS_PARENT: &str = "pki::validity_exceeds_parent";
pub const DURATION_EXCEEDS_CA: &str = "pki::duration_exceeds_ca";
pub const RENEW_BEFORE_NOT_SHORTER: &str = "pki::renew_before_not_shorter";
pub const DURATION_TOO_SHORT: &str = "pki::duration_too_short";
pub const RENEW_BEFORE_TOO_SHORT: &str = "pki::renew_before_too_short";
pub const SHORT_LIVED_CA_DURATION: &str = "pki::short_lived_ca_duration";
pub const EXTERNAL_PARENT_UNCHECKED: &str = "pki::external_parent_unchecked";
pub const PARENT_OF_EXISTING_CA: &str = "pki::parent_of_existing_ca";
pub const EXISTING_CA_UNCHECKED: &str = "pki::existing_ca_unchecked";

/// Whether a CA is used by ARN rather than created: `existing_arn` set, and not empty.
/// `None` when that is not known before apply.
fn is_existing(view: &View<'_>, ca: &ResourceDecl) -> Option<bool> {
    match view.node(ca, &["existing_arn"]) {
        None => Some(false),
        Some(_) => view.string(ca, &["existing_arn"]).map(|a| !a.is_empty()),
    }
}

/// cert-manager's default `spec.duration` when a Certificate gives none.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(90 * 86_400);
/// cert-manager rejects a Certificate shorter than this.
pub const MIN_DURATION: Duration = Duration::from_secs(3_600);
/// cert-manager rejects a renewBefore shorter than this.
pub const MIN_RENEW_BEFORE: Duration = Duration::from_secs(300);
/// The longest certificate a `short_lived_certificate` CA signs.
pub const SHORT_LIVED_MAX: Duration = Duration::from_secs(7 * 86_400);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Root,
    Subordinate,
}

fn kind(view: &View<'_>, ca: &ResourceDecl) -> Option<Kind> {
    match view.string(ca, &["kind"])?.as_str() {
        "root" => Some(Kind::Root),
        "subordinate" => Some(Kind::Subordinate),
        _ => None,
    }
}

/// How many CA levels may follow below a CA: `None` is no limit (a root) or not known.
/// A subordinate without `path_length` gets PCA's PathLen0 template.
fn room_below(view: &View<'_>, ca: &ResourceDecl) -> Option<i64> {
    match kind(view, ca)? {
        Kind::Root => None,
        Kind::Subordinate => match view.node(ca, &["path_length"]) {
            None => Some(0),
            Some(_) => view.int(ca, &["path_length"]),
        },
    }
}

/// Why `n` is the path length, for messages.
fn path_length_text(view: &View<'_>, ca: &ResourceDecl, n: i64) -> String {
    if view.node(ca, &["path_length"]).is_none() {
        format!("path_length is {n} (the default)")
    } else {
        format!("path_length is {n}")
    }
}

/// A certificate's duration as cert-manager will use it: `None` when not known yet.
fn cert_duration(view: &View<'_>, cert: &ResourceDecl) -> Option<(Duration, String)> {
    match view.node(cert, &["duration"]) {
        None => Some((
            DEFAULT_DURATION,
            format!("{} (cert-manager's default)", format(DEFAULT_DURATION)),
        )),
        Some(_) => {
            let text = view.string(cert, &["duration"])?;
            Some((crate::duration::parse(&text).ok()?, text))
        }
    }
}

pub fn check_chain(view: &View<'_>, out: &mut Vec<Diagnostic>) {
    for ca in view.of_type(CA) {
        if kind(view, ca) != Some(Kind::Subordinate) {
            continue;
        }
        let Some(parent_node) = view.node(ca, &["parent"]) else {
            continue;
        };
        if is_existing(view, ca) != Some(false) {
            // A CA used by ARN is signed already: nothing below is created from its parent.
            if let (Some(true), Some(parent)) =
                (is_existing(view, ca), view.linked(parent_node, CA))
            {
                if is_existing(view, parent) == Some(false) {
                    out.push(
                        at(
                            Diagnostic::error(
                                PARENT_OF_EXISTING_CA,
                                format!(
                                    "CA {} is used by its existing_arn, but its parent CA {} would still be created, a billed CA that signs nothing",
                                    ca.name, parent.name
                                ),
                            ),
                            view,
                            parent,
                            &["existing_arn"],
                        )
                        .with_help(format!(
                            "give {} the existing_arn of the CA that signed {} too (in the flagship stack: --var root_ca_arn=...)",
                            parent.name, ca.name
                        )),
                    );
                }
            }
            continue;
        }
        let Some(parent) = view.linked(parent_node, CA) else {
            // A parent outside the stack (a central PKI account, another region) is not
            // read before apply: say so rather than pass it silently.
            let path_length = room_below(view, ca)
                .map(|n| format!("path_length {n}"))
                .unwrap_or_else(|| "its path_length".into());
            let named = view
                .eval(parent_node)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "a CA given by value".into());
            out.push(
                at(
                    Diagnostic::warning(
                        EXTERNAL_PARENT_UNCHECKED,
                        format!(
                            "subordinate CA {} is signed by {named}, outside this stack: whether its path length leaves room for {path_length} and its validity outlasts {}'s cannot be checked before apply",
                            ca.name, ca.name
                        ),
                    ),
                    view,
                    ca,
                    &["parent"],
                )
                .with_detail(
                    "apply reads the parent first (DescribeCertificateAuthority) and stops if it is not ACTIVE or ends too soon; PCA itself refuses a path length the parent's certificate does not allow",
                )
                .with_help(
                    "check the parent's path length (its BasicConstraints pathLenConstraint) is greater than this CA's path_length",
                ),
            );
            continue;
        };
        if let (Some(room), Some(own)) = (room_below(view, parent), room_below(view, ca)) {
            if own > room - 1 {
                let (path, summary) = if room == 0 {
                    (
                        vec!["parent"],
                        format!(
                            "subordinate CA {} is signed by CA {}, whose {}: {} cannot sign a CA",
                            ca.name,
                            parent.name,
                            path_length_text(view, parent, room),
                            parent.name
                        ),
                    )
                } else {
                    (
                        vec!["path_length"],
                        format!(
                            "subordinate CA {} has path_length {own}, but its parent CA {} has path_length {room}, which leaves room for at most {} below it",
                            ca.name,
                            parent.name,
                            room - 1
                        ),
                    )
                };
                out.push(
                    at(
                        Diagnostic::error(PATH_LENGTH_EXCEEDS_PARENT, summary),
                        view,
                        ca,
                        &path,
                    )
                    .with_detail(format!(
                        "a CA with path_length N can only sign CAs whose path_length is at most N-1 ({})",
                        field(parent, &["path_length"])
                    ))
                    .with_help(format!(
                        "raise path_length on {} to at least {}, or lower path_length on {} to {}",
                        parent.name,
                        own + 1,
                        ca.name,
                        (room - 1).max(0)
                    )),
                );
            }
        }
        if let (Some(own), Some(theirs)) = (
            view.duration(ca, &["validity"]),
            view.duration(parent, &["validity"]),
        ) {
            if own >= theirs {
                out.push(
                    at(
                        Diagnostic::error(
                            VALIDITY_EXCEEDS_PARENT,
                            format!(
                                "subordinate CA {} has validity {}, which does not end before its parent CA {} (validity {})",
                                ca.name,
                                view.string(ca, &["validity"]).unwrap_or_default(),
                                parent.name,
                                view.string(parent, &["validity"]).unwrap_or_default()
                            ),
                        ),
                        view,
                        ca,
                        &["validity"],
                    )
                    .with_detail(format!(
                        "PCA cannot sign a CA certificate that outlives its issuer ({})",
                        field(parent, &["validity"])
                    ))
                    .with_help(format!(
                        "make {}'s validity shorter than {} (e.g. {} for a {} parent)",
                        ca.name,
                        format(theirs),
                        format(theirs / 2),
                        format(theirs)
                    )),
                );
            }
        }
    }
}

pub fn check_issued(view: &View<'_>, issued: &[Issuance<'_>], out: &mut Vec<Diagnostic>) {
    for i in issued {
        let Some(ca) = i.ca else { continue };
        let through = format!("through issuer {} by CA {}", i.issuer.name, ca.name);
        if is_existing(view, ca) == Some(true) && view.bool(i.cert, &["is_ca"]) == Some(true) {
            // Its path length is PCA's, not the stack's: say it is unchecked, never pass it.
            out.push(
                at(
                    Diagnostic::warning(
                        EXISTING_CA_UNCHECKED,
                        format!(
                            "certificate {} (is_ca: true) is issued {through}, an existing CA used by ARN: whether its path length lets it sign a CA cannot be checked before apply",
                            i.cert.name
                        ),
                    ),
                    view,
                    ca,
                    &["existing_arn"],
                )
                .with_help(format!(
                    "make sure {} was created with path_length 1 or more (its certificate's pathLenConstraint); with 0, cert-manager's CertificateRequest fails",
                    ca.name
                )),
            );
        }
        if view.bool(i.cert, &["is_ca"]) == Some(true) && room_below(view, ca) == Some(0) {
            out.push(
                at(
                    Diagnostic::error(
                        PATH_LENGTH_EXHAUSTED,
                        format!(
                            "certificate {} (is_ca: true) is issued {through}, whose {}: {} cannot sign a CA",
                            i.cert.name,
                            path_length_text(view, ca, 0),
                            ca.name
                        ),
                    ),
                    view,
                    i.cert,
                    &["is_ca"],
                )
                .with_detail(format!(
                    "aws-privateca-issuer signs CA certificates with PCA's SubordinateCACertificate_PathLen0/V1 template, \
                     which a CA with path_length 0 may not use ({})",
                    field(ca, &["path_length"])
                ))
                .with_help(format!(
                    "set path_length: 1 (or more) on {}; PCA fixes it when the CA is created, so {} will be replaced",
                    ca.name, ca.name
                )),
            );
        }
        let Some((duration, duration_text)) = cert_duration(view, i.cert) else {
            continue;
        };
        if let Some(validity) = view.duration(ca, &["validity"]) {
            if duration >= validity {
                out.push(
                    at(
                        Diagnostic::error(
                            DURATION_EXCEEDS_CA,
                            format!(
                                "certificate {} has duration {duration_text}, which does not fit inside the validity of CA {} ({}) that issues it through issuer {}",
                                i.cert.name,
                                ca.name,
                                view.string(ca, &["validity"]).unwrap_or_default(),
                                i.issuer.name
                            ),
                        ),
                        view,
                        i.cert,
                        &["duration"],
                    )
                    .with_detail(format!(
                        "PCA cannot issue a certificate that outlives the CA ({})",
                        field(ca, &["validity"])
                    ))
                    .with_help(format!(
                        "shorten duration below {} (the guide uses 2160h), or lengthen the CA's validity",
                        format(validity)
                    )),
                );
            }
        }
        if view.string(ca, &["usage_mode"]).as_deref() == Some("short_lived_certificate")
            && duration > SHORT_LIVED_MAX
        {
            out.push(
                at(
                    Diagnostic::error(
                        SHORT_LIVED_CA_DURATION,
                        format!(
                            "certificate {} has duration {duration_text}, but CA {} (usage_mode: short_lived_certificate) signs certificates of at most 7d",
                            i.cert.name, ca.name
                        ),
                    ),
                    view,
                    i.cert,
                    &["duration"],
                )
                .with_detail(format!(
                    "it is issued through issuer {}; a short-lived CA rejects longer requests ({})",
                    i.issuer.name,
                    field(ca, &["usage_mode"])
                ))
                .with_help(format!(
                    "set duration to 168h or less, or use usage_mode: general_purpose on {} (this replaces the CA)",
                    ca.name
                )),
            );
        }
    }
}

/// cert-manager's own rules on a Certificate's lifetimes, checked for every certificate.
pub fn check_lifetimes(view: &View<'_>, out: &mut Vec<Diagnostic>) {
    for cert in view.of_type(super::view::CERTIFICATE) {
        let duration = cert_duration(view, cert);
        let renew = view
            .string(cert, &["renew_before"])
            .and_then(|t| crate::duration::parse(&t).ok().map(|d| (d, t)));
        if let Some((d, text)) = &duration {
            if view.node(cert, &["duration"]).is_some() && *d < MIN_DURATION {
                out.push(
                    at(
                        Diagnostic::error(
                            DURATION_TOO_SHORT,
                            format!(
                                "certificate {} has duration {text}, shorter than cert-manager's minimum of 1h",
                                cert.name
                            ),
                        ),
                        view,
                        cert,
                        &["duration"],
                    )
                    .with_detail("cert-manager rejects a Certificate whose spec.duration is under 1h")
                    .with_help("use 1h or more; the guide's Istio CA uses 2160h"),
                );
            }
        }
        if let Some((r, rtext)) = &renew {
            if *r < MIN_RENEW_BEFORE {
                out.push(
                    at(
                        Diagnostic::error(
                            RENEW_BEFORE_TOO_SHORT,
                            format!(
                                "certificate {} has renew_before {rtext}, shorter than cert-manager's minimum of 5m",
                                cert.name
                            ),
                        ),
                        view,
                        cert,
                        &["renew_before"],
                    )
                    .with_detail("cert-manager rejects a Certificate whose spec.renewBefore is under 5m")
                    .with_help("use 5m or more; the guide renews its 2160h Istio CA 360h before expiry"),
                );
            }
            if let Some((d, dtext)) = &duration {
                if r >= d {
                    out.push(
                        at(
                            Diagnostic::error(
                                RENEW_BEFORE_NOT_SHORTER,
                                format!(
                                    "certificate {} has renew_before {rtext}, which is not shorter than its duration {dtext}",
                                    cert.name
                                ),
                            ),
                            view,
                            cert,
                            &["renew_before"],
                        )
                        .with_detail(format!(
                            "cert-manager would renew the certificate as soon as it is issued, forever ({})",
                            field(cert, &["duration"])
                        ))
                        .with_help("make renew_before a fraction of duration, e.g. 360h for 2160h"),
                    );
                }
            }
        }
    }
}
