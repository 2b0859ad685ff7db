#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time (the `fuzz` ctests).
#   run_fuzz.sh <fuzzer> <seed corpus dir> <work dir> <dict or ""> <seconds> <max runs>
# The seed corpus in the source tree is only read; inputs the fuzzer finds go to <work>/corpus/<name>,
# a crashing input to <work>/artifacts/<name>-crash-<sha1>. The seed is fixed per run of ctest (printed)
# unless RTY_FUZZ_SEED is set.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 dict=$4 seconds=$5 runs=$6
name=$(basename "$fuzzer")
name=${name#fuzz_}
mkdir -p "$work/corpus/$name" "$work/artifacts"
args=(-max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -max_len=65536
  -print_final_stats=1 -artifact_prefix="$work/artifacts/$name-" -seed="${RTY_FUZZ_SEED:-1}")
[ -n "$dict" ] && args+=(-dict="$dict")
# UB is already fatal (-fno-sanitize-recover); these make reports complete and the exit code non-zero.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$here/ubsan.supp}
echo "run_fuzz: $fuzzer ${args[*]} $work/corpus/$name $seeds"
if ! "$fuzzer" "${args[@]}" "$work/corpus/$name" "$seeds"; then
  echo "run_fuzz: $name FAILED; the input is in $work/artifacts/ (replay: $fuzzer <file>)." >&2
  echo "run_fuzz: add it to tests/fuzz/corpus/$name/ and as a unit test of the owning folder." >&2
  exit 1
fi
