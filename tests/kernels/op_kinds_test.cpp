// Tests for edet/kernels/op_kinds.hpp: the spellings of the kernel variants a config names
// (the same words edet-summary prints and the model tables use).
#include <doctest/doctest.h>

#include <string>

#include "edet/kernels/op_kinds.hpp"

TEST_CASE("op_kinds: activations and fusion rules spell as effdet's configs do") {
    CHECK(std::string(edet::to_string(edet::Activation::swish)) == "swish");
    CHECK(std::string(edet::to_string(edet::Activation::relu6)) == "relu6");
    CHECK(std::string(edet::to_string(edet::Activation::none)) == "none");
    CHECK(std::string(edet::to_string(edet::Activation::relu)) == "relu");
    CHECK(std::string(edet::to_string(edet::Activation::sigmoid)) == "sigmoid");
    CHECK(std::string(edet::to_string(edet::FusionRule::fast_normalized)) == "fast_normalized");
    CHECK(std::string(edet::to_string(edet::FusionRule::sum)) == "sum");
    CHECK(std::string(edet::to_string(edet::FusionRule::softmax)) == "softmax");
}
