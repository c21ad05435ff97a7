// edet/io/checkpoint_cache.hpp - published checkpoints by name: a local cache, downloads
// with curl or wget, SHA-256 verification.
//
//   std::string path = edet::io::resolve_checkpoint("tf_efficientdet_d0");
//   auto weights = edet::io::PthFile::open(path);
//
// The cache directory is $EDET_HOME, else $XDG_CACHE_HOME/edet, else ~/.cache/edet. A
// file is looked up there under its release name (tf_efficientdet_d0_34-f153e0cf.pth).
// When it is missing it is downloaded from the table's URL - or from
// $EDET_CHECKPOINT_BASE_URL/<file> (FetchOptions::base_url wins over both), which is how
// mirrors and the tests use it - into a temporary file in the cache directory
// ("<file>.part-XXXXXX"). Its SHA-256 must start with the 8 hex digits in the release
// name; only then is it renamed into place (atomic within a directory), so a failed,
// truncated or corrupt download never stays in the cache. Without a downloader, with
// FetchOptions::allow_download = false or with $EDET_OFFLINE=1, the error says which URL to
// fetch and where to put the file.
//
// The downloader runs through fork/exec (posix_spawnp) with an argument vector, never a
// shell, so no URL or path needs quoting; only http://, https:// and file:// URLs are
// accepted (file:// needs curl). Its progress bar goes to stderr.
#pragma once

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/checkpoints.hpp"
#include "edet/io/sha256.hpp"

extern char** environ;

