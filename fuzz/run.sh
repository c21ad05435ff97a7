#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.cpp with clang-14 + libFuzzer and runs each for a bounded time
# (EDET_FUZZ_SECONDS, default 60) from its seed corpus fuzz/corpus/<name>/ (if present).
# A crash, leak or sanitizer report fails the run; the input that triggered it is kept as
# build-fuzz/artifacts/<name>/crash-* (replay: build-fuzz/fuzz/<name> <that file>).
# fuzz/<name>.dict, when present, is passed as the libFuzzer dictionary.
#   fuzz/run.sh                 every target
#   fuzz/run.sh fuzz_safetensors  one target
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${EDET_FUZZ_SECONDS:-60}
if ! command -v clang++-14 >/dev/null; then
  echo "fuzz: clang++-14 missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEDET_BUILD_FUZZ=ON -DEDET_BUILD_TESTS=OFF -DEDET_BUILD_BENCH=OFF -DEDET_BUILD_EXAMPLES=OFF \
  -DEDET_BUILD_TOOLS=OFF -DEDET_ARCH=x86-64-v3 >/dev/null
shopt -s nullglob
targets=()
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  for src in fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "fuzz: no fuzz/fuzz_*.cpp targets" >&2
  exit 1
fi
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"
status=0
for name in "${targets[@]}"; do
  work=build-fuzz/corpus-$name
  artifacts=build-fuzz/artifacts/$name/
  log=build-fuzz/$name.log
  mkdir -p "$work" "$artifacts"
  seeds=()
  [[ -d fuzz/corpus/$name ]] && seeds=(fuzz/corpus/$name)
  dict=()
  [[ -f fuzz/$name.dict ]] && dict=(-dict=fuzz/$name.dict)
  echo "fuzz: $name for ${seconds}s"
  if ./build-fuzz/fuzz/$name -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
       -timeout=10 -artifact_prefix="$artifacts" -print_final_stats=1 "${dict[@]}" \
       "$work" "${seeds[@]}" >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)|^Done ' "$log" || true
  else
    echo "fuzz: $name FAILED (full log: $log)"
    grep -A40 -E 'ERROR: |==[0-9]+==|runtime error|deadly signal|Test unit written' "$log" | head -n 80 || tail -n 60 "$log"
    status=1
  fi
done
exit $status
