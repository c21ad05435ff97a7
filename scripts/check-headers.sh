#!/usr/bin/env bash
# Public headers compile warning-free (-Wall -Wextra -Wpedantic -Werror) under g++ and
# clang, in C++17 and C++20; and every header compiles on its own (self-contained).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
includes="-Iinclude -isystem third_party -I/usr/include/stb"   # no Eigen: no library header uses it
flags="-fsyntax-only -Wall -Wextra -Wpedantic -Werror -fopenmp -march=x86-64-v3"
mapfile -t headers < <(cd include && find edet -name '*.hpp' | sort)
{
  for h in "${headers[@]}"; do echo "#include <$h>"; done
  echo "int main() { return 0; }"
} > "$work/all.cpp"
compilers=(g++)
command -v clang++-14 >/dev/null && compilers+=(clang++-14)
status=0
for cxx in "${compilers[@]}"; do
  for std in c++17 c++20; do
    if $cxx -std=$std $flags $includes "$work/all.cpp" 2> "$work/err.txt"; then
      echo "headers: $cxx -std=$std: ${#headers[@]} headers, no warnings"
    else
      echo "headers: $cxx -std=$std FAILED"; head -40 "$work/err.txt"; status=1
    fi
  done
done
# Each header on its own (catches missing includes), g++ C++17, two at a time.
printf '%s\n' "${headers[@]}" | xargs -P "$(nproc)" -I{} sh -c \
  "echo '#include <{}>' | g++ -std=c++17 $flags $includes -x c++ - 2>&1 | head -5 | sed 's|^|{}: |'" > "$work/self.txt"
if [[ -s "$work/self.txt" ]]; then
  echo "headers: not self-contained:"; cat "$work/self.txt"; status=1
else
  echo "headers: each of ${#headers[@]} headers compiles on its own"
fi
# The config headers are plain data: the network tables and layer specs must not pull in
# the SIMD kernels.
data_headers=(edet/models/config.hpp edet/io/checkpoints.hpp edet/nn/layer_specs.hpp edet/models/architecture.hpp
              edet/reference/efficientdet.hpp)
for h in "${data_headers[@]}"; do
  if echo "#include <$h>" | g++ -std=c++17 -E $includes -x c++ - 2>/dev/null | grep -q 'xsimd/'; then
    echo "headers: $h includes xsimd (it should only name the kernels: kernels/op_kinds.hpp)"; status=1
  fi
done
[[ $status -eq 0 ]] && echo "headers: ${data_headers[*]} are free of xsimd"
# The instruction-set tag (core/arch.hpp) follows xsimd's default architecture: a kernel
# test compiles under each of these flag sets (kernels/activation.hpp static_asserts that
# the tag's lane count is xsimd's), and the tag is the one expected.
arch_cases=("-march=x86-64|arch_sse2|4" "-march=x86-64 -mavx2|arch_avx2|8" "-march=x86-64 -mavx2 -mfma|arch_avx2_fma|8"
            "-march=x86-64 -mavx512f|arch_avx512f|16" "-march=x86-64-v4|arch_avx512bw|16")
for case in "${arch_cases[@]}"; do
  IFS='|' read -r arch_flags want_ns want_lanes <<< "$case"
  got=$(printf '#include <edet/core/arch.hpp>\nEDET_ARCH_NS EDET_ARCH_FLOAT_LANES\n' |
        g++ -std=c++17 -E -P $arch_flags $includes -x c++ - | tail -1)
  if [[ "$got" != "$want_ns $want_lanes" ]]; then
    echo "headers: $arch_flags: tag '$got', expected '$want_ns $want_lanes'"; status=1
  elif ! g++ -std=c++17 -fsyntax-only -fopenmp -DEDET_FIXTURES_DIR=\"\" -DEDET_TEST_DATA_DIR=\"\" $arch_flags $includes -Itests tests/kernels/pointwise_conv_test.cpp 2> "$work/arch.txt"; then
    echo "headers: $arch_flags: tests/kernels/pointwise_conv_test.cpp does not compile:"; head -20 "$work/arch.txt"; status=1
  else
    echo "headers: $arch_flags -> $want_ns, $want_lanes float lanes (xsimd agrees)"
  fi
done
exit $status
