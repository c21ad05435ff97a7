// Tests for edet/io/checkpoints.hpp: the compiled-in table equals checkpoints.tsv row for
// row (tests/data/pth/checkpoints.tsv is a copy of ../shared/checkpoints.tsv) in every
// column it holds, and every row is a name find_checkpoint accepts. The TSV's image_hw
// column is the network's, not this table's: tests/detect/variants_test.cpp checks it
// through detect::variants(), which joins this table with the network rows.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "edet/io/checkpoints.hpp"
#include "test_util.hpp"

using edet::io::CheckpointInfo;
using edet::io::find_checkpoint;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string part;
    std::istringstream ss(s);
    while (std::getline(ss, part, sep)) out.push_back(part);
    return out;
}

std::vector<std::vector<std::string>> read_tsv() {
    std::ifstream in(edet_test::test_data_dir() + "/pth/checkpoints.tsv");
    REQUIRE(in);
    std::vector<std::vector<std::string>> rows;
    std::string line;
    std::getline(in, line);
    CHECK(line.rfind("variant\tnetwork\timage_hw\tmean\tstd\tfill\tcoco_val2017_ap\tparams_m\tfile\tsha256_prefix\turl", 0) ==
          0);
    while (std::getline(in, line))
        if (!line.empty()) rows.push_back(split(line, '\t'));
    return rows;
}

}  // namespace

static_assert(edet::io::checkpoint_count == 23, "one row per released checkpoint");

TEST_CASE("checkpoints: the table matches checkpoints.tsv exactly") {
    const auto rows = read_tsv();
    REQUIRE(rows.size() == edet::io::checkpoint_count);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        REQUIRE(r.size() == 11);
        const CheckpointInfo& c = edet::io::checkpoint_table[i];
        CAPTURE(r[0]);
        CHECK(r[0] == c.variant);
        CHECK(r[1] == c.network);
        const auto mean = split(r[3], ','), stdv = split(r[4], ','), fill = split(r[5], ',');
        for (int k = 0; k < 3; ++k) {
            // Exactly the published decimals (the table holds them as doubles).
            CHECK(std::stod(mean[static_cast<std::size_t>(k)]) == c.mean[static_cast<std::size_t>(k)]);
            CHECK(std::stod(stdv[static_cast<std::size_t>(k)]) == c.std[static_cast<std::size_t>(k)]);
            CHECK(std::stoi(fill[static_cast<std::size_t>(k)]) == c.fill[static_cast<std::size_t>(k)]);
        }
        CHECK(std::stod(r[6]) == c.coco_ap);
        CHECK(std::stod(r[7]) == c.params_m);
        CHECK(r[8] == c.file);
        CHECK(r[9] == c.sha256_prefix);
        CHECK(r[10] == c.url);
        // Every row is a name the API accepts, under each of its spellings.
        CHECK(find_checkpoint(r[0]) == &c);
        CHECK(find_checkpoint(r[8]) == &c);
        CHECK(find_checkpoint(r[8].substr(0, r[8].size() - 4)) == &c);
        // The release name carries the hash prefix; the URL ends with the file name.
        CHECK(r[8].find("-" + r[9] + ".pth") != std::string::npos);
        CHECK(r[10].size() > r[8].size());
        CHECK(r[10].compare(r[10].size() - r[8].size(), r[8].size(), r[8]) == 0);
    }
}

TEST_CASE("checkpoints: AdvProp rows run the plain network with 0.5/0.5 and a zero fill") {
    int ap_rows = 0;
    for (const CheckpointInfo& c : edet::io::checkpoint_table) {
        const std::string v = c.variant;
        if (v.size() < 3 || v.compare(v.size() - 3, 3, "_ap") != 0) {
            CHECK(v == c.network);  // every other variant runs the network of its own name
            continue;
        }
        ++ap_rows;
        CAPTURE(v);
        CHECK(std::string(c.network) == v.substr(0, v.size() - 3));
        const CheckpointInfo* base = find_checkpoint(c.network);
        REQUIRE(base);
        CHECK(base->mean[0] == doctest::Approx(0.485));
        for (int k = 0; k < 3; ++k) {
            CHECK(c.mean[static_cast<std::size_t>(k)] == 0.5);
            CHECK(c.std[static_cast<std::size_t>(k)] == 0.5);
            CHECK(c.fill[static_cast<std::size_t>(k)] == 0);
        }
    }
    CHECK(ap_rows == 6);
}

TEST_CASE("checkpoints: unknown names") {
    CHECK(find_checkpoint("") == nullptr);
    CHECK(find_checkpoint("tf_efficientdet_d8") == nullptr);
    CHECK(find_checkpoint("TF_EFFICIENTDET_D0") == nullptr);
    CHECK(find_checkpoint(".pth") == nullptr);
    CHECK(find_checkpoint("tf_efficientdet_d0_34-f153e0cf.pt") == nullptr);
}
