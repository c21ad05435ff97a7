// Tests for edet/nn/workspace.hpp: buffers alive at the same time never overlap; dead
// buffers are reused; execution replays the plan.
#include <doctest/doctest.h>

#include "edet/nn/workspace.hpp"
#include "test_util.hpp"

using edet::nn::Workspace;

namespace {
// A random program of acquire/release; returns (handle, size, first, last) per buffer.
struct Event { bool acquire; int index; std::size_t size; };
std::vector<Event> random_program(edet_test::Random& r, int buffers) {
    std::vector<Event> ev;
    std::vector<int> live;
    int made = 0;
    while (made < buffers || !live.empty()) {
        if (made < buffers && (live.empty() || r.integer(0, 2) > 0)) {
            ev.push_back({true, made, static_cast<std::size_t>(r.integer(1, 5000))});
            live.push_back(made++);
        } else {
            const int k = r.integer(0, static_cast<int>(live.size()) - 1);
            ev.push_back({false, live[static_cast<std::size_t>(k)], 0});
            live.erase(live.begin() + k);
        }
    }
    return ev;
}
void run(Workspace& ws, const std::vector<Event>& ev, std::vector<Workspace::Handle>& h) {
    for (const auto& e : ev) {
        if (e.acquire) h[static_cast<std::size_t>(e.index)] = ws.acquire(e.size);
        else ws.release(h[static_cast<std::size_t>(e.index)]);
    }
}
}  // namespace

TEST_CASE("workspace: live buffers never overlap, and the peak is below the sum") {
    edet_test::Random r(8);
    for (int trial = 0; trial < 20; ++trial) {
        const auto ev = random_program(r, 40);
        Workspace ws;
        std::vector<Workspace::Handle> h(40);
        ws.begin_plan();
        run(ws, ev, h);
        ws.finish_plan();
        CAPTURE(trial);
        CHECK(ws.peak_bytes() <= ws.total_bytes());
        // Execute, writing a buffer's id into all of it on acquire and checking it on release.
        ws.begin_execute();
        std::vector<std::size_t> sizes(40);
        bool ok = true;
        for (const auto& e : ev) {
            const std::size_t i = static_cast<std::size_t>(e.index);
            if (e.acquire) {
                h[i] = ws.acquire(e.size);
                sizes[i] = e.size;
                float* p = ws.data(h[i]);
                CHECK(reinterpret_cast<std::uintptr_t>(p) % 64 == 0);
                for (std::size_t k = 0; k < e.size; ++k) p[k] = static_cast<float>(e.index);
            } else {
                const float* p = ws.data(h[i]);
                for (std::size_t k = 0; k < sizes[i]; ++k) ok = ok && p[k] == static_cast<float>(e.index);
                ws.release(h[i]);
            }
        }
        ws.finish_execute();
        CHECK(ok);
    }
}

TEST_CASE("workspace: sequential buffers share memory; a run that differs from the plan is refused") {
    Workspace ws;
    ws.begin_plan();
    for (int i = 0; i < 10; ++i) ws.release(ws.acquire(1000));
    ws.finish_plan();
    CHECK(ws.peak_bytes() == 1008 * sizeof(float));
    ws.begin_execute();
    CHECK_THROWS_AS(ws.acquire(2000), edet::Error);
}
