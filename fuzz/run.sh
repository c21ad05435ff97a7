#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.cpp with clang-14 + libFuzzer and runs each for a bounded time
# (EDET_FUZZ_SECONDS, default 60) from its seed corpus fuzz/corpus/<name>/ (if present).
# A crash, leak or sanitizer report fails the run.
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
cmake --build build-fuzz -j"$(nproc)"
shopt -s nullglob
for src in fuzz/fuzz_*.cpp; do
  name=$(basename "$src" .cpp)
  work=build-fuzz/corpus-$name
  mkdir -p "$work"
  seeds=()
  [[ -d fuzz/corpus/$name ]] && seeds=(fuzz/corpus/$name)
  echo "fuzz: $name for ${seconds}s"
  ./build-fuzz/fuzz/$name -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
    -print_final_stats=1 "$work" "${seeds[@]}" 2>&1 | tail -n 12
done
