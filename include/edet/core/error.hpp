// edet/core/error.hpp - the one exception type edet throws.
//
// Every failure a user can cause (a bad file, a wrong shape, an absurd size) is reported
// as an edet::Error carrying three parts, so a message always says what went wrong,
// where, and why:
//   what  - the operation or object, e.g. "tensor 'fpn.cell.0.fnode.0.combine.edge_weights'"
//   where - the place: a file path, a function, a layer name
//   why   - the reason, with the numbers involved, e.g. "expected shape [2], got [3]"
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "edet/core/arch.hpp"

EDET_NAMESPACE_BEGIN

class Error : public std::runtime_error {
public:
    Error(std::string what, std::string where, std::string why)
        : std::runtime_error(compose(what, where, why)),
          what_(std::move(what)),
          where_(std::move(where)),
          why_(std::move(why)) {}

    const std::string& subject() const noexcept { return what_; }
    const std::string& where() const noexcept { return where_; }
    const std::string& why() const noexcept { return why_; }

private:
    static std::string compose(const std::string& what, const std::string& where,
                               const std::string& why) {
        std::string s = "edet: ";
        if (!where.empty()) s += where + ": ";
        s += what;
        if (!why.empty()) s += ": " + why;
        return s;
    }
    std::string what_, where_, why_;
};

// Throws edet::Error; a function so call sites stay one line and [[noreturn]] helps
// the compiler's flow analysis.
[[noreturn]] inline void fail(std::string what, std::string where, std::string why) {
    throw Error(std::move(what), std::move(where), std::move(why));
}

// Builds a string from streamable parts: cat("expected ", 3, " got ", 4).
template <class... Parts>
std::string cat(const Parts&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    return os.str();
}

EDET_NAMESPACE_END

// Checks a condition that user input can violate; always on (not an assert).
#define EDET_CHECK(cond, what, where, why)                   \
    do {                                                     \
        if (!(cond)) ::edet::fail((what), (where), (why));   \
    } while (0)
