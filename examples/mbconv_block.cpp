// The stem and stages 0-2 of the shared D0 fixture, each block built by its module name from the
// checkpoint, run in turn on the fixture's image: the reference's P3 (backbone.0). Usage: mbconv_block [DIR]
#include <edet/io/safetensors.hpp>
#include <edet/models/mbconv_block.hpp>

#include <cmath>
#include <cstdio>
#include <string>

edet::Tensor<float> nchw_as_nhwc(const std::string& path, const std::string& name) {
    const auto f = edet::io::SafeTensorsFile::open(path);
    const auto& s = f->find(name)->shape;
    const std::vector<float> v = f->read_f32(name);
    const int n = int(s[0]), c = int(s[1]), h = int(s[2]), w = int(s[3]);
    edet::Tensor<float> t(edet::Shape{n, h, w, c});
    for (int i = 0; i < n * h * w; ++i)
        for (int k = 0; k < c; ++k) t.data()[i * c + k] = v[(i / (h * w) * c + k) * h * w + i % (h * w)];
    return t;
}

int main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : EDET_SOURCE_DIR "/../shared/fixtures/tf_efficientdet_d0_s3_256x384";
    const std::string weights = dir + "/weights.safetensors";
    const edet::Tensor<float> image = nchw_as_nhwc(dir + "/input.safetensors", "input");
    edet::Tensor<float> x = edet::StemModel::load(weights, "backbone.conv_stem").forward(image.view());
    for (const char* stage_block : {"0.0", "1.0", "1.1", "2.0", "2.1"}) {  // stage 2 ends at P3 (stride 8)
        const auto block = edet::MBConvBlockModel::load(weights, std::string("backbone.blocks.") + stage_block);
        x = block.forward(x.view());
        std::printf("%s (stride %d): %s\n", block.name().c_str(), block.stride(), x.shape().str().c_str());
    }
    const edet::Tensor<float> ref = nchw_as_nhwc(dir + "/outputs.safetensors", "backbone.0");
    double err = 0, scale = 0;
    for (std::size_t i = 0; i < ref.numel() && i < x.numel(); ++i) {
        err = std::fmax(err, std::fabs(x.data()[i] - ref.data()[i]));
        scale = std::fmax(scale, std::fabs(ref.data()[i]));
    }
    std::printf("P3 from the stem and 5 blocks: max |edet - ref| / max |ref| = %.2e\n", err / scale);
    return x.shape() == ref.shape() && err / scale <= 1e-4 ? 0 : 1;
}
