// tests/test_util.hpp - helpers shared by the test binaries.
//
// compare(): max abs and max relative error of `got` against `want`, where relative is
// max|got - want| / max|want| (the parity measure of ../shared/fixtures/README.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace edet_test {

struct ErrorStats {
    double max_abs = 0.0;     // max |got - want|
    double max_ref = 0.0;     // max |want|
    double rel() const { return max_ref > 0 ? max_abs / max_ref : max_abs; }
    std::size_t worst = 0;    // index of the max abs error
    bool finite = true;       // no NaN/Inf in got
};

inline ErrorStats compare(const float* got, const float* want, std::size_t count) {
    ErrorStats s;
    for (std::size_t i = 0; i < count; ++i) {
        if (!std::isfinite(got[i])) s.finite = false;
        const double d = std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
        if (d > s.max_abs || std::isnan(d)) {
            s.max_abs = std::isnan(d) ? INFINITY : d;
            s.worst = i;
        }
        s.max_ref = std::max(s.max_ref, std::fabs(static_cast<double>(want[i])));
    }
    return s;
}

// Deterministic random numbers for sweeps; the seed is printed with any failure.
class Random {
public:
    explicit Random(std::uint64_t seed = 12345) : engine_(seed) {}
    int integer(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(engine_); }
    float uniform(float lo = -1.0f, float hi = 1.0f) { return std::uniform_real_distribution<float>(lo, hi)(engine_); }
    std::vector<float> vector(std::size_t n, float lo = -1.0f, float hi = 1.0f) {
        std::vector<float> v(n);
        for (auto& x : v) x = uniform(lo, hi);
        return v;
    }
    template <class T>
    const T& pick(const std::vector<T>& v) { return v[static_cast<std::size_t>(integer(0, static_cast<int>(v.size()) - 1))]; }

private:
    std::mt19937_64 engine_;
};

inline std::string fixtures_dir() { return EDET_FIXTURES_DIR; }
inline std::string test_data_dir() { return EDET_TEST_DATA_DIR; }

}  // namespace edet_test
