// edet/tensor/shape.hpp - a named NHWC shape.
//
// Dimensions are named (n, h, w, c), never indexed: the layout is batch first, channels
// innermost, so a 1x1 convolution is a GEMM over [n*h*w x c] and depthwise kernels
// vectorise over c.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "edet/core/error.hpp"

EDET_NAMESPACE_BEGIN

struct Shape {
    int n = 1;  // batch
    int h = 1;  // rows
    int w = 1;  // columns
    int c = 1;  // channels (innermost)

    // Number of elements; the shape must be valid().
    constexpr std::size_t numel() const noexcept {
        return static_cast<std::size_t>(n) * static_cast<std::size_t>(h) *
               static_cast<std::size_t>(w) * static_cast<std::size_t>(c);
    }
    constexpr std::size_t pixels() const noexcept {
        return static_cast<std::size_t>(n) * static_cast<std::size_t>(h) *
               static_cast<std::size_t>(w);
    }
    friend constexpr bool operator==(const Shape& a, const Shape& b) noexcept {
        return a.n == b.n && a.h == b.h && a.w == b.w && a.c == b.c;
    }
    friend constexpr bool operator!=(const Shape& a, const Shape& b) noexcept {
        return !(a == b);
    }
    std::string str() const {
        return cat("{n=", n, ", h=", h, ", w=", w, ", c=", c, "}");
    }
};

// Largest element count a tensor may hold (2^34 floats = 64 GiB): anything above is an
// absurd request from bad input, refused before allocation.
inline constexpr std::size_t kMaxTensorElements = std::size_t{1} << 34;

// Throws unless every dimension is >= 1 and the element count is sane.
inline void check_shape(const Shape& s, const char* where) {
    if (s.n < 1 || s.h < 1 || s.w < 1 || s.c < 1)
        fail("shape " + s.str(), where, "every dimension must be >= 1");
    if (s.numel() > kMaxTensorElements)
        fail("shape " + s.str(), where,
             cat("holds ", s.numel(), " elements, more than the limit ", kMaxTensorElements));
}

EDET_NAMESPACE_END
