#!/usr/bin/env bash
# Creates (or refreshes) the repo's .venv for the Python stand-ins (moto, the Helm engine).
# Idempotent: pip runs only when requirements.txt changed since the last
# successful install (its sha256 is stamped inside the venv).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/../../.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    rm -f "$stamp"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --requirement "$req"
    echo "$want" >"$stamp"
fi
