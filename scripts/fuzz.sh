#!/usr/bin/env bash
# Fuzzes what clawless reads from outside (fuzz/: the five channels' webhooks, the queue and
# AgentCore envelopes, schedules, text splitting, the memory-poisoning and workspace path checks).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   fuzz each target (default 60 s, all targets)
#   scripts/fuzz.sh --smoke [SECONDS] [TARGET...]      the same, built unoptimised (quick to build,
#                                                      slower to run): the CI smoke run
#   scripts/fuzz.sh --replay                           replay the committed corpora, uninstrumented
#   scripts/fuzz.sh --list                             the targets
#
# Engine: libFuzzer (coverage-guided), linked through the libfuzzer-sys crate and built on the
# stable toolchain with LLVM's SanitizerCoverage turned on by plain codegen flags (below): no
# nightly, no cargo-fuzz. Needs a C++ compiler for libFuzzer's runtime (installed with apt-get
# when missing). Each run starts from the committed seeds (fuzz/corpus/<target>/, read only) and
# the corpus earlier runs grew (fuzz/work/<target>/, git-ignored); a crashing, leaking or
# timing-out input is saved under fuzz/artifacts/<target>/ and the script exits non-zero.
# Prints one line per target: executions, crashes, corpus size and the coverage (edges and
# features) from loading the corpus to the end of the run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fuzz="$root/fuzz"
targets_of() { sed -n 's/^name = "\([a-z_]*\)"$/\1/p' "$fuzz/Cargo.toml" | grep -v '^clawless-fuzz$'; }

scripts/ensure-toolchain.sh

if [ "${1:-}" = "--list" ]; then
  targets_of
  exit 0
fi
if [ "${1:-}" = "--replay" ]; then
  # Plain `cargo test`: no instrumentation, no libFuzzer; every corpus file through its target.
  exec cargo test --manifest-path "$fuzz/Cargo.toml" --target-dir "$fuzz/target" --locked --lib
fi

profile=release
if [ "${1:-}" = "--smoke" ]; then
  profile=smoke
  shift
fi
seconds="${1:-60}"
case "$seconds" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [--smoke] [SECONDS_PER_TARGET] [TARGET...] | --replay | --list" >&2; exit 2 ;; esac
shift || true
if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(targets_of); fi
for t in "${targets[@]}"; do
  targets_of | grep -qx "$t" || { echo "unknown target $t (scripts/fuzz.sh --list)" >&2; exit 2; }
done

# libFuzzer's runtime is C++, built by the libfuzzer-sys crate.
if ! command -v c++ >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ >/dev/null
fi

# SanitizerCoverage as cargo-fuzz sets it up, with stable flags only: edge counters and the PC
# table libFuzzer reads coverage from, and comparison tracing so it learns the constants inputs
# are compared with (magic strings, lengths). `--target` keeps these flags off build scripts and
# proc macros, which run in the compiler and would find no libFuzzer to report to. Both profiles
# keep overflow checks and debug assertions (fuzz/Cargo.toml).
host="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
build_args=(--manifest-path "$fuzz/Cargo.toml" --target-dir "$fuzz/target" --target "$host" --profile "$profile" --locked --features libfuzzer)
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
echo "==> building ${#targets[@]} fuzz target(s) ($profile profile)" >&2
start=$SECONDS
cargo build "${build_args[@]}" "${bins[@]}"
echo "==> built in $((SECONDS - start)) s; fuzzing each for ${seconds} s" >&2
bin_dir="$fuzz/target/$host/$profile"

failed=0
rows=()
total_runs=0
for t in "${targets[@]}"; do
  work="$fuzz/work/$t"
  artifacts="$fuzz/artifacts/$t"
  mkdir -p "$work" "$artifacts"
  log="$fuzz/work/$t.log"
  before="$(find "$artifacts" -type f | wc -l)"
  # -timeout: an input that takes 10 s is a hang for a webhook or a queue handler;
  # -rss_limit_mb (and the malloc limit it implies): a blow-up is a crash, as it would be in a
  # Lambda function. New inputs go to the first folder only, never to the committed seeds.
  status=0
  "$bin_dir/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" "$fuzz/corpus/$t" >"$log" 2>&1 || status=$?
  after="$(find "$artifacts" -type f | wc -l)"
  crashes=$((after - before))
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  runs="${runs:-0}"
  inited="$(grep -m1 -o 'INITED cov: [0-9]* ft: [0-9]*' "$log" | awk '{print $3 "/" $5}')"
  last="$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -1)"
  final="$(echo "$last" | awk '{print $2 "/" $4}')"
  corpus="$(echo "$last" | awk '{print $6}')"
  if [ "$status" != 0 ] || [ "$crashes" != 0 ]; then
    failed=1
    [ "$crashes" != 0 ] || crashes="exit $status"
    echo "!! $t failed (log: $log):" >&2
    grep -m5 -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" >&2 || tail -20 "$log" >&2
  fi
  total_runs=$((total_runs + runs))
  rows+=("$(printf '%-18s %12s %8s %8s %22s' "$t" "$runs" "$crashes" "${corpus:-?}" "${inited:-?} -> ${final:-?}")")
done

printf '\n%-18s %12s %8s %8s %22s\n' target executions crashes corpus "cov/features start->end"
printf '%s\n' "${rows[@]}"
printf '%-18s %12s\n' total "$total_runs"
exit "$failed"
