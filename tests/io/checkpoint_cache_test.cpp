// Tests for edet/io/checkpoint_cache.hpp: the cache directory rules, downloads through
// curl and wget from file:// URLs and from a tiny HTTP server on 127.0.0.1 run by the
// test itself (good, corrupt, truncated, missing), SHA-256 verification, and that nothing
// but a verified file ever stays in the cache. No internet is used.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "edet/io/checkpoint_cache.hpp"
#include "edet/io/sha256.hpp"
#include "temp_dir.hpp"

using edet::io::FetchOptions;
using edet::io::fetch_file;

namespace {

void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary);
    out << data;
    REQUIRE(out.good());
}

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> list_dir(const std::string& dir) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d))
            if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.push_back(e->d_name);
        ::closedir(d);
    }
    return names;
}

std::string payload() {
    std::string s;
    for (int i = 0; i < 200000; ++i) s += static_cast<char>((i * 7919) >> 3);
    return s;
}

std::string error_of(const std::string& url, const std::string& file, const std::string& prefix,
                     const FetchOptions& o) {
    try {
        fetch_file(url, file, prefix, o);
    } catch (const edet::Error& e) {
        return e.what();
    }
    return "";
}

// Sets an environment variable for one scope and restores it afterwards.
struct EnvGuard {
    std::string name;
    bool had = false;
    std::string old;
    EnvGuard(const char* n, const char* value) : name(n) {
        if (const char* v = std::getenv(n)) {
            had = true;
            old = v;
        }
        if (value) ::setenv(n, value, 1);
        else ::unsetenv(n);
    }
    ~EnvGuard() {
        if (had) ::setenv(name.c_str(), old.c_str(), 1);
        else ::unsetenv(name.c_str());
    }
};

// A one-thread HTTP/1.0 server on 127.0.0.1: GET /good -> the payload, /truncated ->
// a Content-Length of the whole payload but only half of it before closing, anything
// else -> 404.
class TinyServer {
public:
    explicit TinyServer(std::string body) : body_(std::move(body)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd_, 8) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~TinyServer() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) continue;
            std::string req;
            char buf[1024];
            while (req.find("\r\n\r\n") == std::string::npos) {
                const ssize_t n = ::recv(c, buf, sizeof buf, 0);
                if (n <= 0) break;
                req.append(buf, static_cast<std::size_t>(n));
            }
            const std::size_t sp1 = req.find(' '), sp2 = req.find(' ', sp1 + 1);
            const std::string path = sp1 == std::string::npos ? "" : req.substr(sp1 + 1, sp2 - sp1 - 1);
            std::string head, body;
            if (path == "/good" || path == "/truncated") {
                head = "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                       std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n";
                body = path == "/good" ? body_ : body_.substr(0, body_.size() / 2);
            } else {
                head = "HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\n";
                body = "not found";
            }
            const std::string all = head + body;
            for (std::size_t sent = 0; sent < all.size();) {
                const ssize_t n = ::send(c, all.data() + sent, all.size() - sent, MSG_NOSIGNAL);
                if (n <= 0) break;
                sent += static_cast<std::size_t>(n);
            }
            ::close(c);
        }
    }
    std::string body_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace

TEST_CASE("checkpoint_cache: the cache directory follows EDET_HOME, XDG_CACHE_HOME, HOME") {
    EnvGuard home("HOME", "/home/someone");
    {
        EnvGuard e("EDET_HOME", "/data/edet");
        EnvGuard x("XDG_CACHE_HOME", "/xdg");
        CHECK(edet::io::default_cache_dir() == "/data/edet");
    }
    {
        EnvGuard e("EDET_HOME", nullptr);
        EnvGuard x("XDG_CACHE_HOME", "/xdg");
        CHECK(edet::io::default_cache_dir() == "/xdg/edet");
    }
    {
        EnvGuard e("EDET_HOME", nullptr);
        EnvGuard x("XDG_CACHE_HOME", nullptr);
        CHECK(edet::io::default_cache_dir() == "/home/someone/.cache/edet");
        EnvGuard h("HOME", nullptr);
        CHECK_THROWS_AS(edet::io::default_cache_dir(), edet::Error);
    }
}

