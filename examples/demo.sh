#!/usr/bin/env bash
# A short tour: validate, plan, apply, a no-op replan, drift made by hand, repair, destroy.
set -euo pipefail
cd "$(dirname "$0")/.."
tp=target/release/trustplane
state=$(mktemp -d)
trap 'rm -rf "$state" examples/out' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "validate"
$tp validate examples/hello.yaml
step "plan"
$tp plan examples/hello.yaml --state "$state"
step "apply"
$tp apply examples/hello.yaml --state "$state" --auto-approve
cat examples/out/greeting.txt
step "plan again: nothing to do"
$tp plan examples/hello.yaml --state "$state"
step "someone edits the file by hand: drift"
echo "edited" > examples/out/greeting.txt
$tp drift examples/hello.yaml --state "$state" || true
step "apply repairs it"
$tp apply examples/hello.yaml --state "$state" --auto-approve
step "state"
$tp state list --state "$state"
step "destroy"
$tp destroy examples/hello.yaml --state "$state" --auto-approve
