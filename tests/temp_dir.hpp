// tests/temp_dir.hpp - a scratch directory for tests that write files.
//
// Each TempDir is a fresh directory under the system's temporary directory, removed with
// everything in it when the object goes out of scope, also when a REQUIRE fails, so test
// runs leave nothing behind in /tmp.
//
//   edet_test::TempDir tmp;
//   write(tmp / "weights.safetensors");
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace edet_test {

// A fresh directory under the system's temporary directory, removed with its contents.
class TempDir {
public:
    TempDir() {
        std::random_device rd;
        const auto base = std::filesystem::temp_directory_path();
        for (int attempt = 0; attempt < 100; ++attempt) {
            path_ = base / ("edet-test-" + std::to_string(rd()) + std::to_string(rd()));
            std::error_code ec;
            if (std::filesystem::create_directory(path_, ec)) return;
        }
        FAIL("cannot create a temporary directory under " << base.string());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string operator/(const std::string& name) const { return (path_ / name).string(); }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace edet_test