TEST_CASE("checkpoint_cache: file:// downloads are verified before they enter the cache") {
    if (edet::io::detail::find_on_path("curl").empty()) {
        MESSAGE("curl not installed: file:// download tests skipped");
        return;
    }
    const edet_test::TempDir src_dir, cache_dir;
    const std::string src = src_dir.path().string(), cache = cache_dir / "nested/cache";
    const std::string data = payload();
    const std::string hash = edet::io::sha256_hex(data.data(), data.size());
    write_file(src + "/good.pth", data);
    write_file(src + "/corrupt.pth", std::string(data).replace(1000, 1, "\x01"));
    write_file(src + "/truncated.pth", data.substr(0, data.size() / 3));
    FetchOptions o;
    o.cache_dir = cache;
    o.show_progress = false;
    o.downloader = "curl";
    const std::string prefix = hash.substr(0, 8);

    // Corrupt, truncated, missing: errors that say why and where, and an empty cache.
    std::string e = error_of("file://" + src + "/corrupt.pth", "w-" + prefix + ".pth", prefix, o);
    CHECK(e.find("SHA-256") != std::string::npos);
    CHECK(e.find(prefix) != std::string::npos);
    CHECK(list_dir(cache).empty());
    e = error_of("file://" + src + "/truncated.pth", "w-" + prefix + ".pth", prefix, o);
    CHECK(e.find("truncated or corrupt") != std::string::npos);
    CHECK(list_dir(cache).empty());
    e = error_of("file://" + src + "/absent.pth", "w-" + prefix + ".pth", prefix, o);
    CHECK(e.find("curl failed") != std::string::npos);
    CHECK(e.find(cache + "/w-" + prefix + ".pth") != std::string::npos);  // where to put it by hand
    CHECK(list_dir(cache).empty());

    // Good: lands in the cache under its name, byte-identical, no temporary left.
    const std::string path = fetch_file("file://" + src + "/good.pth", "w-" + prefix + ".pth", prefix, o);
    CHECK(path == cache + "/w-" + prefix + ".pth");
    CHECK(read_all(path) == data);
    CHECK(list_dir(cache) == std::vector<std::string>{"w-" + prefix + ".pth"});
    // Cached: no download needed (the URL is now wrong), full-length prefix accepted.
    CHECK(fetch_file("file://" + src + "/absent.pth", "w-" + prefix + ".pth", hash, o) == path);
    // A cached file that was damaged later is reported, not used.
    write_file(path, data.substr(0, 10));
    CHECK(error_of("file://" + src + "/good.pth", "w-" + prefix + ".pth", prefix, o).find("cached checkpoint") !=
          std::string::npos);
    o.verify_cached = false;
    CHECK(error_of("file://" + src + "/good.pth", "w-" + prefix + ".pth", prefix, o).empty());
}

TEST_CASE("checkpoint_cache: offline and invalid requests say what to do") {
    const edet_test::TempDir cache_dir;
    const std::string cache = cache_dir.path().string();
    FetchOptions o;
    o.cache_dir = cache;
    o.show_progress = false;
    o.allow_download = false;
    std::string e = error_of("https://example.invalid/x/w-0123abcd.pth", "w-0123abcd.pth", "0123abcd", o);
    CHECK(e.find("https://example.invalid/x/w-0123abcd.pth") != std::string::npos);
    CHECK(e.find(cache + "/w-0123abcd.pth") != std::string::npos);
    o.allow_download = true;
    {
        EnvGuard off("EDET_OFFLINE", "1");
        CHECK(error_of("https://example.invalid/w.pth", "w.pth", "0123abcd", o).find("disabled") != std::string::npos);
    }
    CHECK(error_of("ftp://host/w.pth", "w.pth", "0123abcd", o).find("URL") != std::string::npos);
    CHECK(error_of("-o/etc/passwd", "w.pth", "0123abcd", o).find("URL") != std::string::npos);
    CHECK(error_of("file:///w.pth", "../w.pth", "0123abcd", o).find("plain file name") != std::string::npos);
    CHECK(error_of("file:///w.pth", "w.pth", "xyz", o).find("hex") != std::string::npos);
    o.downloader = "rm";
    CHECK(error_of("file:///w.pth", "w.pth", "0123abcd", o).find("curl or wget") != std::string::npos);
    CHECK(list_dir(cache).empty());
}

