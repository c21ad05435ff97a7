// edet/tensor/tensor.hpp - Tensor<T> (owning) and TensorView<T> (borrowed), NHWC.
//
//   Tensor<float> x(Shape{1, 512, 512, 3});   // 64-byte aligned, zero-filled
//   x.at(0, 10, 20, 2) = 1.0f;                 // checked in debug builds
//   TensorView<float> rows = x.view().rows(0, 8);        // no copy
//   TensorView<float> rgb  = x.view().channels(0, 2);    // no copy, strided
//
// Layout: element (n, y, x, ch) lives at data[n*stride_n + y*stride_h + x*stride_w + ch].
// Channels are always unit-stride, so every kernel can vectorise over them; a view made
// by channels() keeps the parent's strides (it is not contiguous).
// Access through at() is bounds-checked unless NDEBUG is defined (or EDET_CHECKED=1
// forces checks in release builds); shape misuse anywhere throws edet::Error.
#pragma once

#include <cstddef>
#include <cstring>
#include <type_traits>

#include "edet/core/error.hpp"
#include "edet/tensor/aligned_buffer.hpp"
#include "edet/tensor/shape.hpp"

#if !defined(EDET_CHECKED)
#if defined(NDEBUG)
#define EDET_CHECKED 0
#else
#define EDET_CHECKED 1
#endif
#endif

EDET_NAMESPACE_BEGIN

// Element strides of an NHWC view (channel stride is 1).
struct Strides {
    std::size_t n = 0, h = 0, w = 0;
};

inline Strides contiguous_strides(const Shape& s) {
    Strides st;
    st.w = static_cast<std::size_t>(s.c);
    st.h = st.w * static_cast<std::size_t>(s.w);
    st.n = st.h * static_cast<std::size_t>(s.h);
    return st;
}

template <class T>
class TensorView {
public:
    TensorView() = default;
    TensorView(T* data, Shape shape) : TensorView(data, shape, contiguous_strides(shape)) {}
    TensorView(T* data, Shape shape, Strides strides)
        : data_(data), shape_(shape), strides_(strides) {
        if (!data) fail("tensor view", "TensorView", "null data pointer");
        check_shape(shape, "TensorView");
    }
    // A view of T is readable as a view of const T.
    template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
    TensorView(const TensorView<U>& o) : data_(o.data()), shape_(o.shape()), strides_(o.strides()) {}

    T* data() const noexcept { return data_; }
    const Shape& shape() const noexcept { return shape_; }
    const Strides& strides() const noexcept { return strides_; }
    int n() const noexcept { return shape_.n; }
    int h() const noexcept { return shape_.h; }
    int w() const noexcept { return shape_.w; }
    int c() const noexcept { return shape_.c; }
    std::size_t numel() const noexcept { return shape_.numel(); }
    bool empty() const noexcept { return data_ == nullptr; }
    bool is_contiguous() const noexcept {
        const Strides s = contiguous_strides(shape_);
        return (shape_.w == 1 || strides_.w == s.w) && (shape_.h == 1 || strides_.h == s.h) &&
               (shape_.n == 1 || strides_.n == s.n);
    }

    std::size_t offset(int n, int y, int x, int ch) const noexcept {
        return static_cast<std::size_t>(n) * strides_.n + static_cast<std::size_t>(y) * strides_.h +
               static_cast<std::size_t>(x) * strides_.w + static_cast<std::size_t>(ch);
    }
    T& at(int n, int y, int x, int ch) const {
#if EDET_CHECKED
        if (n < 0 || n >= shape_.n || y < 0 || y >= shape_.h || x < 0 || x >= shape_.w || ch < 0 ||
            ch >= shape_.c)
            fail("element access", "TensorView::at",
                 cat("index (", n, ", ", y, ", ", x, ", ", ch, ") outside ", shape_.str()));
#endif
        return data_[offset(n, y, x, ch)];
    }
    // Pointer to the first channel of pixel (n, y, x).
    T* pixel(int n, int y, int x) const noexcept { return data_ + offset(n, y, x, 0); }

