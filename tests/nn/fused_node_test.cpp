// Tests for edet/nn/fused_node.hpp: combine_and_convolve against the unfused sequence
// (fuse the whole map, activate it, SeparableConv::forward), bit for bit.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "edet/nn/fused_node.hpp"
#include "nn/nn_test_util.hpp"

using namespace edet;
using namespace edet_test;

// Maps of one chunk, batches, 1x1 maps and rows so wide (64 channels x 1100 pixels =
// 275 KB) that every chunk is one row and the window slides through its buffer.
TEST_CASE("fused_node: combine_and_convolve gives the unfused sequence's bits at 1, 2 and 3 threads") {
    struct Case { int n, h, w, c, inputs; FusionRule rule; Activation act; };
    const Case cases[] = {
        {1, 40, 40, 64, 2, FusionRule::fast_normalized, Activation::swish},
        {2, 9, 7, 19, 3, FusionRule::softmax, Activation::swish},
        {1, 5, 1100, 64, 2, FusionRule::sum, Activation::relu6},
        {3, 1, 1, 8, 2, FusionRule::fast_normalized, Activation::swish},
    };
    Random r(41);
    for (const Case& k : cases) {
        CAPTURE(k.h);
        CAPTURE(k.w);
        const Shape shape{k.n, k.h, k.w, k.c};
        std::vector<Tensor<float>> in;
        std::vector<const float*> srcs;
        for (int i = 0; i < k.inputs; ++i) {
            in.push_back(random_tensor(r, shape));
            srcs.push_back(in.back().data());
        }
        std::vector<float> edge(static_cast<std::size_t>(k.inputs));
        for (float& e : edge) e = r.uniform(-0.5f, 2.0f);
        nn::SeparableConvSpec cs;
        cs.prefix = "conv";
        cs.in_channels = cs.out_channels = k.c;
        cs.pw_bias = true;
        ParamStore store(r);
        const nn::SeparableConv conv(cs, store.binder_listing_then_load([&](nn::Binder& b) { nn::SeparableConv t(cs, b); }));
        Tensor<float> combined(shape), want(shape);
        kernels::FuseArgs a;
        a.inputs = srcs.data();
        a.count = k.inputs;
        a.weights = k.rule == FusionRule::sum ? nullptr : edge.data();
        a.rule = k.rule;
        a.output = combined.data();
        a.elements = combined.numel();
        kernels::fuse(a);
        kernels::apply_activation(combined.data(), combined.numel(), k.act);
        std::vector<float> dw(conv.scratch_floats(shape));
        conv.forward(combined.view(), want.view(), dw.data());
        nn::NodeCombine c;
        c.inputs = &srcs;
        c.edge_weights = a.weights;
        c.rule = k.rule;
        c.activation = k.act;
        for (int threads : {1, 2, 3}) {
            CAPTURE(threads);
            Tensor<float> out(shape);
            set_num_threads(threads);
            nn::combine_and_convolve(c, conv, out.view(), dw.data());
            set_num_threads(0);
            CHECK(std::memcmp(out.data(), want.data(), want.numel() * sizeof(float)) == 0);
        }
    }
}