EDET_NAMESPACE_BEGIN
namespace io {

struct FetchOptions {
    std::string cache_dir;        // "" = default_cache_dir()
    std::string base_url;         // "" = $EDET_CHECKPOINT_BASE_URL, else the table's URL
    bool allow_download = true;   // false (or $EDET_OFFLINE=1): fail with instructions
    bool verify_cached = true;    // re-hash a file already in the cache (~1 s per 300 MB)
    bool show_progress = true;    // the downloader's progress bar on stderr
    std::string downloader;       // "" = curl if on PATH, else wget; or "curl" / "wget"
};

namespace detail {

inline std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

// The absolute path of `program` on $PATH, "" when absent.
inline std::string find_on_path(const std::string& program) {
    std::string path = env("PATH");
    if (path.empty()) path = "/usr/local/bin:/usr/bin:/bin";
    std::size_t begin = 0;
    for (;;) {
        const std::size_t end = path.find(':', begin);
        std::string dir = path.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
        if (dir.empty()) dir = ".";
        const std::string candidate = dir + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        if (end == std::string::npos) return {};
        begin = end + 1;
    }
}

inline void make_dirs(const std::string& dir) {
    std::string partial;
    for (std::size_t i = 0; i <= dir.size(); ++i) {
        if (i == dir.size() || (dir[i] == '/' && i > 0)) {
            partial = dir.substr(0, i);
            if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
                fail("cache directory", partial, cat("cannot create: ", std::strerror(errno)));
        }
    }
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) fail("cache directory", dir, "is not a directory");
}

inline bool file_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Runs argv[0] (searched on $PATH) with the given arguments and waits; returns its exit
// status, or -1 when it could not start or was killed.
inline int run_program(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Removes the temporary download unless released (kept on success by renaming it).
struct TempFile {
    std::string path;
    ~TempFile() {
        if (!path.empty()) std::remove(path.c_str());
    }
};

}  // namespace detail

// $EDET_HOME, else $XDG_CACHE_HOME/edet, else $HOME/.cache/edet.
inline std::string default_cache_dir() {
    std::string d = detail::env("EDET_HOME");
    if (!d.empty()) return d;
    d = detail::env("XDG_CACHE_HOME");
    if (!d.empty()) return d + "/edet";
    d = detail::env("HOME");
    if (d.empty()) fail("cache directory", "default_cache_dir", "none of EDET_HOME, XDG_CACHE_HOME, HOME is set");
    return d + "/.cache/edet";
}

// The file `file_name` in the cache, downloaded from `url` if missing and verified against
// `sha256_prefix` (hex, any length 1-64). Returns its path. See the header comment.
inline std::string fetch_file(const std::string& url, const std::string& file_name, const std::string& sha256_prefix,
                              const FetchOptions& options = {}) {
    if (file_name.empty() || file_name.find('/') != std::string::npos || file_name[0] == '.')
        fail("checkpoint file name", "fetch_file", cat("'", file_name, "' must be a plain file name"));
    if (sha256_prefix.empty() || sha256_prefix.size() > 64 ||
        sha256_prefix.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
        fail("sha256 prefix", file_name, cat("'", sha256_prefix, "' is not 1 to 64 hex digits"));
    const std::string dir = options.cache_dir.empty() ? default_cache_dir() : options.cache_dir;
    const std::string dest = dir + "/" + file_name;

    if (detail::file_exists(dest)) {
        if (options.verify_cached) {
            const std::string got = sha256_file(dest);
            if (!sha256_matches_prefix(got, sha256_prefix))
                fail("cached checkpoint", dest,
                     cat("SHA-256 is ", got, ", expected it to start with ", sha256_prefix,
                         "; the file is corrupt or a different one: delete it to download it again from ", url));
        }
        return dest;
    }

    const std::string instructions =
        cat("download ", url, " and save it as ", dest, " (or set EDET_HOME to a directory that holds it)");
    if (!options.allow_download || detail::env("EDET_OFFLINE") == "1")
        fail("checkpoint", file_name, cat("not in the cache and downloads are disabled: ", instructions));
    if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0 && url.rfind("file://", 0) != 0)
        fail("checkpoint URL", file_name, cat("'", url, "' is not an http(s):// or file:// URL"));

    std::string tool = options.downloader;
    if (tool.empty()) tool = !detail::find_on_path("curl").empty() ? "curl" : "wget";
    if (tool != "curl" && tool != "wget") fail("downloader", file_name, cat("'", tool, "' (curl or wget expected)"));
    if (detail::find_on_path(tool).empty())
        fail("checkpoint", file_name, cat("neither curl nor wget is installed: ", instructions));

    detail::make_dirs(dir);
    detail::TempFile tmp;
    {
        std::string templ = dest + ".part-XXXXXX";
        std::vector<char> buf(templ.begin(), templ.end());
        buf.push_back('\0');
        const int fd = ::mkstemp(buf.data());
        if (fd < 0) fail("cache directory", dir, cat("cannot create a temporary file: ", std::strerror(errno)));
        ::close(fd);
        tmp.path = buf.data();
    }
    std::vector<std::string> args;
    if (tool == "curl") {
        args = {"curl", "--fail", "--location", "--retry", "2", "--connect-timeout", "30",
                options.show_progress ? "--progress-bar" : "--silent", "--show-error", "--output", tmp.path, "--", url};
    } else {
        args = {"wget", "--tries=2", "--timeout=60", options.show_progress ? "--progress=bar:force" : "--quiet",
                "--output-document=" + tmp.path, "--", url};
    }
    if (options.show_progress) std::fprintf(stderr, "edet: downloading %s\n", url.c_str());
    const int rc = detail::run_program(args);
    if (rc != 0)
        fail("checkpoint download", url,
             cat(tool, " failed (exit status ", rc, "); nothing was stored. Offline? ", instructions));
    const std::string got = sha256_file(tmp.path);
    if (!sha256_matches_prefix(got, sha256_prefix))
        fail("checkpoint download", url,
             cat("SHA-256 of the downloaded file is ", got, ", expected it to start with ", sha256_prefix,
                 " (truncated or corrupt download); it was deleted. ", instructions));
    ::chmod(tmp.path.c_str(), 0644);  // mkstemp made it 0600; a cache entry is an ordinary file
    if (std::rename(tmp.path.c_str(), dest.c_str()) != 0)
        fail("checkpoint", dest, cat("cannot move the download into place: ", std::strerror(errno)));
    tmp.path.clear();
    return dest;
}

// The local path of a published checkpoint by name (a variant or release file name, see
// checkpoints.hpp), downloading and verifying it if needed.
inline std::string resolve_checkpoint(const std::string& name, const FetchOptions& options = {}) {
    const CheckpointInfo* c = find_checkpoint(name);
    if (!c) {
        std::string known;
        for (const CheckpointInfo& k : checkpoint_table) known += (known.empty() ? "" : ", ") + std::string(k.variant);
        fail(cat("checkpoint '", name, "'"), "resolve_checkpoint", cat("unknown name; known: ", known));
    }
    std::string base = options.base_url.empty() ? detail::env("EDET_CHECKPOINT_BASE_URL") : options.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    const std::string url = base.empty() ? std::string(c->url) : base + "/" + c->file;
    return fetch_file(url, c->file, c->sha256_prefix, options);
}

}  // namespace io
EDET_NAMESPACE_END