    // Images [first, first + count) of the batch.
    TensorView batch(int first, int count = 1) const {
        check_range("batch", first, count, shape_.n);
        Shape s = shape_;
        s.n = count;
        return TensorView(data_ + offset(first, 0, 0, 0), s, strides_);
    }
    // Rows [begin, end) of every image.
    TensorView rows(int begin, int end) const {
        check_range("rows", begin, end - begin, shape_.h);
        Shape s = shape_;
        s.h = end - begin;
        return TensorView(data_ + offset(0, begin, 0, 0), s, strides_);
    }
    // Columns [begin, end).
    TensorView cols(int begin, int end) const {
        check_range("cols", begin, end - begin, shape_.w);
        Shape s = shape_;
        s.w = end - begin;
        return TensorView(data_ + offset(0, 0, begin, 0), s, strides_);
    }
    // Channels [begin, end): a strided view.
    TensorView channels(int begin, int end) const {
        check_range("channels", begin, end - begin, shape_.c);
        Shape s = shape_;
        s.c = end - begin;
        return TensorView(data_ + begin, s, strides_);
    }
    // Same elements, another shape with the same element count; needs a contiguous view.
    TensorView reshaped(Shape s) const {
        check_shape(s, "TensorView::reshaped");
        if (!is_contiguous())
            fail("reshape of " + shape_.str(), "TensorView::reshaped", "the view is not contiguous");
        if (s.numel() != numel())
            fail("reshape of " + shape_.str(), "TensorView::reshaped",
                 cat("target ", s.str(), " has ", s.numel(), " elements, not ", numel()));
        return TensorView(data_, s);
    }

private:
    void check_range(const char* dim, int begin, int count, int size) const {
        if (begin < 0 || count < 1 || begin + count > size)
            fail(cat("slice of ", dim, " [", begin, ", ", begin + count, ")"), "TensorView",
                 cat("outside [0, ", size, ") of ", shape_.str()));
    }

    T* data_ = nullptr;
    Shape shape_{};
    Strides strides_{};
};

template <class T>
class Tensor {
public:
    Tensor() = default;
    // Allocates and zero-fills.
    explicit Tensor(Shape shape) : shape_(shape) {
        check_shape(shape, "Tensor");
        buffer_ = AlignedBuffer<T>(shape.numel());
        buffer_.zero();
    }
    // Allocates and copies from a contiguous source of shape.numel() elements.
    Tensor(Shape shape, const T* source) : Tensor(shape) {
        if (!source) fail("tensor copy", "Tensor", "null source pointer");
        std::memcpy(static_cast<void*>(buffer_.data()), source, shape.numel() * sizeof(T));
    }

    Tensor(Tensor&&) noexcept = default;
    Tensor& operator=(Tensor&&) noexcept = default;
    Tensor(const Tensor&) = delete;
    Tensor& operator=(const Tensor&) = delete;
    Tensor clone() const {
        Tensor t;
        t.shape_ = shape_;
        t.buffer_ = buffer_.clone();
        return t;
    }

    const Shape& shape() const noexcept { return shape_; }
    int n() const noexcept { return shape_.n; }
    int h() const noexcept { return shape_.h; }
    int w() const noexcept { return shape_.w; }
    int c() const noexcept { return shape_.c; }
    std::size_t numel() const noexcept { return buffer_.size(); }
    bool empty() const noexcept { return buffer_.empty(); }
    T* data() noexcept { return buffer_.data(); }
    const T* data() const noexcept { return buffer_.data(); }

    TensorView<T> view() {
        if (empty()) fail("view", "Tensor::view", "the tensor is empty");
        return TensorView<T>(data(), shape_);
    }
    TensorView<const T> view() const {
        if (empty()) fail("view", "Tensor::view", "the tensor is empty");
        return TensorView<const T>(data(), shape_);
    }
    operator TensorView<T>() { return view(); }
    operator TensorView<const T>() const { return view(); }

    T& at(int n, int y, int x, int ch) { return view().at(n, y, x, ch); }
    const T& at(int n, int y, int x, int ch) const { return view().at(n, y, x, ch); }

private:
    Shape shape_{};
    AlignedBuffer<T> buffer_;
};

// Throws unless two shapes are equal; `what` names the operands for the message.
inline void check_same_shape(const Shape& a, const Shape& b, const char* what, const char* where) {
    if (a != b) fail(what, where, cat("shapes differ: ", a.str(), " vs ", b.str()));
}

EDET_NAMESPACE_END
