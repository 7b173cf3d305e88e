# trustplane — the two commands a newcomer needs:
#   make demo   plan and apply a stack against local stand-ins, state in sled
#   make test   install what the tests need (a local Python venv) and run every test
SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv

.PHONY: all build venv test test-python demo demo-fleet demo-core bench bench-fleet lint fmt clean

all: build

build:
	$(CARGO) build --release --workspace --bins

# moto's server (AWS stand-in) and the Helm engine live in a local virtualenv.
venv:
	bash tools/venv/setup-venv.sh

# The tests run the dev-profile binaries (the emulator included), which `cargo test
# --workspace` builds with the tests. A separate `cargo build --bins` first would resolve
# features without the dev-dependencies and compile the AWS SDK crates a second time.
test: venv
	$(CARGO) test --workspace --no-fail-fast
	$(MAKE) test-python

test-python:
	$(VENV)/bin/python -m pytest -q tools/moto

# The whole guide against local stand-ins (moto, the Kubernetes emulator, the Helm engine).
demo: build venv
	bash examples/sandbox/demo.sh

# A fleet: one shared CA hierarchy, three clusters rolled out with a canary wave.
demo-fleet: build venv
	bash examples/fleet/demo.sh

# A smaller tour with built-in resources only.
demo-core: build
	bash examples/demo.sh

bench:
	$(CARGO) bench --bench engine

# A fleet's no-op plan, one member versus MEMBERS at once, against the stand-ins with
# each request's round trip RTT_MS long (a comma-separated list; 0: loopback). The
# emulators are built optimized, as the plans they answer are.
MEMBERS ?= 50
RTT_MS ?= 0,25,100
bench-fleet: venv
	$(CARGO) build --release -p kube-emulator
	TRUSTPLANE_BENCH_FLEET_MEMBERS=$(MEMBERS) TRUSTPLANE_BENCH_FLEET_RTT_MS=$(RTT_MS) \
	KUBE_EMULATOR=$(CURDIR)/target/release/kube-emulator $(CARGO) bench --bench engine -- fleet

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(VENV)
