//! Key storage a CA's region can give: PCA refuses its FIPS 140-2 level-3 default in the
//! regions whose HSMs are validated at level 2 only, and the China regions store keys
//! under CCPC only.

use super::view::{at, View, CA};
use crate::diag::Diagnostic;
use crate::provider::aws::pca::{default_key_storage, key_storage_refusal};

pub const KEY_STORAGE_UNSUPPORTED: &str = "pki::key_storage_unsupported";

pub fn check(view: &View<'_>, out: &mut Vec<Diagnostic>) {
    for ca in view.of_type(CA) {
        let Some(standard) = view.string(ca, &["key_storage_security_standard"]) else {
            continue;
        };
        if view
            .string(ca, &["existing_arn"])
            .is_some_and(|a| !a.is_empty())
        {
            continue; // not created here
        }
        let (region, whence) = match view.node(ca, &["region"]) {
            Some(_) => match view.string(ca, &["region"]) {
                Some(r) => (r, "its `region`"),
                None => continue,
            },
            None => match view.aws_region() {
                Some(r) => (r, "providers.aws.region"),
                None => continue,
            },
        };
        if let Some(why) = key_storage_refusal(&region, &standard) {
            out.push(
                at(
                    Diagnostic::error(
                        KEY_STORAGE_UNSUPPORTED,
                        format!("CA {}: {why}", ca.name),
                    ),
                    view,
                    ca,
                    &["key_storage_security_standard"],
                )
                .with_detail(format!(
                    "the CA is created in {region} ({whence}); CreateCertificateAuthority would fail there with InvalidArgsException"
                ))
                .with_help(format!(
                    "set key_storage_security_standard: {} or leave it out to get the region's default",
                    default_key_storage(&region)
                )),
            );
        }
    }
}
