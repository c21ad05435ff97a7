// Tests for edet/nn/binder.hpp: shape checks, unbound tensors, num_batches_tracked,
// BN folding constants, listing mode; non-finite weights and impossible batch norms refused.
#include <doctest/doctest.h>

#include <cmath>

#include "edet/nn/binder.hpp"
#include "nn/nn_test_util.hpp"

using namespace edet;
using namespace edet_test;

namespace {
MemorySource bn_source() {
    MemorySource m;
    m.add("bn.weight", {2}, {2.0f, 0.5f});
    m.add("bn.bias", {2}, {1.0f, -1.0f});
    m.add("bn.running_mean", {2}, {3.0f, 0.0f});
    m.add("bn.running_var", {2}, {3.999f, 0.999f});
    m.add("bn.num_batches_tracked", {}, {0.0f}, io::DType::i64);
    return m;
}
}  // namespace

TEST_CASE("binder: batch norm reduces to scale and shift; num_batches_tracked is accepted") {
    const MemorySource m = bn_source();
    nn::Binder b(&m);
    const nn::BatchNormAffine bn = b.take_batch_norm("bn", 2, 1e-3f);
    CHECK(bn.scale[0] == doctest::Approx(1.0).epsilon(1e-6));   // 2 / sqrt(4)
    CHECK(bn.shift[0] == doctest::Approx(-2.0).epsilon(1e-6));  // 1 - 3 * 1
    CHECK(bn.scale[1] == doctest::Approx(0.5).epsilon(1e-6));
    CHECK(bn.shift[1] == doctest::Approx(-1.0).epsilon(1e-6));
    CHECK_NOTHROW(b.finish());
}

TEST_CASE("binder: missing, misshapen and unbound tensors are errors naming them") {
    MemorySource m = bn_source();
    m.add("conv.weight", {4, 2, 1, 1}, std::vector<float>(8, 1.0f));
    {
        nn::Binder b(&m);
        CHECK_THROWS_WITH_AS(b.take("conv.weight", {4, 3, 1, 1}), doctest::Contains("conv.weight"), Error);
    }
    {
        nn::Binder b(&m);
        CHECK_THROWS_WITH_AS(b.take("conv.bias", {4}), doctest::Contains("conv.bias"), Error);
    }
    {
        nn::Binder b(&m);
        (void)b.take("conv.weight", {4, 2, 1, 1});
        CHECK_THROWS_WITH_AS(b.finish(), doctest::Contains("bn.weight"), Error);
    }
    {
        MemorySource n = bn_source();
        n.reshape("bn.num_batches_tracked", {3});
        nn::Binder b(&n);
        CHECK_THROWS_WITH_AS(b.take_batch_norm("bn", 2, 1e-3f), doctest::Contains("num_batches_tracked"), Error);
    }
}

TEST_CASE("binder: NaN and Inf weights are refused naming the tensor and the element") {
    for (const float bad : {std::nanf(""), INFINITY, -INFINITY}) {
        CAPTURE(bad);
        MemorySource m;
        m.add("conv.weight", {2, 2, 1, 1}, {0.5f, -0.25f, bad, 1.0f});
        nn::Binder b(&m);
        CHECK_THROWS_WITH_AS(b.take("conv.weight", {2, 2, 1, 1}), doctest::Contains("tensor 'conv.weight'"), Error);
        nn::Binder b2(&m);
        CHECK_THROWS_WITH_AS(b2.take("conv.weight", {2, 2, 1, 1}), doctest::Contains("element 2 is"), Error);
    }
    // Inside a batch norm too (here the mean).
    MemorySource m = bn_source();
    m.drop("bn.running_mean");
    m.add("bn.running_mean", {2}, {0.0f, INFINITY});
    nn::Binder b(&m);
    CHECK_THROWS_WITH_AS(b.take_batch_norm("bn", 2, 1e-3f), doctest::Contains("bn.running_mean"), Error);
}

TEST_CASE("binder: a batch norm with var < 0, var + eps <= 0 or an unrepresentable fold is refused") {
    struct Case {
        float var, eps, gamma;
        const char* message;
    };
    const Case cases[] = {
        {-0.5f, 1e-3f, 1.0f, "bn.running_var"},   // negative variance
        {-1e-4f, 1e-3f, 1.0f, "bn.running_var"},  // negative even if var + eps > 0
        {0.0f, 0.0f, 1.0f, "bn.running_var"},     // var + eps == 0: division by zero
        {0.0f, -1e-3f, 1.0f, "bn.running_var"},   // a negative eps
        {0.0f, 1e-30f, 1e30f, "beyond float range"},  // 1e30 / 1e-15: finite in double, not in float
    };
    for (const Case& c : cases) {
        CAPTURE(c.var);
        CAPTURE(c.eps);
        MemorySource m = bn_source();
        m.drop("bn.running_var");
        m.add("bn.running_var", {2}, {1.0f, c.var});
        m.drop("bn.weight");
        m.add("bn.weight", {2}, {1.0f, c.gamma});
        nn::Binder b(&m);
        CHECK_THROWS_WITH_AS(b.take_batch_norm("bn", 2, c.eps), doctest::Contains(c.message), Error);
    }
    // The boundary that is fine: var == 0 with eps > 0.
    MemorySource m = bn_source();
    m.drop("bn.running_var");
    m.add("bn.running_var", {2}, {0.0f, 1.0f});
    nn::Binder b(&m);
    CHECK(b.take_batch_norm("bn", 2, 1e-3f).scale[0] == doctest::Approx(2.0 / std::sqrt(1e-3)).epsilon(1e-6));
}

TEST_CASE("binder: listing mode records names without a source") {
    nn::Binder b(nullptr);
    CHECK(b.listing());
    CHECK(b.take("x.weight", {3, 4}).empty());
    (void)b.take_batch_norm("x.bn", 3, 1e-3f);
    REQUIRE(b.params().size() == 6);
    CHECK(b.params()[0].numel() == 12);
    CHECK(b.params()[5].name == "x.bn.num_batches_tracked");
    CHECK(b.params()[5].dtype == io::DType::i64);
    CHECK_THROWS_AS(b.take("x.weight", {3, 4}), Error);  // bound twice
}
