// The smallest edet program: make a tensor, view part of it, print what it is.
#include <edet/edet.hpp>

#include <cstdio>

int main() {
    edet::Tensor<float> image(edet::Shape{1, 4, 6, 3});
    image.at(0, 1, 2, 0) = 1.0f;
    auto top = image.view().rows(0, 2);
    std::printf("edet (%s): tensor %s, top rows %s\n", edet::compiled_arch(),
                image.shape().str().c_str(), top.shape().str().c_str());
    return 0;
}
