// A user's program built against an installed edet: it only includes edet.hpp.
#include <edet/edet.hpp>

#include <cstdio>

int main() {
    edet::Tensor<float> t(edet::Shape{1, 3, 5, 7});
    t.at(0, 2, 4, 6) = 1.5f;
    if (t.numel() != 105 || t.at(0, 2, 4, 6) != 1.5f) return 1;
    std::printf("edet consumer ok (%s)\n", edet::compiled_arch());
    return 0;
}
