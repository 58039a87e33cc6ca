# redis-vip: build, test, demo.  Targets: build test rules demo bench chaos fuzz soak deps clean help
#
#   make build                 cargo build --release -> target/release/libredis_vip.so
#   make test                  deps + build + fmt + clippy + unit tests + alert rules + integration tests (root)
#   make rules                 promtool check + unit tests of monitoring/redis-vip-rules.yml
#   make demo [ROUTED=1]       deps + build + a live failover in network namespaces (root); ROUTED=1: over BGP
#   make bench ARGS="..."      benchmarks (bench/run.py)
#   make chaos ROUNDS=10 [ARGS="--modes failsafe"]  random faults: basic, Sentinel mode with vip.failsafe no and yes (chaos/run.py)
#   make fuzz FUZZ_SECONDS=60  fuzz every parser of outside input, 60 s per target (~6 min, fuzz/)
#   make soak                  10 000 role flips + 1 000 CONFIG SETs, Redis and Valkey: no leak (~2 min)
#   make deb                   the Debian package -> target/debian/redis-vip_<version>-1_<arch>.deb (cargo-deb)
#   make test-system [ARGS="--release trixie"]  the .deb on 3 Debian containers booted with systemd (root, ~2 min; not in test)
#   make clean
#
# test, demo, bench and chaos need root: they build network namespaces (and only touch those).

SHELL := /bin/bash
# steps of `test` and `demo` run in order even under make -j
.NOTPARALLEL:
.DEFAULT_GOAL := help

# cargo from rustup is often not on PATH in non-login shells (CI)
CARGO_BIN := $(firstword $(wildcard $(HOME)/.cargo/bin /root/.cargo/bin))
ifneq ($(CARGO_BIN),)
export PATH := $(CARGO_BIN):$(PATH)
endif

PYTHON ?= python3
CARGO  ?= cargo
MODULE := target/release/libredis_vip.so
ROUNDS ?= 10
FUZZ_SECONDS ?= 60
ARGS   ?=
# integration test flags (tests/integration/README.md): -q, reasons for failures/errors/skips,
# the slowest tests, and per-test timing in failure reports
PYTEST_ARGS ?= -q -rfEs --durations=5
# The server matrix (scripts/servers.sh, docs/compatibility.md): the whole suite on the oldest
# and the newest of each family, the smoke subset on the others. Three pytest workers: the tests
# mostly wait for Sentinels and timers.
FULL_SERVERS  ?= redis-7.0,redis-8.0-sid,valkey-8.0,valkey-9.1
SMOKE_SERVERS ?= redis-8.0,valkey-8.1
XDIST   ?= -n 3
RESULTS := target/test-results

.PHONY: help deps servers build test lint unit rules integration compat demo bench chaos fuzz soak deb test-system clean

# the comment block at the top, whatever its length
help:
	@sed -n '/^[^#]/q;s/^# \{0,1\}//p' Makefile

deps:
	bash scripts/install-deps.sh

build:
	$(CARGO) build --release
	@ls -l $(MODULE)

# the whole check, as CI runs it (.ci/run)
test: deps build lint unit rules integration

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

unit:
	$(CARGO) test --lib -- --include-ignored

# the Prometheus alert rules: syntax, then their unit tests (promtool from Debian's prometheus)
rules:
	promtool check rules monitoring/redis-vip-rules.yml
	cd monitoring && promtool test rules redis-vip-rules.test.yml

# every server of the matrix, cached under /var/cache/redis-vip/servers: a server that cannot be
# installed here (no registry) is reported, and its tests skip with the reason
servers:
	bash scripts/servers.sh install || echo "WARNING: some servers could not be installed: their tests skip (see the summary above)"

