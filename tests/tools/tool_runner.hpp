// tests/tools/tool_runner.hpp - run the built command-line tools from the tests.
//
// The tools are built in the build directory's root (<build>/edet-dump) and this test
// binary in <build>/tests/test_tools, so a tool is found from /proc/self/exe; a tool that
// was not built (EDET_BUILD_TOOLS=OFF; both builds of scripts/test.sh build them) makes
// the test case skip with a MESSAGE instead of failing.
//
//   const std::string dump = edet_test::tool_path("edet-dump");
//   if (dump.empty()) return;            // skipped, MESSAGE printed
//   edet_test::TempDir tmp;
//   const edet_test::RunResult r = edet_test::run_tool({dump, "--weights", w, ...}, tmp);
//   CHECK(r.exit_code == 0);             // r.out / r.err hold stdout / stderr
#pragma once

#include <doctest/doctest.h>

#include "temp_dir.hpp"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <csignal>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace edet_test {

// The build directory's root (the test binary lives in <root>/tests/).
inline std::filesystem::path build_root() {
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    return exe.parent_path().parent_path();
}

// Path of a built tool, or "" (after a MESSAGE saying why the test is skipped).
inline std::string tool_path(const std::string& name) {
    const std::filesystem::path p = build_root() / name;
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p.string();
    MESSAGE("skipped: " << name << " is not built at " << p.string() << " (EDET_BUILD_TOOLS=OFF?)");
    return {};
}

struct RunResult {
    int exit_code = -1;  // the process's exit status; -1 if it did not exit normally
    std::string out, err;
};

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Limits put on the child process.
struct RunLimits {
    // RLIMIT_FSIZE in bytes (< 0: none), with SIGXFSZ ignored: a write past it fails with
    // EFBIG, like a full disk, and unlike a read-only directory it also stops root.
    long long max_file_bytes = -1;
};

// A tool started by start_tool and not yet waited for.
struct RunningTool {
    pid_t pid = -1;
    std::string out_path, err_path;
};

// Starts argv[0] with the arguments (no shell), stdout and stderr going to files in `tmp`.
inline RunningTool start_tool(const std::vector<std::string>& argv, const TempDir& tmp, const RunLimits& limits = {}) {
    static int counter = 0;
    const std::string tag = std::to_string(++counter);
    RunningTool t;
    t.out_path = tmp / ("stdout." + tag);
    t.err_path = tmp / ("stderr." + tag);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    t.pid = ::fork();
    REQUIRE(t.pid >= 0);
    if (t.pid == 0) {
        const int out = ::open(t.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int err = ::open(t.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(127);
        if (limits.max_file_bytes >= 0) {
            std::signal(SIGXFSZ, SIG_IGN);  // an ignored signal stays ignored across execv
            const rlim_t n = static_cast<rlim_t>(limits.max_file_bytes);
            const struct rlimit lim{n, n};
            if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(126);
        }
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return t;
}

// Waits for a started tool and collects its exit status and output.
inline RunResult wait_tool(const RunningTool& t) {
    int status = 0;
    while (::waitpid(t.pid, &status, 0) < 0)
        if (errno != EINTR) FAIL("waitpid failed for pid " << t.pid);
    RunResult r;
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    r.out = read_text(t.out_path);
    r.err = read_text(t.err_path);
    return r;
}

// Runs argv[0] with the arguments (no shell), stdout and stderr captured through files in
// `tmp`, and waits for it.
inline RunResult run_tool(const std::vector<std::string>& argv, const TempDir& tmp, const RunLimits& limits = {}) {
    return wait_tool(start_tool(argv, tmp, limits));
}

inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

}  // namespace edet_test
