//! AWS calls of several stacks applied at once in one process, as a fleet applies its
//! members: each stack has its own `aws` provider, yet all their calls to one account and
//! region draw on one pacer (IAM's quotas are the account's, whatever the region). A proxy in front of moto counts every request that reached
//! it; each one must have been granted by that shared pacer, within its budget.

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::fault_proxy::FaultProxy;
use common::stand_ins::Moto;
use trustplane::apply::Silent;
use trustplane::graph::walk::Cancel;
use trustplane::ops::apply::{apply, ExecuteParams};
use trustplane::ops::locked::StateSpec;
use trustplane::ops::plan::{plan, PlanOptions};
use trustplane::ops::prepare::{prepare, PrepareParams};
use trustplane::ops::stack::PkiChecks;
use trustplane::ops::Hooks;
use trustplane::provider::aws::pacing::{Account, PacerKey, PacerRegistry};
use trustplane::provider::aws::AwsProvider;
use trustplane::provider::core::CoreProvider;
use trustplane::provider::Registry;

const STACKS: usize = 4;
const CREATE: &str = "acm-pca:CreateCertificateAuthority";

fn stack(i: usize, endpoint: &str) -> String {
    format!(
        "stack: paced-{i}\nproviders:\n  aws:\n    region: us-east-1\n    endpoint: {endpoint}\n\
         resources:\n  root_ca:\n    type: aws.pca.certificate_authority\n    properties:\n      \
         kind: root\n      subject: {{common_name: Paced Root {i}, organization: Example}}\n      \
         key_algorithm: RSA_2048\n      signing_algorithm: SHA256WITHRSA\n      validity: 10y\n  \
         policy:\n    type: aws.iam.policy\n    properties:\n      name: paced-{i}\n      document:\n        \
         Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            \
         Action: [acm-pca:IssueCertificate]\n            Resource: ${{root_ca.arn}}\n"
    )
}

/// Prepares, plans and applies one stack with a registry (and so an `aws` provider) of
/// its own, as each member of a fleet has.
async fn apply_stack(dir: PathBuf, i: usize, endpoint: String) {
    let file = dir.join(format!("paced-{i}.yaml"));
    std::fs::write(&file, stack(i, &endpoint)).unwrap();
    let params = PrepareParams {
        file,
        vars: Default::default(),
        state: StateSpec {
            dir: Some(dir.join(format!("state-{i}"))),
            ..StateSpec::default()
        },
        command: "apply".into(),
        pki: PkiChecks::Warn,
        parallelism: 4,
        offline: false,
    };
    let registry = Arc::new(Registry::new(vec![
        Arc::new(CoreProvider),
        Arc::new(AwsProvider::with_credentials("testing", "testing")),
    ]));
    let hooks = Hooks::silent();
    let prepared = prepare(&params, &registry, &hooks).await.unwrap();
    let planned = plan(&prepared, &registry, &PlanOptions::default(), &hooks)
        .await
        .unwrap();
    let summary = apply(
        &prepared,
        &planned,
        registry.clone(),
        ExecuteParams {
            parallelism: 4,
            cancel: Cancel::default(),
            progress: Arc::new(Silent),
        },
    )
    .await;
    assert!(summary.succeeded, "stack {i}: {:?}", summary.diagnostics);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacks_applied_at_once_share_one_pacer_per_account_and_region() {
    let moto = Moto::start();
    // Its own endpoint, so no other test of this process draws on the same budget.
    let proxy = FaultProxy::start(&moto.url);
    let endpoint = proxy.url();
    let dir = tempfile::tempdir().unwrap();
    let mut applies = tokio::task::JoinSet::new();
    for i in 0..STACKS {
        applies.spawn(apply_stack(dir.path().to_path_buf(), i, endpoint.clone()));
    }
    while let Some(done) = applies.join_next().await {
        done.unwrap();
    }

    let statuses = moto.ca_statuses();
    assert_eq!(statuses.len(), STACKS, "{statuses:?}");
    assert!(statuses.iter().all(|(_, s)| s == "ACTIVE"), "{statuses:?}");

    // One budget per account and region for the four providers: their account (the
    // access key stands in for it) in us-east-1 at this endpoint, and the account's
    // global one for IAM.
    let registry = PacerRegistry::global();
    let keys: Vec<PacerKey> = registry
        .keys()
        .into_iter()
        .filter(|k| k.endpoint.as_deref() == Some(endpoint.as_str()))
        .collect();
    let key = |region: Option<&str>| PacerKey {
        endpoint: Some(endpoint.clone()),
        account: Account::AccessKey("testing".into()),
        region: region.map(str::to_string),
    };
    assert_eq!(keys, vec![key(None), key(Some("us-east-1"))]);
    let iam = registry.get(&keys[0]).unwrap().all_grants();
    let pacer = registry.get(&keys[1]).unwrap();
    let grants = pacer.all_grants();
    assert!(iam.iter().all(|(op, _)| op.starts_with("iam:")), "{iam:?}");
    assert!(
        grants.iter().all(|(op, _)| op.starts_with("acm-pca:")),
        "{grants:?}"
    );

    // Every request that reached moto was granted by one of them first.
    let granted: u64 = grants.iter().chain(&iam).map(|(_, g)| g.count).sum();
    assert_eq!(
        granted,
        u64::from(proxy.forwarded()),
        "requests that bypassed the pacers: {grants:?} {iam:?}"
    );
    // And the pacer held every operation to its budget, creates included: four creates
    // at 1/s are spread over at least three seconds of release times, whatever the
    // machine's speed.
    let creates = pacer.grants(CREATE).unwrap();
    assert_eq!(creates.count, STACKS as u64);
    assert!(creates.span >= Duration::from_secs(3), "{creates:?}");
    for (op, g) in grants.iter().chain(&iam) {
        assert!(g.within_budget(op), "{op}: {g:?}");
    }
}
