# Sourced by the demos that run against local stand-ins: checks that the binaries are
# built, makes a work directory removed on exit (stopping every server started), and
# starts moto. Expects `tp`, `emulator`, `python` and `make_target` to be set.

for f in "$tp" "$emulator" "$python"; do
  [ -x "$f" ] || { echo "missing $f: run 'make $make_target' (it builds and installs what is needed)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Starts moto's server on a free port; sets aws_url.
start_moto() {
  "$python" tools/moto/moto_server.py --host 127.0.0.1 --port 0 --port-file "$work/moto.port" \
    >"$work/moto.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/moto.port" ] && break; sleep 0.1; done
  [ -s "$work/moto.port" ] || { echo "moto did not start: see $work/moto.log" >&2; cat "$work/moto.log" >&2; exit 1; }
  aws_url="http://127.0.0.1:$(cat "$work/moto.port")"
}
