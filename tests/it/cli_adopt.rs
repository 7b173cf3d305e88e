//! `lifecycle.adopt` and `lifecycle.retain_on_destroy` through the real binary: an
//! OIDC provider that exists already (as eksctl leaves one) is adopted and, retained,
//! outlives `destroy`; a namespace made with kubectl is adopted; adopting what does not
//! exist creates it; a failed lookup changes nothing; bad settings are validate errors.
//! An IAM policy is adopted by name and path; a PCA CA by its exact configuration, never
//! a deleted one and never one of several.

use crate::common;

use common::fault_proxy::{Fault, FaultProxy, Rule};
use common::stand_ins::{Emulator, Moto};
use common::{summary_line, Sandbox};

const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/ADOPTME";
const OLD_THUMB: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const NEW_THUMB: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn run_env(s: &Sandbox, env: &[(String, String)], args: &[&str]) -> common::Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.run_env(args, &env)
}

/// The account's OIDC providers as (ARN, thumbprints), made by the cluster's tooling.
fn oidc_providers(moto: &Moto) -> Vec<(String, Vec<String>)> {
    let out = moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         for p in iam.list_open_id_connect_providers()['OpenIDConnectProviderList']:\n    \
             t = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=p['Arn'])['ThumbprintList']\n    \
             print(p['Arn'] + ' ' + ','.join(t))",
    );
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (arn, thumbs) = l.split_once(' ').unwrap_or((l, ""));
            let thumbs = thumbs.split(',').filter(|t| !t.is_empty());
            (arn.to_string(), thumbs.map(str::to_string).collect())
        })
        .collect()
}

fn make_oidc_provider(moto: &Moto) {
    moto.boto3(&format!(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         iam.create_open_id_connect_provider(Url='{ISSUER}', ClientIDList=['sts.amazonaws.com'], ThumbprintList=['{OLD_THUMB}'])"
    ));
}

fn oidc_stack(limits: &str) -> String {
    format!(
        "stack: adopt\nproviders:\n  aws:\n    region: us-east-1\n{limits}\
         resources:\n  cluster_oidc:\n    type: aws.iam.oidc_provider\n    \
         lifecycle: {{adopt: true, retain_on_destroy: true}}\n    properties:\n      \
         url: {ISSUER}\n      thumbprints: [{NEW_THUMB}]\n"
    )
}