integration: servers
	mkdir -p $(RESULTS) && rm -f target/compat/*.json
	VT_SERVERS=$(FULL_SERVERS) $(PYTHON) -m pytest tests/integration $(PYTEST_ARGS) $(XDIST) --junitxml=$(RESULTS)/full.xml
	VT_SERVERS=$(SMOKE_SERVERS) $(PYTHON) -m pytest tests/integration -m smoke $(PYTEST_ARGS) $(XDIST) --junitxml=$(RESULTS)/smoke.xml
	$(PYTHON) -m scripts.compat $(RESULTS)/full.xml $(RESULTS)/smoke.xml --out $(RESULTS)/compatibility.md

# docs/compatibility.md from the last `make integration` (commit it after a release run)
compat:
	$(PYTHON) -m scripts.compat $(RESULTS)/full.xml $(RESULTS)/smoke.xml

# ROUTED=1: the routed mode (a /32 over BGP with BIRD 2; docs/routed.md)
demo: deps build
	$(PYTHON) -m demo.$(if $(ROUTED),routed,demo)

# bench/ and chaos/ are separate tools; build first so they load the current module
bench: deps build
	$(PYTHON) -m bench.run $(ARGS)

chaos: deps build
	$(PYTHON) -m chaos.run $(ROUNDS) $(ARGS)

# not part of `test` (CI time is limited): five targets x FUZZ_SECONDS, one at a time, niced
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh

# the soak at full size (the test suite runs a tenth of it); figures in docs/safety.md
soak: deps build
	SOAK_FLIPS=10000 SOAK_SETS=1000 $(PYTHON) -m pytest tests/integration/test_soak.py -q -s -rfEs

# The Debian package (README, "Debian package"). cargo-deb is installed at the pinned version
# when missing; lintian checks the result where it is installed (an error fails the target). Reproducible from a tag: the file dates are the commit's time
# (SOURCE_DATE_EPOCH), the build has its own target directory, and the build paths are
# remapped, so `git checkout vX && make deb` anywhere gives the same bytes.
CARGO_DEB_VERSION ?= 3.8.0
DEB_DIR := target/debian
CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
DEB_MAINTAINER := $(shell sed -n 's/^maintainer = "\(.*\)"$$/\1/p' Cargo.toml)
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -1)
DEB := $(DEB_DIR)/redis-vip_$(VERSION)-1_$(shell dpkg --print-architecture 2>/dev/null || echo amd64).deb
deb: deps
	@$(CARGO) deb --version 2>/dev/null | grep -qx 'cargo-deb $(CARGO_DEB_VERSION)' || { \
	    echo "cargo-deb $(CARGO_DEB_VERSION) missing: cargo install cargo-deb --locked --version $(CARGO_DEB_VERSION)"; \
	    $(CARGO) install cargo-deb --locked --version $(CARGO_DEB_VERSION); }
	mkdir -p $(DEB_DIR)
	export SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || stat -c %Y Cargo.toml) && \
	printf '%s\n' "redis-vip ($(VERSION)-1) unstable; urgency=medium" "" \
	    "  * Release $(VERSION); the changes: /usr/share/doc/redis-vip/changelog.gz." "" \
	    " -- $(DEB_MAINTAINER)  $$(LC_ALL=C date -u -R -d @$$SOURCE_DATE_EPOCH)" > $(DEB_DIR)/changelog && \
	gzip -9n < CHANGELOG.md > $(DEB_DIR)/changelog.gz && \
	touch -d @$$SOURCE_DATE_EPOCH $(DEB_DIR)/changelog $(DEB_DIR)/changelog.gz && \
	CARGO_TARGET_DIR=target/deb \
	RUSTFLAGS="--remap-path-prefix=$(CURDIR)=/build/redis-vip --remap-path-prefix=$(CARGO_HOME_DIR)=/cargo" \
	    $(CARGO) deb --locked --output $(DEB_DIR)/
	@ls -l $(DEB)
	@if command -v lintian >/dev/null; then echo "lintian $(DEB)"; lintian --fail-on error $(DEB); \
	    else echo "lintian not installed (apt-get install lintian): package not checked"; fi

# not part of `test` (too slow for CI): three Debian nodes booted with systemd in containers,
# the package installed, configured and checked (tests/system/, docs/walkthrough.md)
test-system: deb
	@command -v debootstrap >/dev/null && command -v systemd-nspawn >/dev/null || \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap systemd-container
	$(PYTHON) -m tests.system.run $(DEB) $(ARGS)

clean:
	$(CARGO) clean
	rm -rf .pytest_cache tests/__pycache__ tests/*/__pycache__ bench/__pycache__ chaos/__pycache__ demo/__pycache__ scripts/__pycache__