TEST_CASE("checkpoint_cache: resolve_checkpoint by name, with the base URL overridden") {
    const edet_test::TempDir src_dir, cache_dir;
    const std::string src = src_dir.path().string(), cache = cache_dir.path().string();
    FetchOptions o;
    o.cache_dir = cache;
    o.show_progress = false;
    o.allow_download = false;
    // Offline: the real release URL and the cache path are named.
    std::string e;
    try {
        edet::io::resolve_checkpoint("tf_efficientdet_d0_ap", o);
    } catch (const edet::Error& err) {
        e = err.what();
    }
    CHECK(e.find("https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/"
                 "tf_efficientdet_d0_ap-d0cdbd0a.pth") != std::string::npos);
    CHECK(e.find(cache + "/tf_efficientdet_d0_ap-d0cdbd0a.pth") != std::string::npos);
    try {
        edet::io::resolve_checkpoint("tf_efficientdet_d9", o);
        FAIL("no error");
    } catch (const edet::Error& err) {
        CHECK(std::string(err.what()).find("tf_efficientdet_lite0") != std::string::npos);  // lists known names
    }
    // A mirror (file://) holding a file that is not the release: its hash is rejected.
    if (!edet::io::detail::find_on_path("curl").empty()) {
        write_file(src + "/tf_efficientdet_lite0-dfacfc78.pth", "not the real checkpoint");
        o.allow_download = true;
        o.base_url = "file://" + src + "/";
        CHECK_THROWS_WITH_AS(edet::io::resolve_checkpoint("tf_efficientdet_lite0", o),
                             doctest::Contains("dfacfc78"), edet::Error);
        CHECK(list_dir(cache).empty());
        // The environment variable does the same when no base_url is given.
        o.base_url.clear();
        EnvGuard base("EDET_CHECKPOINT_BASE_URL", ("file://" + src).c_str());
        const std::string want_url = "file://" + src + "/tf_efficientdet_lite0-dfacfc78.pth";
        CHECK_THROWS_WITH_AS(edet::io::resolve_checkpoint("tf_efficientdet_lite0-dfacfc78.pth", o),
                             doctest::Contains(want_url.c_str()), edet::Error);
        CHECK(list_dir(cache).empty());
    }
    // A correct file placed in the cache by hand is found without any download.
    // (We cannot make a file with the release hash, so check the lookup path only.)
}

TEST_CASE("checkpoint_cache: HTTP downloads with curl and wget: good, truncated, missing") {
    const std::string data = payload();
    const std::string hash = edet::io::sha256_hex(data.data(), data.size());
    TinyServer server(data);
    for (const char* tool : {"curl", "wget"}) {
        if (edet::io::detail::find_on_path(tool).empty()) {
            MESSAGE(tool << " not installed: skipped");
            continue;
        }
        CAPTURE(tool);
        const edet_test::TempDir cache_dir;
        const std::string cache = cache_dir.path().string();
        FetchOptions o;
        o.cache_dir = cache;
        o.show_progress = false;
        o.downloader = tool;
        const std::string name = "w-" + hash.substr(0, 8) + ".pth";
        std::string e = error_of(server.url("/truncated"), name, hash.substr(0, 8), o);
        CHECK_FALSE(e.empty());
        CHECK(list_dir(cache).empty());
        e = error_of(server.url("/missing"), name, hash.substr(0, 8), o);
        CHECK(e.find("failed") != std::string::npos);
        CHECK(list_dir(cache).empty());
        const std::string path = fetch_file(server.url("/good"), name, hash.substr(0, 8), o);
        CHECK(read_all(path) == data);
        CHECK(list_dir(cache) == std::vector<std::string>{name});
    }
}
