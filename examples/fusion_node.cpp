// A BiFPN fusion node on its own: out = sum_i w_i * x_i / (eps + sum_j w_j), w <- relu(w).
#include <edet/kernels/fusion.hpp>

#include <cmath>
#include <cstdio>

int main() {
    using namespace edet;
    const Shape shape{1, 2, 2, 3};                       // NHWC: 2x2 pixels, 3 channels
    FusionNode<FastNormalizedFusion, 2> node(shape, {0.75f, -0.5f});  // learned edge weights
    Tensor<float> top_down(shape), lateral(shape);
    for (std::size_t i = 0; i < shape.numel(); ++i) {
        top_down.data()[i] = static_cast<float>(i);      // 0, 1, 2, ...
        lateral.data()[i] = 100.0f;                      // ignored: relu(-0.5) = 0
    }
    const Tensor<float> out = node({top_down.view(), lateral.view()});
    // By hand: w = (0.75, 0), d = 0.75 + 0 + 1e-4 = 0.7501, so out_i = i * 0.75 / 0.7501,
    // e.g. out_11 = 8.25 / 0.7501 = 10.99853...
    int bad = 0;
    for (std::size_t i = 0; i < shape.numel(); ++i) {
        const double want = static_cast<double>(i) * 0.75 / 0.7501;
        if (std::fabs(out.data()[i] - want) > 1e-5 * (1.0 + want)) ++bad;
        std::printf("%s%.5f", i ? " " : "out = ", out.data()[i]);
    }
    const auto f = node.factors();
    std::printf("\nfactors = (%.6f, %.6f), %s\n", f[0], f[1], bad ? "MISMATCH" : "matches the formula");
    return bad ? 1 : 0;
}
