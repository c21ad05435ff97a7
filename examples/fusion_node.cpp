// One real BiFPN node on its own: fpn.cell.0.fnode.3 of the shared D0 fixture, built by
// its module name from the checkpoint, fed the reference's inputs (P3 and node 2's output)
// and checked against the reference's own output of that node.  Usage: fusion_node [DIR]
#include <edet/io/safetensors.hpp>
#include <edet/models/bifpn_node.hpp>

#include <cmath>
#include <cstdio>
#include <string>

// A reference NCHW tensor as an NHWC one.
edet::Tensor<float> nhwc(const edet::io::SafeTensorsFile& f, const std::string& name) {
    const auto& s = f.find(name)->shape;
    const std::vector<float> v = f.read_f32(name);
    const int n = int(s[0]), c = int(s[1]), h = int(s[2]), w = int(s[3]);
    edet::Tensor<float> t(edet::Shape{n, h, w, c});
    for (int i = 0; i < n * h * w; ++i)
        for (int k = 0; k < c; ++k) t.data()[i * c + k] = v[(i / (h * w) * c + k) * h * w + i % (h * w)];
    return t;
}

int main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : EDET_SOURCE_DIR "/../shared/fixtures/tf_efficientdet_d0_s3_256x384";
    const auto outputs = edet::io::SafeTensorsFile::open(dir + "/outputs.safetensors");
    const auto nodes = edet::io::SafeTensorsFile::open(dir + "/nodes.safetensors");
    const edet::BiFpnNodeModel node = edet::BiFpnNodeModel::load(dir + "/weights.safetensors", "fpn.cell.0.fnode.3");
    // Its inputs_offsets are {0, 7}: the backbone's P3 and the cell's node 2 (P4, upsampled).
    const edet::Tensor<float> p3 = nhwc(*outputs, "backbone.0"), n2 = nhwc(*nodes, "fpn.cell.0.fnode.2.out");
    const edet::Tensor<float> out = node.forward({p3.view(), n2.view()});
    const edet::Tensor<float> ref = nhwc(*nodes, "fpn.cell.0.fnode.3.out");
    double err = 0, scale = 0;
    for (std::size_t i = 0; i < ref.numel(); ++i) {
        err = std::fmax(err, std::fabs(out.data()[i] - ref.data()[i]));
        scale = std::fmax(scale, std::fabs(ref.data()[i]));
    }
    std::printf("%s (P%d, %s): max |edet - ref| / max |ref| = %.2e\n", node.name().c_str(), node.level(),
                out.shape().str().c_str(), err / scale);
    return err / scale <= 1e-4 ? 0 : 1;
}
