#!/usr/bin/env bash
# The test command: installs missing Debian packages, builds edet and runs every test
# (unit, parity against ../shared/fixtures, install/consumer), then the same tests under
# ASan+UBSan, then bounded fuzzing. Exits non-zero on any failure.
#   scripts/test.sh            everything
#   EDET_JOBS=4 scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${EDET_JOBS:-$(nproc)}

scripts/install-deps.sh

echo "== public headers: g++ and clang, C++17 and C++20, -Wall -Wextra -Wpedantic -Werror"
scripts/check-headers.sh

echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
echo "== tests (release)"
(cd build && ctest --output-on-failure -j"$jobs" -LE slow)

echo "== sanitizer build (ASan+UBSan)"
# -O1 -g1: ASan's recommended optimisation and line tables for its stack traces; with the
# unity-built test binaries this build (tests and the tools they run) takes ~10 minutes on
# 2 cores instead of ~50 at -O2 -g for the tests alone.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DEDET_SANITIZE=ON -DEDET_BUILD_BENCH=OFF -DEDET_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests (sanitizers)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" -LE slow)

if [[ -x fuzz/run.sh ]]; then
  echo "== bounded fuzzing"
  fuzz/run.sh
fi
echo "== all tests passed"
