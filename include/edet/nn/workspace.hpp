// edet/nn/workspace.hpp - one activation arena, planned from tensor lifetimes.
//
// A model's forward is written once against a Workspace and run in two modes:
//   plan:    acquire()/release() only record each buffer's size and lifetime (no kernel
//            runs; data() is a dummy address). finish_plan() then places every buffer at
//            an offset so that buffers alive at the same time never overlap (greedy,
//            largest first, lowest fitting offset) and allocates the arena once.
//   execute: the same sequence of acquire() calls returns the planned addresses; nothing
//            is allocated. A sequence that differs from the plan is an internal error.
// Buffers never released live until the end of the run (the outputs a caller reads).
//
//   ws.begin_plan();  run(ws);  ws.finish_plan();     // once per input shape
//   ws.begin_execute(); run(ws); ws.finish_execute(); // every forward
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/tensor/aligned_buffer.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

class Workspace {
public:
    using Handle = int;

    bool planning() const { return mode_ == Mode::plan; }
    bool executing() const { return mode_ == Mode::execute; }

    void begin_plan() {
        blocks_.clear();
        clock_ = 0;
        macs_ = 0;
        mode_ = Mode::plan;
    }

    // Multiply-adds counted while planning: runners add each layer's MACs for the planned
    // shapes (nothing is counted while executing), so a model can report MACs per stage as
    // differences of macs() taken between its stages.
    void add_macs(double m) {
        if (mode_ == Mode::plan) macs_ += m;
    }
    double macs() const { return macs_; }
    void finish_plan() {
        if (mode_ != Mode::plan) fail("workspace", "Workspace::finish_plan", "not planning");
        for (auto& b : blocks_)
            if (b.last < 0) b.last = clock_;
        place();
        arena_ = AlignedBuffer<float>(std::max<std::size_t>(peak_floats_, 1));
        mode_ = Mode::idle;
    }
    void begin_execute() {
        if (blocks_.empty() && peak_floats_ == 0) fail("workspace", "Workspace::begin_execute", "no plan");
        next_ = 0;
        mode_ = Mode::execute;
    }
    void finish_execute() {
        if (next_ != blocks_.size())
            fail("workspace", "Workspace::finish_execute", "the run acquired fewer buffers than planned (internal error)");
        mode_ = Mode::idle;
    }

    // A buffer of `floats` floats, 64-byte aligned.
    Handle acquire(std::size_t floats) {
        floats = (floats + 15) / 16 * 16;
        if (mode_ == Mode::plan) {
            blocks_.push_back(Block{floats, clock_++, -1, 0});
            return static_cast<Handle>(blocks_.size() - 1);
        }
        if (mode_ != Mode::execute) fail("workspace", "Workspace::acquire", "neither planning nor executing");
        if (next_ >= blocks_.size() || blocks_[next_].floats != floats)
            fail("workspace", "Workspace::acquire", "the run differs from its plan (internal error)");
        return static_cast<Handle>(next_++);
    }
    void release(Handle h) {
        if (mode_ == Mode::plan) blocks_[static_cast<std::size_t>(h)].last = clock_++;
    }
    float* data(Handle h) {
        if (mode_ == Mode::plan) return dummy_;
        return arena_.data() + blocks_[static_cast<std::size_t>(h)].offset;
    }
    TensorView<float> view(Handle h, const Shape& s) { return TensorView<float>(data(h), s); }
    // Acquire + view in one step.
    TensorView<float> tensor(const Shape& s, Handle* handle) {
        *handle = acquire(s.numel());
        return view(*handle, s);
    }

    // Planned peak activation bytes.
    std::size_t peak_bytes() const { return peak_floats_ * sizeof(float); }
    // Sum of all buffer sizes (what an unplanned allocator would need), for comparison.
    std::size_t total_bytes() const {
        std::size_t t = 0;
        for (const auto& b : blocks_) t += b.floats;
        return t * sizeof(float);
    }
    std::size_t buffer_count() const { return blocks_.size(); }

private:
    enum class Mode { idle, plan, execute };
    struct Block {
        std::size_t floats;
        int first, last;  // lifetime [first, last] in events
        std::size_t offset;
    };

    void place() {
        std::vector<std::size_t> order(blocks_.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(),
                         [&](std::size_t a, std::size_t b) { return blocks_[a].floats > blocks_[b].floats; });
        std::vector<std::size_t> placed;
        peak_floats_ = 0;
        std::vector<std::pair<std::size_t, std::size_t>> busy;  // [begin, end) taken by live overlaps
        for (std::size_t i : order) {
            Block& b = blocks_[i];
            busy.clear();
            for (std::size_t j : placed) {
                const Block& o = blocks_[j];
                if (o.first <= b.last && b.first <= o.last) busy.emplace_back(o.offset, o.offset + o.floats);
            }
            std::sort(busy.begin(), busy.end());
            std::size_t offset = 0;
            for (const auto& r : busy) {
                if (r.first >= offset + b.floats) break;
                offset = std::max(offset, r.second);
            }
            b.offset = offset;
            peak_floats_ = std::max(peak_floats_, offset + b.floats);
            placed.push_back(i);
        }
    }

    Mode mode_ = Mode::idle;
    double macs_ = 0;
    std::vector<Block> blocks_;
    int clock_ = 0;
    std::size_t next_ = 0;
    std::size_t peak_floats_ = 0;
    AlignedBuffer<float> arena_;
    alignas(64) float dummy_[16] = {};
};

}  // namespace nn
EDET_NAMESPACE_END
