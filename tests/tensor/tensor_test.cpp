// Tests for edet/tensor/tensor.hpp: layout, alignment, views without copies, misuse.
#include <doctest/doctest.h>

#include <cstdint>

#include "edet/tensor/tensor.hpp"

using edet::Shape;
using edet::Tensor;
using edet::TensorView;

TEST_CASE("tensor: NHWC layout, zero fill and 64-byte alignment") {
    Tensor<float> t(Shape{2, 3, 5, 7});
    CHECK(t.numel() == 2u * 3 * 5 * 7);
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    for (std::size_t i = 0; i < t.numel(); ++i) REQUIRE(t.data()[i] == 0.0f);
    t.at(1, 2, 4, 6) = 3.0f;
    CHECK(t.data()[((1 * 3 + 2) * 5 + 4) * 7 + 6] == 3.0f);
}

TEST_CASE("tensor: views slice batch, rows, columns and channels without copying") {
    Tensor<float> t(Shape{2, 4, 6, 8});
    for (std::size_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(i);
    TensorView<float> v = t.view();
    auto b = v.batch(1);
    CHECK(b.shape() == Shape{1, 4, 6, 8});
    CHECK(b.data() == t.data() + 4 * 6 * 8);
    CHECK(b.is_contiguous());
    auto r = v.rows(1, 3);
    CHECK(r.shape() == Shape{2, 2, 6, 8});
    CHECK(r.at(1, 0, 0, 0) == t.at(1, 1, 0, 0));
    CHECK_FALSE(r.is_contiguous());
    auto ch = v.channels(2, 5);
    CHECK(ch.shape() == Shape{2, 4, 6, 3});
    CHECK_FALSE(ch.is_contiguous());
    CHECK(ch.at(1, 3, 5, 2) == t.at(1, 3, 5, 4));
    ch.at(0, 0, 0, 0) = -1.0f;  // writes through to the parent
    CHECK(t.at(0, 0, 0, 2) == -1.0f);
    auto cols = v.cols(5, 6);
    CHECK(cols.at(0, 1, 0, 7) == t.at(0, 1, 5, 7));
    TensorView<const float> cv = v;  // read-only view of the same data
    CHECK(cv.data() == t.data());
    auto flat = v.reshaped(Shape{1, 1, 48, 8});
    CHECK(flat.at(0, 0, 47, 7) == t.data()[47 * 8 + 7]);
}

TEST_CASE("tensor: clone copies, move transfers") {
    Tensor<float> a(Shape{1, 2, 2, 3});
    a.at(0, 1, 1, 2) = 9.0f;
    Tensor<float> b = a.clone();
    CHECK(b.data() != a.data());
    CHECK(b.at(0, 1, 1, 2) == 9.0f);
    float* p = a.data();
    Tensor<float> c = std::move(a);
    CHECK(c.data() == p);
}

TEST_CASE("tensor: shape misuse throws edet::Error") {
    CHECK_THROWS_AS(Tensor<float>(Shape{0, 1, 1, 1}), edet::Error);
    CHECK_THROWS_AS(Tensor<float>(Shape{1, -3, 1, 1}), edet::Error);
    CHECK_THROWS_AS(Tensor<float>(Shape{1 << 20, 1 << 20, 1 << 10, 1}), edet::Error);  // absurd size
    Tensor<float> t(Shape{1, 4, 4, 4});
    CHECK_THROWS_AS(t.view().rows(3, 5), edet::Error);
    CHECK_THROWS_AS(t.view().channels(2, 2), edet::Error);
    CHECK_THROWS_AS(t.view().batch(1), edet::Error);
    CHECK_THROWS_AS(t.view().reshaped(Shape{1, 1, 1, 65}), edet::Error);
    CHECK_THROWS_AS(t.view().channels(0, 2).reshaped(Shape{1, 1, 1, 32}), edet::Error);
    CHECK_THROWS_AS(TensorView<float>(nullptr, Shape{1, 1, 1, 1}), edet::Error);
    CHECK_THROWS_AS(Tensor<float>(Shape{1, 1, 1, 1}, nullptr), edet::Error);
    Tensor<float> empty;
    CHECK_THROWS_AS(empty.view(), edet::Error);
#if EDET_CHECKED
    CHECK_THROWS_AS(t.at(0, 4, 0, 0), edet::Error);
    CHECK_THROWS_AS(t.at(0, 0, 0, -1), edet::Error);
#endif
    try {
        Tensor<float> bad(Shape{1, 0, 2, 2});
        FAIL("no throw");
    } catch (const edet::Error& e) {
        CHECK(std::string(e.what()).find("h=0") != std::string::npos);
        CHECK(e.where() == "Tensor");
    }
}