#[test]
fn an_existing_oidc_provider_is_adopted_and_destroy_leaves_it() {
    let moto = Moto::start();
    make_oidc_provider(&moto);
    let existing = oidc_providers(&moto);
    assert_eq!(existing.len(), 1, "{existing:?}");
    let arn = existing[0].0.clone();
    let s = Sandbox::new();
    // The adopted provider, the same provider read as data, and an IRSA role that names
    // it by its issuer URL.
    let stack = format!(
        "{}  looked_up:\n    type: aws.iam.oidc_provider\n    mode: data\n    depends_on: [cluster_oidc]\n    \
         properties: {{url: {ISSUER}}}\n  \
         role:\n    type: aws.iam.role\n    depends_on: [cluster_oidc]\n    properties:\n      name: adopt-irsa\n      \
         irsa: {{oidc_provider: {ISSUER}, namespace: cert-manager, service_account: issuer}}\n\
         outputs:\n  looked_up_arn: ${{looked_up.arn}}\n",
        oidc_stack("")
    );
    s.write("s.yaml", &stack);
    let env = moto.env();

    let plan = run_env(&s, &env, &["plan", "s.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout.contains(
            "<+ cluster_oidc (aws.iam.oidc_provider) will be adopted and updated in place"
        ),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout.contains(&arn),
        "the plan names what it adopts: {}",
        plan.all()
    );
    assert_eq!(
        summary_line(&plan.stdout),
        "Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy, 1 to read, 1 to adopt."
    );
    let json = run_env(&s, &env, &["plan", "s.yaml", "--json"]);
    assert_eq!(json.code, 0, "{}", json.all());
    let j: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let change = j["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "cluster_oidc")
        .unwrap();
    assert_eq!(change["action"], "adopt", "{change}");
    assert_eq!(change["before"]["id"], arn.as_str(), "{change}");
    assert_eq!(j["summary"]["adopt"], 1);

    let apply = run_env(&s, &env, &["apply", "s.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(
        apply
            .stdout
            .contains("1 added, 0 changed, 0 replaced, 0 destroyed, 1 adopted"),
        "{}",
        apply.all()
    );
    assert_eq!(
        oidc_providers(&moto),
        vec![(arn.clone(), vec![NEW_THUMB.to_string()])],
        "one provider, brought to the stack's thumbprints"
    );
    let out = run_env(&s, &env, &["output", "looked_up_arn", "-f", "s.yaml"]);
    assert_eq!(out.stdout.trim(), arn, "{}", out.all());
    let again = run_env(&s, &env, &["plan", "s.yaml"]);
    assert!(again.stdout.contains("No changes."), "{}", again.all());

    let destroy = run_env(&s, &env, &["destroy", "s.yaml", "--auto-approve"]);
    assert_eq!(destroy.code, 0, "{}", destroy.all());
    assert!(
        destroy
            .stdout
            .contains(". cluster_oidc (aws.iam.oidc_provider) will be forgotten, not deleted (retain_on_destroy)"),
        "{}",
        destroy.all()
    );
    assert!(destroy.stdout.contains("1 forgotten"), "{}", destroy.all());
    assert_eq!(
        oidc_providers(&moto).len(),
        1,
        "the provider outlives destroy"
    );
    assert!(s.state_list("s.yaml").is_empty(), "state forgets it");
}

#[test]
fn a_failed_lookup_while_adopting_is_an_error_that_changes_nothing() {
    let moto = Moto::start();
    make_oidc_provider(&moto);
    let proxy = FaultProxy::start(&moto.url);
    let s = Sandbox::new();
    s.write(
        "s.yaml",
        &oidc_stack("    timeout: 2s\n    max_attempts: 2\n"),
    );
    let mut env = moto.env();
    for (k, v) in &mut env {
        if k == "AWS_ENDPOINT_URL" {
            *v = proxy.url();
        }
    }
    proxy.set(Rule::all(Fault::Status {
        code: 500,
        retry_after: None,
    }));
    for args in [
        &["plan", "s.yaml"][..],
        &["apply", "s.yaml", "--auto-approve"],
    ] {
        let r = run_env(&s, &env, args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.all());
        assert!(
            r.stderr
                .contains("look for the object to adopt of cluster_oidc"),
            "{args:?}: {}",
            r.all()
        );
        assert!(!r.stdout.contains("Plan:"), "{args:?}: {}", r.all());
    }
    assert!(proxy.faulted() > 0);
    assert!(s.state_list("s.yaml").is_empty(), "nothing recorded");
    assert_eq!(
        oidc_providers(&moto)
            .into_iter()
            .map(|(_, t)| t)
            .collect::<Vec<_>>(),
        vec![vec![OLD_THUMB.to_string()]],
        "the existing provider is untouched and no second one was made"
    );
}

#[test]
fn a_namespace_made_with_kubectl_is_adopted_and_a_missing_one_created() {
    let k8s = Emulator::start(None);
    k8s.kubectl_ok(&["create", "ns", "shared"]);
    let s = Sandbox::new();
    let kubeconfig = k8s.kubeconfig().display().to_string();
    s.write(
        "s.yaml",
        &format!(
            "stack: ns\nproviders:\n  kubernetes:\n    kubeconfig: {kubeconfig}\nresources:\n  \
             shared:\n    type: k8s.namespace\n    lifecycle: {{adopt: true, retain_on_destroy: true}}\n    \
             properties: {{name: shared, labels: {{istio-injection: enabled}}}}\n  \
             fresh:\n    type: k8s.namespace\n    lifecycle: {{adopt: true}}\n    \
             properties: {{name: fresh}}\n"
        ),
    );
    let plan = s.run(&["plan", "s.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("<+ shared (k8s.namespace) will be adopted and updated in place"),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout
            .contains("+ fresh (k8s.namespace) will be created"),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout
            .contains("lifecycle.adopt: no such object exists yet, so it is created"),
        "{}",
        plan.all()
    );
    let apply = s.run(&["apply", "s.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let label = k8s.kubectl_ok(&[
        "get",
        "ns",
        "shared",
        "-o",
        "jsonpath={.metadata.labels.istio-injection}",
    ]);
    assert_eq!(label.trim(), "enabled");
    assert!(k8s.kubectl(&["get", "ns", "fresh"]).0, "fresh was created");

    let destroy = s.run(&["destroy", "s.yaml", "--auto-approve"]);
    assert_eq!(destroy.code, 0, "{}", destroy.all());
    assert!(
        destroy.stdout.contains("1 destroyed, 1 forgotten"),
        "{}",
        destroy.all()
    );
    assert!(k8s.kubectl(&["get", "ns", "shared"]).0, "retained");
    let (fresh_left, out, _) =
        k8s.kubectl(&["get", "ns", "fresh", "-o", "jsonpath={.status.phase}"]);
    assert!(
        !fresh_left || out.contains("Terminating"),
        "fresh, adopted from nothing, is this stack's to delete: {out}"
    );
}

#[test]
fn retained_resources_are_forgotten_when_removed_and_never_replaced() {
    let s = Sandbox::new();
    let file = s.path("kept.txt").display().to_string();
    let stack = |content: &str, with_file: bool| {
        let mut text = format!(
            "stack: keep\nresources:\n  marker:\n    type: core.null\n    \
             lifecycle: {{retain_on_destroy: true}}\n    properties: {{triggers: {{v: \"{content}\"}}}}\n"
        );
        if with_file {
            text.push_str(&format!(
                "  kept:\n    type: core.file\n    lifecycle: {{retain_on_destroy: true}}\n    \
                 properties: {{path: {file}, content: hello}}\n"
            ));
        }
        text
    };
    s.write("s.yaml", &stack("1", true));
    s.run(&["apply", "s.yaml", "--auto-approve"]).ok();
    assert!(s.exists("kept.txt"));

    // A change that forces a replacement would delete the retained object: refused.
    s.write("s.yaml", &stack("2", true));
    let replace = s.run(&["plan", "s.yaml"]);
    assert_eq!(replace.code, 1, "{}", replace.all());
    assert!(
        replace.stderr.contains("plan::retain_on_destroy"),
        "{}",
        replace.all()
    );
    assert!(
        replace
            .stderr
            .contains("which has lifecycle.retain_on_destroy set"),
        "{}",
        replace.all()
    );

    // Removed from the stack: forgotten (the setting is remembered in state), file kept.
    s.write("s.yaml", &stack("1", false));
    let plan = s.run(&["plan", "s.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains(". kept (core.file) will be forgotten, not deleted (retain_on_destroy)"),
        "{}",
        plan.all()
    );
    assert!(plan.stdout.contains("1 to forget"), "{}", plan.all());
    s.run(&["apply", "s.yaml", "--auto-approve"]).ok();
    assert!(s.exists("kept.txt"), "the file is left in place");
    let left: Vec<String> = s.state_list("s.yaml").into_iter().map(|(a, _)| a).collect();
    assert_eq!(left, ["marker"]);
}

#[test]
fn lifecycle_settings_are_checked_by_validate() {
    let s = Sandbox::new();
    s.write(
        "bad.yaml",
        "stack: bad\nresources:\n  a:\n    type: core.null\n    lifecycle: {adopt: \"yes\", retain_on_delete: true}\n",
    );
    let r = s.run(&["validate", "bad.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("resources.a.lifecycle.adopt"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("true or false"), "{}", r.all());
    assert!(
        r.stderr.contains("did you mean `retain_on_destroy`?"),
        "{}",
        r.all()
    );

    s.write(
        "data.yaml",
        "stack: data\nresources:\n  c:\n    type: aws.eks.cluster\n    mode: data\n    \
         lifecycle: {retain_on_destroy: true}\n    properties: {name: x}\n",
    );
    let r = s.run(&["validate", "data.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("`lifecycle.retain_on_destroy` does not apply to a data source"),
        "{}",
        r.all()
    );

    s.write(
        "old.yaml",
        "stack: old\nresources:\n  ns:\n    type: k8s.namespace\n    properties: {name: default, adopt: true}\n",
    );
    let r = s.run(&["validate", "old.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("stack::moved_setting"), "{}", r.all());
    assert!(
        r.stderr.contains("old.yaml:5"),
        "names the line: {}",
        r.all()
    );
    assert!(
        r.stderr
            .contains("add `lifecycle: {adopt: true, retain_on_destroy: true}`"),
        "{}",
        r.all()
    );

    // A type whose objects its properties do not name cannot adopt: the plan says what
    // to do instead.
    s.write(
        "null.yaml",
        "stack: nulls\nresources:\n  n:\n    type: core.null\n    lifecycle: {adopt: true}\n",
    );
    let r = s.run(&["plan", "null.yaml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("cannot adopt an existing object"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("trustplane import"), "{}", r.all());
}

#[test]
fn an_existing_role_is_adopted_by_name_and_brought_to_the_stack() {
    let moto = Moto::start();
    let trust = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;
    moto.boto3(&format!(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         iam.create_role(RoleName='made-by-hand', AssumeRolePolicyDocument='{trust}', Description='old')"
    ));
    let s = Sandbox::new();
    s.write(
        "s.yaml",
        &format!(
            "stack: role\nproviders:\n  aws:\n    region: us-east-1\nresources:\n  role:\n    \
             type: aws.iam.role\n    lifecycle: {{adopt: true}}\n    properties:\n      \
             name: made-by-hand\n      description: adopted\n      assume_role_policy: '{trust}'\n"
        ),
    );
    let env = moto.env();
    let plan = run_env(&s, &env, &["plan", "s.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("<+ role (aws.iam.role) will be adopted and updated in place"),
        "{}",
        plan.all()
    );
    let apply = run_env(&s, &env, &["apply", "s.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let description = moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         print(iam.get_role(RoleName='made-by-hand')['Role']['Description'])",
    );
    assert_eq!(description.trim(), "adopted");
    let again = run_env(&s, &env, &["plan", "s.yaml"]);
    assert!(again.stdout.contains("No changes."), "{}", again.all());
}

/// Runs a trustplane command in `s` against `moto`.
fn on_moto(s: &Sandbox, moto: &Moto, args: &[&str]) -> common::Run {
    run_env(s, &moto.env(), args)
}

#[test]
fn an_existing_policy_is_adopted_by_name_and_path_and_its_document_updated() {
    let moto = Moto::start();
    moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         doc = {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 'acm-pca:GetCertificate', 'Resource': '*'}]}\n\
         iam.create_policy(PolicyName='issuer', Path='/pki/', PolicyDocument=json.dumps(doc))\n\
         iam.create_policy(PolicyName='other-path', Path='/elsewhere/', PolicyDocument=json.dumps(doc))",
    );
    let s = Sandbox::new();
    s.write(
        "s.yaml",
        "stack: pol\nproviders:\n  aws: {region: us-east-1}\nresources:\n  pol:\n    type: aws.iam.policy\n    \
         lifecycle: {adopt: true}\n    properties:\n      name: issuer\n      path: /pki/\n      \
         document: {Version: '2012-10-17', Statement: [{Effect: Allow, Action: ['acm-pca:GetCertificate', 'acm-pca:IssueCertificate'], Resource: '*'}]}\n",
    );
    let plan = on_moto(&s, &moto, &["plan", "s.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("<+ pol (aws.iam.policy) will be adopted and updated in place"),
        "{}",
        plan.all()
    );
    on_moto(&s, &moto, &["apply", "s.yaml", "--auto-approve"]).ok();
    let live = moto.boto3(
        "iam = boto3.client('iam', endpoint_url=endpoint, region_name=region)\n\
         ps = [p for p in iam.list_policies(Scope='Local')['Policies'] if p['PolicyName'] == 'issuer']\n\
         v = iam.get_policy_version(PolicyArn=ps[0]['Arn'], VersionId=ps[0]['DefaultVersionId'])['PolicyVersion']\n\
         print(len(ps), ps[0]['Path'], v['VersionId'], sorted(v['Document']['Statement'][0]['Action']))",
    );
    assert_eq!(
        live.trim(),
        "1 /pki/ v2 ['acm-pca:GetCertificate', 'acm-pca:IssueCertificate']",
        "adopted, not duplicated; the stack's document is the new default version"
    );
    let replan = on_moto(&s, &moto, &["plan", "s.yaml", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "{}", replan.all());

    // Another path is another policy: nothing to adopt there, and the name is taken.
    let s2 = Sandbox::new();
    s2.write(
        "s.yaml",
        &s.read("s.yaml")
            .replace("name: issuer", "name: other-path")
            .replace("path: /pki/", "path: /mine/"),
    );
    let plan = on_moto(&s2, &moto, &["plan", "s.yaml"]);
    assert!(
        plan.stdout
            .contains("+ pol (aws.iam.policy) will be created"),
        "{}",
        plan.all()
    );
}

/// Creates a root CA by hand (left PENDING_CERTIFICATE, as a console create leaves it).
fn hand_made_root(moto: &Moto, common_name: &str) -> String {
    moto.boto3(&format!(
        "pca = boto3.client('acm-pca', endpoint_url=endpoint, region_name=region)\n\
         print(pca.create_certificate_authority(CertificateAuthorityType='ROOT', \
         CertificateAuthorityConfiguration={{'KeyAlgorithm': 'RSA_2048', 'SigningAlgorithm': 'SHA256WITHRSA', \
         'Subject': {{'CommonName': '{common_name}', 'Organization': 'Example'}}}})['CertificateAuthorityArn'])"
    ))
    .trim()
    .to_string()
}

fn ca_stack(common_name: &str) -> String {
    format!(
        "stack: ca\nproviders:\n  aws: {{region: us-east-1}}\nresources:\n  root:\n    \
         type: aws.pca.certificate_authority\n    lifecycle: {{adopt: true}}\n    properties:\n      \
         kind: root\n      subject: {{common_name: {common_name}, organization: Example}}\n      \
         key_algorithm: RSA_2048\n      signing_algorithm: SHA256WITHRSA\n      validity: 10y\n\
         outputs:\n  arn: ${{root.arn}}\n"
    )
}

/// The ARN state records for the stack's `root`.
fn recorded_arn(s: &Sandbox, moto: &Moto) -> String {
    on_moto(s, moto, &["output", "arn", "-f", "s.yaml"])
        .stdout
        .trim()
        .trim_matches('"')
        .to_string()
}

#[test]
fn a_ca_with_the_same_configuration_is_adopted_and_activated() {
    let moto = Moto::start();
    let arn = hand_made_root(&moto, "Adopted Root");
    // Not a candidate: another subject.
    hand_made_root(&moto, "Unrelated Root");
    let s = Sandbox::new();
    s.write("s.yaml", &ca_stack("Adopted Root"));
    let plan = on_moto(&s, &moto, &["plan", "s.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("<+ root (aws.pca.certificate_authority) will be adopted"),
        "{}",
        plan.all()
    );
    on_moto(&s, &moto, &["apply", "s.yaml", "--auto-approve"]).ok();
    assert_eq!(recorded_arn(&s, &moto), arn);
    let cas = moto.ca_statuses();
    assert_eq!(cas.len(), 2, "no CA was created: {cas:?}");
    assert!(
        cas.contains(&("Adopted Root".to_string(), "ACTIVE".to_string())),
        "the pending CA was activated: {cas:?}"
    );
}

#[test]
fn several_matching_cas_are_an_error_naming_them_and_a_deleted_one_is_never_adopted() {
    let moto = Moto::start();
    let first = hand_made_root(&moto, "Twice");
    let second = hand_made_root(&moto, "Twice");
    let s = Sandbox::new();
    s.write("s.yaml", &ca_stack("Twice"));
    let plan = on_moto(&s, &moto, &["plan", "s.yaml"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(
        plan.stderr
            .contains("more than one certificate authority matches root")
            && plan.stderr.contains(&first)
            && plan.stderr.contains(&second),
        "{}",
        plan.all()
    );
    assert!(s.state_list("s.yaml").is_empty());

    // A deleted CA is no candidate: the create goes ahead and makes a new one.
    let gone = hand_made_root(&moto, "Deleted Root");
    moto.boto3(&format!(
        "pca = boto3.client('acm-pca', endpoint_url=endpoint, region_name=region)\n\
         pca.delete_certificate_authority(CertificateAuthorityArn='{gone}', PermanentDeletionTimeInDays=7)"
    ));
    let s2 = Sandbox::new();
    s2.write("s.yaml", &ca_stack("Deleted Root"));
    let plan = on_moto(&s2, &moto, &["plan", "s.yaml"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("+ root (aws.pca.certificate_authority) will be created"),
        "{}",
        plan.all()
    );
    on_moto(&s2, &moto, &["apply", "s.yaml", "--auto-approve"]).ok();
    let recorded = recorded_arn(&s2, &moto);
    assert!(recorded.starts_with("arn:aws:acm-pca:"), "{recorded}");
    assert_ne!(recorded, gone, "the deleted CA was not taken");
}

#[test]
fn a_ca_this_state_made_and_then_forgot_is_adopted_back() {
    let moto = Moto::start();
    let s = Sandbox::new();
    s.write("s.yaml", &ca_stack("Own Root"));
    on_moto(&s, &moto, &["apply", "s.yaml", "--auto-approve"]).ok();
    let made = recorded_arn(&s, &moto);
    on_moto(&s, &moto, &["state", "rm", "root", "-f", "s.yaml"]).ok();
    assert!(s.state_list("s.yaml").is_empty());

    let plan = on_moto(&s, &moto, &["plan", "s.yaml"]);
    assert!(
        plan.stdout
            .contains("<+ root (aws.pca.certificate_authority) will be adopted"),
        "{}",
        plan.all()
    );
    on_moto(&s, &moto, &["apply", "s.yaml", "--auto-approve"]).ok();
    assert_eq!(recorded_arn(&s, &moto), made);
    assert_eq!(moto.ca_statuses().len(), 1, "no second CA was made");
}
