// edet/tensor/aligned_buffer.hpp - owning, 64-byte aligned storage.
//
// 64 bytes is one cache line and one AVX-512 register, so aligned loads never split a
// line. The buffer is move-only: copies of activations should be explicit (clone()).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include "edet/core/error.hpp"

EDET_NAMESPACE_BEGIN

inline constexpr std::size_t kAlignment = 64;

template <class T>
class AlignedBuffer {
    static_assert(std::is_trivially_copyable_v<T>, "AlignedBuffer holds plain numbers");

public:
    AlignedBuffer() = default;
    explicit AlignedBuffer(std::size_t count) { allocate(count); }
    ~AlignedBuffer() { release(); }

    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    AlignedBuffer(AlignedBuffer&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }

    T* data() noexcept { return data_; }
    const T* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    T& operator[](std::size_t i) noexcept { return data_[i]; }
    const T& operator[](std::size_t i) const noexcept { return data_[i]; }

    // Fills with zero bytes (0.0f for floats).
    void zero() noexcept {
        if (size_) std::memset(static_cast<void*>(data_), 0, size_ * sizeof(T));
    }

    AlignedBuffer clone() const {
        AlignedBuffer b(size_);
        if (size_) std::memcpy(static_cast<void*>(b.data_), data_, size_ * sizeof(T));
        return b;
    }

private:
    void allocate(std::size_t count) {
        if (count == 0) return;
        if (count > (std::size_t{1} << 40) / sizeof(T))
            fail("allocation", "AlignedBuffer", cat(count, " elements is an absurd size"));
        // Round the byte size up to a multiple of the alignment: aligned_alloc requires it,
        // and vector tails may then read (never use) up to one line past the end.
        std::size_t bytes = (count * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
        void* p = std::aligned_alloc(kAlignment, bytes);
        if (!p) throw std::bad_alloc();
        data_ = static_cast<T*>(p);
        size_ = count;
    }
    void release() noexcept {
        std::free(data_);
        data_ = nullptr;
        size_ = 0;
    }

    T* data_ = nullptr;
    std::size_t size_ = 0;
};

EDET_NAMESPACE_END
