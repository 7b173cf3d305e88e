#!/usr/bin/env bash
# The whole guide, steps 1-9, against local stand-ins, with no AWS account and no cluster:
#   AWS         moto's server (through tools/moto/moto_server.py, which makes its
#               Private CA issue certificates as AWS does: path lengths, validity, chains)
#   Kubernetes  kube-emulator, our API server stand-in, whose simulated controllers make
#               Deployments available, AWSPCAIssuers Ready and issue cert-manager
#               Certificates through moto's Private CA
#   Helm        tools/helm/helm, the real Helm v4 engine (helm-python-sdk) behind helm's CLI
# It applies stacks/istio-aws-pca.yaml with examples/sandbox/sandbox.vars.yaml, verifies the
# chain, shows a no-op replan and drift, then destroys everything and stops the stand-ins.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
tp=$root/target/release/trustplane
emulator=$root/target/release/kube-emulator
python=$root/.venv/bin/python
stack=stacks/istio-aws-pca.yaml
vars=(--var-file examples/sandbox/sandbox.vars.yaml)

make_target=demo
# shellcheck source=examples/lib/stand-ins.sh
source examples/lib/stand-ins.sh

step "starting the stand-ins"
start_moto
echo "AWS (moto):            $aws_url"

"$emulator" --addr 127.0.0.1:0 --kubeconfig "$work/kubeconfig" --aws-endpoint "$aws_url" \
  >"$work/emulator.out" 2>"$work/emulator.log" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/emulator.out" 2>/dev/null && break; sleep 0.1; done
echo "Kubernetes (emulator): $(cat "$work/emulator.out")"

export AWS_ENDPOINT_URL=$aws_url AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox
export AWS_EC2_METADATA_DISABLED=true
export KUBECONFIG=$work/kubeconfig
export TRUSTPLANE_HELM=$root/tools/helm/helm
echo "Helm:                  $TRUSTPLANE_HELM ($("$TRUSTPLANE_HELM" version --short))"

# The EKS cluster the stack looks up (step 3 needs its OIDC issuer).
"$python" - "$aws_url" <<'PY'
import sys, boto3
eks = boto3.client("eks", endpoint_url=sys.argv[1], region_name="us-east-1")
eks.create_cluster(name="sandbox", roleArn="arn:aws:iam::123456789012:role/eks",
                   resourcesVpcConfig={"subnetIds": []})
print("EKS cluster 'sandbox':", eks.describe_cluster(name="sandbox")["cluster"]["identity"]["oidc"]["issuer"])
PY

state=(--state "$work/state")
step "validate (including the PKI wiring checks)"
"$tp" validate "$stack"
step "plan"
"$tp" plan "$stack" "${vars[@]}" "${state[@]}"
step "apply"
"$tp" apply "$stack" "${vars[@]}" "${state[@]}" --auto-approve
step "verify: the cacerts chain up to the PCA CAs (step 9)"
"$tp" verify "$stack" "${vars[@]}" "${state[@]}"
step "plan again: nothing to do"
"$tp" plan "$stack" "${vars[@]}" "${state[@]}" --detailed-exitcode
step "someone removes the injection label by hand: drift"
kubectl label namespace default istio-injection- >/dev/null
"$tp" drift "$stack" "${vars[@]}" "${state[@]}" || true
step "apply repairs it"
"$tp" apply "$stack" "${vars[@]}" "${state[@]}" --auto-approve
step "outputs"
"$tp" output "${state[@]}"
step "destroy"
"$tp" destroy "$stack" "${vars[@]}" "${state[@]}" --auto-approve
"$python" - "$aws_url" <<'PY'
import sys, boto3
pca = boto3.client("acm-pca", endpoint_url=sys.argv[1], region_name="us-east-1")
for ca in pca.list_certificate_authorities()["CertificateAuthorities"]:
    print(f"CA {ca['CertificateAuthorityConfiguration']['Subject']['CommonName']}: {ca['Status']}")
PY
