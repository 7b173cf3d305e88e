#!/usr/bin/env bash
# A fleet against local stand-ins, with no AWS account and no cluster: one shared CA
# hierarchy (the trust tier) and three clusters (the cluster tier per member), rolled out
# with a canary wave and a verify gate after each member.
#   AWS         moto's server (tools/moto/moto_server.py)
#   Kubernetes  three kube-emulators, one per member, each with its own kubeconfig
#   Helm        tools/helm/helm, the real Helm v4 engine
# It validates the fleet, plans it, rolls it out, shows its status, verifies that every
# member chains to the one root, shows drift on the one member changed by hand, and stops
# the stand-ins. The CAs are left in moto, which stops with the demo.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
tp=${TRUSTPLANE_BIN:-$root/target/release/trustplane}
emulator=${KUBE_EMULATOR:-$root/target/release/kube-emulator}
python=$root/.venv/bin/python
members=(canary eu us)

make_target=demo-fleet
# shellcheck source=examples/lib/stand-ins.sh
source examples/lib/stand-ins.sh

step "starting the stand-ins: moto and one Kubernetes emulator per member"
start_moto
echo "AWS (moto):  $aws_url"
for m in "${members[@]}"; do
  "$emulator" --addr 127.0.0.1:0 --kubeconfig "$work/$m.kubeconfig" --aws-endpoint "$aws_url" \
    >"$work/$m.out" 2>"$work/$m.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$work/$m.out" 2>/dev/null && break; sleep 0.1; done
  echo "cluster $m: $(cat "$work/$m.out")"
done

export AWS_ENDPOINT_URL=$aws_url AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox
export AWS_EC2_METADATA_DISABLED=true
export TRUSTPLANE_HELM=$root/tools/helm/helm

# The EKS clusters the cluster tier looks up (for their OIDC issuers).
"$python" - "$aws_url" "${members[@]}" <<'PY'
import sys, boto3
eks = boto3.client("eks", endpoint_url=sys.argv[1], region_name="us-east-1")
for name in sys.argv[2:]:
    eks.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": []})
PY

fleet=$work/mesh-demo.yaml
{
  cat <<YAML
fleet: mesh-demo
trust:
  stack: $root/stacks/mesh-trust.yaml
  vars: {region: us-east-1}
clusters:
  stack: $root/stacks/mesh-cluster.yaml
  vars:
    mesh_id: mesh-demo
    # Local copies of the charts, no waiting on workloads the emulator does not run.
    cert_manager_repository: null
    cert_manager_chart: examples/sandbox/charts/cert-manager
    pca_issuer_repository: null
    pca_issuer_chart: examples/sandbox/charts/aws-privateca-issuer
    istio_repository: null
    istio_base_chart: examples/sandbox/charts/istio-base
    istiod_chart: examples/sandbox/charts/istiod
    helm_wait: false
  members:
YAML
  for m in "${members[@]}"; do
    printf '    %s:\n      vars: {cluster_name: %s, network: net-%s}\n      kubernetes: {kubeconfig: %s, context: emulator}\n' \
      "$m" "$m" "$m" "$work/$m.kubeconfig"
  done
  cat <<'YAML'
rollout:
  waves:
    - members: [canary]
    - members: ["*"]
      max_parallel: 2
  gates: [verify]
YAML
} >"$fleet"

state=(--state "$work/state")
step "the fleet file"
cat "$fleet"
step "validate: the fleet file, both tiers and the PKI across them"
"$tp" validate "$fleet"
step "fleet plan: the trust tier, every member, the CAs counted once"
"$tp" fleet plan "$fleet" "${state[@]}" | tail -n 12
step "fleet apply: the trust tier, then the canary, then the rest two at a time"
"$tp" fleet apply "$fleet" "${state[@]}" --auto-approve 2>/dev/null | tail -n 8
step "fleet status"
"$tp" fleet status "$fleet" "${state[@]}"
step "fleet verify: one root, an Istio CA per member, one mesh"
"$tp" fleet verify "$fleet" "${state[@]}" | sed -n "/── fleet /,\$p"
step "someone removes the injection label on cluster 'eu' by hand: fleet drift"
kubectl --kubeconfig "$work/eu.kubeconfig" label namespace default istio-injection- >/dev/null
"$tp" fleet drift "$fleet" "${state[@]}" | tail -n 6 || true
step "fleet apply again: only 'eu' has anything to do"
"$tp" fleet apply "$fleet" "${state[@]}" --auto-approve 2>/dev/null | tail -n 7
