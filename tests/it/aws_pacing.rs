//! AWS calls of several stacks applied at once in one process, as a fleet applies its
//! members: each stack has its own `aws` provider, yet all their calls to one account and
//! region draw on one pacer (IAM's quotas are the account's, whatever the region). A proxy
//! in front of moto counts every request that reached it; each one must have been granted
//! by that shared pacer, within its budget. The same proxy, throttling past a rate as AWS
//! does, shows every stack slowing down together and still converging.

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::fault_proxy::{Fault, FaultProxy, Rule};
use common::stand_ins::Moto;
use trustplane::apply::Silent;
use trustplane::graph::walk::Cancel;
use trustplane::ops::apply::{apply, ExecuteParams};
use trustplane::ops::locked::StateSpec;
use trustplane::ops::plan::{plan, PlanOptions};
use trustplane::ops::prepare::{prepare, PrepareParams};
use trustplane::ops::stack::PkiChecks;
use trustplane::ops::Hooks;
use trustplane::provider::aws::pacing::{quota, Account, Pacer, PacerKey, PacerRegistry};
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
async fn apply_stack(dir: PathBuf, i: usize, text: String) {
    let file = dir.join(format!("paced-{i}.yaml"));
    std::fs::write(&file, text).unwrap();
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
        applies.spawn(apply_stack(
            dir.path().to_path_buf(),
            i,
            stack(i, &endpoint),
        ));
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
    for (op, g) in &grants {
        let rate = quota(op).unwrap_or_else(|| panic!("{op} has a quota"));
        assert!(g.within(rate), "{op}: {g:?}");
    }
    // IAM documents no rates: its calls went unpaced, and nothing was throttled.
    for (op, _) in &iam {
        assert_eq!(pacer_of(&registry, &keys[0]).rate(op), None, "{op}");
    }
    assert_eq!(proxy.faulted(), 0);
}

fn pacer_of(registry: &PacerRegistry, key: &PacerKey) -> Arc<Pacer> {
    registry.get(key).expect("a pacer for the key")
}

/// A stack that reads its EKS cluster and creates an IAM policy.
fn throttled_stack(i: usize, endpoint: &str) -> String {
    format!(
        "stack: throttled-{i}\nproviders:\n  aws:\n    region: us-east-1\n    endpoint: {endpoint}\n\
         resources:\n  cluster:\n    type: aws.eks.cluster\n    mode: data\n    properties: {{name: c{i}}}\n  \
         policy:\n    type: aws.iam.policy\n    properties:\n      name: throttled-{i}\n      \
         description: ${{cluster.arn}}\n      document:\n        Version: \"2012-10-17\"\n        \
         Statement:\n          - Effect: Allow\n            Action: [eks:DescribeCluster]\n            \
         Resource: ${{cluster.arn}}\n"
    )
}

/// IAM and EKS publish no request rates, so their calls go unpaced until the service
/// throttles; a throttle then slows that operation down for every stack of the account,
/// and the throttled calls (which the service did not act on) are tried again until they
/// pass. Against a proxy that answers as AWS does past 8 requests a second, many stacks
/// applied at once all succeed, each policy is created once, and every throttle reached
/// the shared pacers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_calls_slow_every_stack_down_and_still_converge() {
    const THROTTLED_STACKS: usize = 8;
    let moto = Moto::start();
    let mut setup =
        String::from("eks = boto3.client('eks', endpoint_url=endpoint, region_name=region)\n");
    for i in 0..THROTTLED_STACKS {
        setup.push_str(&format!(
            "eks.create_cluster(name='c{i}', roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={{}})\n"
        ));
    }
    moto.boto3(&setup);
    let proxy = FaultProxy::start(&moto.url);
    proxy.set(Rule::all(Fault::Throttle { per_second: 8.0 }));
    let endpoint = proxy.url();
    let dir = tempfile::tempdir().unwrap();
    let mut applies = tokio::task::JoinSet::new();
    for i in 0..THROTTLED_STACKS {
        let text = throttled_stack(i, &endpoint);
        applies.spawn(apply_stack(dir.path().to_path_buf(), i, text));
    }
    while let Some(done) = applies.join_next().await {
        done.unwrap();
    }

    // The service did throttle (the stacks sent faster than it allows) ...
    let throttles = proxy.faulted();
    assert!(
        throttles > 0,
        "nothing was throttled: the test proves nothing"
    );
    // ... and every throttle was heard by the pacer the call went through, which now
    // holds the operations AWS throttled (unpaced before) to a rate.
    let registry = PacerRegistry::global();
    let mut heard = 0;
    for key in registry.keys() {
        if key.endpoint.as_deref() != Some(endpoint.as_str()) {
            continue;
        }
        let pacer = pacer_of(&registry, &key);
        for (op, g) in pacer.all_grants() {
            heard += g.throttled;
            if g.throttled > 0 {
                assert!(
                    pacer.rate(&op).is_some(),
                    "{op} was throttled, yet is not held"
                );
            }
        }
    }
    assert_eq!(heard, u64::from(throttles));

    // Each policy exists once: a throttled create did nothing, its retry made it.
    let out = moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         names = [p['PolicyName'] for p in iam.list_policies(Scope='Local')['Policies']]\n\
         print(json.dumps(sorted(names)))",
    );
    let names: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    let mut expected: Vec<String> = (0..THROTTLED_STACKS)
        .map(|i| format!("throttled-{i}"))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}
