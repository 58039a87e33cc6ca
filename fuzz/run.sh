#!/usr/bin/env bash
# Fuzz every parser of outside input, one target after another, each for FUZZ_SECONDS, then
# print executions and coverage per target.  Run by `make fuzz`.
#
#   FUZZ_SECONDS=60      time per target (five targets: about 6 min in all; the first run
#                        adds about 2.5 min of build and up to 2 min to install cargo-fuzz)
#   FUZZ_TARGETS="..."   a subset (default: all, see `cargo fuzz list` in fuzz/)
#   FUZZ_NICE=10         niceness of the build and the fuzzers
#
# The targets, their seeds and what each checks: fuzz/README.md.  A crash stops that target
# only; its input is saved under fuzz/artifacts/<target>/ and the run exits 1 at the end.
#
# cargo-fuzz builds with `-Zsanitizer=address` (and libFuzzer's coverage passes). Only
# nightly accepts -Z flags, and this machine has the stable toolchain alone, so the build
# runs with RUSTC_BOOTSTRAP=1, which lets stable rustc take them: same compiler, same code,
# AddressSanitizer runtime from the stable rust-std.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_NICE=${FUZZ_NICE:-10}
export RUSTC_BOOTSTRAP=1

if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION (about 2 min)"
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

targets=${FUZZ_TARGETS:-$(cargo fuzz list)}

echo "== building the fuzz targets"
build_start=$SECONDS
nice -n "$FUZZ_NICE" cargo fuzz build
echo "   built in $((SECONDS - build_start)) s"

mkdir -p logs
failed=()
for t in $targets; do
    echo "== $t: ${FUZZ_SECONDS} s"
    mkdir -p "corpus/$t" "artifacts/$t"
    # one process (-jobs 1, no fork mode); new inputs go to corpus/<t>, seeds/<t> is read only
    if ! nice -n "$FUZZ_NICE" cargo fuzz run --jobs 1 "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -max_len=8192 -print_final_stats=1 \
        >"logs/$t.log" 2>&1; then
        failed+=("$t")
    fi
    tail -n 3 "logs/$t.log" | sed 's/^/   /'
done

# libFuzzer's last status line ("#N DONE cov: C ft: F corp: ...") and its final stats.
echo
echo "== summary (FUZZ_SECONDS=$FUZZ_SECONDS per target; logs in fuzz/logs/)"
printf '%-16s %12s %10s %8s %8s %8s  %s\n' target executions exec/s cov ft corpus result
for t in $targets; do
    log="logs/$t.log"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$status")
    result=ok
    if [[ " ${failed[*]} " == *" $t "* ]]; then
        result="FAILED: $(ls "artifacts/$t" | head -n 3 | tr '\n' ' ')"
    fi
    printf '%-16s %12s %10s %8s %8s %8s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "${cov:-?}" \
        "${ft:-?}" "${corp:-?}" "$result"
done

if ((${#failed[@]})); then
    echo "crashes in: ${failed[*]} (inputs under fuzz/artifacts/; reproduce with" \
        "RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <input>)"
    exit 1
fi
