// edet/io/json.hpp - a small, strict JSON reader and writer (RFC 8259).
//
// Used for safetensors headers, fixture manifests and the detection JSON the tools print.
// Strict on purpose: the input often comes from files we did not write, so anything that
// is not JSON is an edet::Error naming the byte offset, never a guess.
//
//   json::Value v = json::parse(text, "manifest.json");   // throws edet::Error on bad input
//   for (const auto& t : v["tensors"].as_array()) ...      // missing key / wrong type -> Error
//   std::string s = json::dump(v);                         // compact, always valid JSON
//
// What "strict" means here:
//   - exactly one value, surrounded only by JSON whitespace (space, tab, CR, LF);
//   - no comments, no trailing commas, no NaN/Infinity, no leading zeros, no single quotes;
//   - strings must be valid UTF-8 without raw control characters; \uXXXX escapes must
//     form valid code points (surrogates in pairs) and are decoded to UTF-8;
//   - duplicate keys in one object are an error (a header with two entries for the same
//     tensor is ambiguous);
//   - nesting deeper than max_depth (default 64) is an error, so the recursive parser
//     cannot exhaust the stack whatever the input.
// The parser reads only inside the given std::string_view.
//
// Numbers: every number keeps its double value; an integer literal (no fraction, no
// exponent) that fits int64 also keeps its exact int64 value (as_int64), so byte offsets
// beyond 2^53 are not rounded. Objects keep their members in file order.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "edet/core/error.hpp"

EDET_NAMESPACE_BEGIN
namespace io {
namespace json {

enum class Type { null, boolean, number, string, array, object };

inline const char* to_string(Type t) {
    switch (t) {
        case Type::null: return "null";
        case Type::boolean: return "boolean";
        case Type::number: return "number";
        case Type::string: return "string";
        case Type::array: return "array";
        case Type::object: return "object";
    }
    return "?";
}

class Value;
using Array = std::vector<Value>;
using Member = std::pair<std::string, Value>;
using Object = std::vector<Member>;  // in file order; keys unique when parsed

class Value {
public:
    Value() = default;  // null
    Value(std::nullptr_t) {}
    Value(bool b) : type_(Type::boolean), bool_(b) {}
    Value(double d) : type_(Type::number), number_(d) {}
    // A float is written back in float's shortest form (0.1f -> 0.1, not 0.10000000149011612).
    Value(float f) : type_(Type::number), number_(static_cast<double>(f)), is_float_(true) {}
    Value(int i) { set_int(i); }
    Value(long i) { set_int(i); }
    Value(long long i) { set_int(i); }
    Value(unsigned i) { set_int(static_cast<long long>(i)); }
    Value(unsigned long i) { set_uint(i); }
    Value(unsigned long long i) { set_uint(i); }
    Value(std::string s) : type_(Type::string), string_(std::move(s)) {}
    Value(const char* s) : Value(std::string(s)) {}
    Value(std::string_view s) : Value(std::string(s)) {}
    Value(Array a) : type_(Type::array), array_(std::move(a)) {}
    Value(Object o) : type_(Type::object), object_(std::move(o)) {}

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::null; }
    bool is_bool() const { return type_ == Type::boolean; }
    bool is_number() const { return type_ == Type::number; }
    // A number written as an integer literal that fits int64 (or built from an integer).
    bool is_int64() const { return type_ == Type::number && is_int_; }
    // A number built from a float (written in float's shortest round-trip form).
    bool is_float() const { return type_ == Type::number && is_float_; }
    bool is_string() const { return type_ == Type::string; }
    bool is_array() const { return type_ == Type::array; }
    bool is_object() const { return type_ == Type::object; }

    bool as_bool() const { expect(Type::boolean); return bool_; }
    double as_number() const { expect(Type::number); return number_; }
    std::int64_t as_int64() const {
        expect(Type::number);
        if (!is_int_) fail("JSON value", "", cat("expected an integer in int64 range, got ", number_));
        return int_;
    }
    const std::string& as_string() const { expect(Type::string); return string_; }
    const Array& as_array() const { expect(Type::array); return array_; }
    Array& as_array() { expect(Type::array); return array_; }
    const Object& as_object() const { expect(Type::object); return object_; }
    Object& as_object() { expect(Type::object); return object_; }

    // Elements of an array or members of an object; 0 otherwise.
    std::size_t size() const {
        return type_ == Type::array ? array_.size() : type_ == Type::object ? object_.size() : 0;
    }
    // Object member by key: nullptr when absent (or when this is not an object).
    const Value* find(std::string_view key) const {
        if (type_ != Type::object) return nullptr;
        for (const auto& m : object_)
            if (m.first == key) return &m.second;
        return nullptr;
    }
    // Object member by key; edet::Error when absent or not an object.
    const Value& operator[](std::string_view key) const {
        expect(Type::object);
        const Value* v = find(key);
        if (!v) fail("JSON object", "", cat("missing key \"", key, "\""));
        return *v;
    }
    // Array element; edet::Error when out of range or not an array.
    const Value& operator[](std::size_t i) const {
        expect(Type::array);
        if (i >= array_.size()) fail("JSON array", "", cat("index ", i, " out of range (size ", array_.size(), ")"));
        return array_[i];
    }
    // Appends to an array / sets an object member (replacing an existing key), for writers.
    Value& push_back(Value v) { expect(Type::array); array_.push_back(std::move(v)); return array_.back(); }
    Value& set(std::string key, Value v) {
        expect(Type::object);
        for (auto& m : object_)
            if (m.first == key) return m.second = std::move(v);
        object_.emplace_back(std::move(key), std::move(v));
        return object_.back().second;
    }

    bool operator==(const Value& o) const {
        if (type_ != o.type_) return false;
        switch (type_) {
            case Type::null: return true;
            case Type::boolean: return bool_ == o.bool_;
            case Type::number: return is_int_ && o.is_int_ ? int_ == o.int_ : number_ == o.number_;
            case Type::string: return string_ == o.string_;
            case Type::array: return array_ == o.array_;
            case Type::object: return object_ == o.object_;
        }
        return false;
    }
    bool operator!=(const Value& o) const { return !(*this == o); }

private:
    void set_int(long long i) {
        type_ = Type::number;
        number_ = static_cast<double>(i);
        int_ = static_cast<std::int64_t>(i);
        is_int_ = true;
    }
    void set_uint(unsigned long long u) {
        if (u > static_cast<unsigned long long>(INT64_MAX))
            fail("JSON number", "", cat(u, " exceeds the int64 range"));
        set_int(static_cast<long long>(u));
    }
    void expect(Type t) const {
        if (type_ != t) fail("JSON value", "", cat("expected ", to_string(t), ", got ", to_string(type_)));
    }
    Type type_ = Type::null;
    bool bool_ = false;
    double number_ = 0.0;
    std::int64_t int_ = 0;
    bool is_int_ = false;
    bool is_float_ = false;
    std::string string_;
    Array array_;
    Object object_;
};

// An integer JSON number.
inline Value integer(std::int64_t i) { return Value(static_cast<long long>(i)); }

namespace detail {

// Appends code point cp (valid, not a surrogate) as UTF-8.
inline void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Length of the valid UTF-8 sequence starting at s[i] (1..4), or 0 if invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    if (c < 0x80) return 1;
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1Fu; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0Fu; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07u; }
    else return 0;
    if (s.size() - i < len) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const unsigned char d = byte(i + k);
        if ((d & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (d & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

class Parser {
public:
    Parser(std::string_view text, std::string where, std::size_t max_depth)
        : s_(text), where_(std::move(where)), max_depth_(max_depth) {}

    Value parse_document() {
        skip_ws();
        Value v = parse_value(0);
        skip_ws();
        if (pos_ != s_.size()) error("unexpected data after the JSON value");
        return v;
    }

private:
    [[noreturn]] void error(const std::string& why) const {
        fail("JSON syntax", where_, cat("at byte ", pos_, ": ", why));
    }
    bool at_end() const { return pos_ >= s_.size(); }
    char peek() const { return s_[pos_]; }  // only when !at_end()
    static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
    void skip_ws() {
        while (!at_end() && is_ws(peek())) ++pos_;
    }
    static std::string describe(char c) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7F) return cat("'", c, "'");
        return cat("byte 0x", "0123456789abcdef"[u >> 4], "0123456789abcdef"[u & 15]);
    }
    void expect_literal(std::string_view lit) {
        if (s_.substr(pos_, lit.size()) != lit) error(cat("invalid literal (expected ", lit, ")"));
        pos_ += lit.size();
    }

    Value parse_value(std::size_t depth) {
        if (at_end()) error("unexpected end of input, expected a value");
        const char c = peek();
        switch (c) {
            case '{': return parse_object(depth + 1);
            case '[': return parse_array(depth + 1);
            case '"': return Value(parse_string());
            case 't': expect_literal("true"); return Value(true);
            case 'f': expect_literal("false"); return Value(false);
            case 'n': expect_literal("null"); return Value();
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
                error(cat("unexpected ", describe(c), ", expected a value"));
        }
    }

    void check_depth(std::size_t depth) {
        if (depth > max_depth_) error(cat("nesting deeper than ", max_depth_, " levels"));
    }

    Value parse_object(std::size_t depth) {
        check_depth(depth);
        ++pos_;  // '{'
        Object obj;
        skip_ws();
        if (!at_end() && peek() == '}') {
            ++pos_;
            return Value(std::move(obj));
        }
        for (;;) {
            skip_ws();
            if (at_end() || peek() != '"')
                error(at_end() ? "unexpected end of input, expected a key" : cat("expected a string key, got ", describe(peek())));
            const std::size_t key_pos = pos_;
            std::string key = parse_string();
            skip_ws();
            if (at_end() || peek() != ':') error("expected ':' after an object key");
            ++pos_;
            skip_ws();
            Value v = parse_value(depth);
            obj.emplace_back(std::move(key), std::move(v));
            key_positions_.push_back(key_pos);
            skip_ws();
            if (at_end()) error("unexpected end of input inside an object");
            if (peek() == ',') { ++pos_; continue; }
            if (peek() == '}') { ++pos_; break; }
            error(cat("expected ',' or '}' in an object, got ", describe(peek())));
        }
        check_duplicates(obj);
        return Value(std::move(obj));
    }

    // O(n log n), so a fuzzer's object with thousands of keys stays fast.
    void check_duplicates(const Object& obj) {
        const std::size_t n = obj.size();
        const std::size_t first_pos = key_positions_.size() - n;
        if (n > 1) {
            std::vector<std::size_t> order(n);
            for (std::size_t i = 0; i < n; ++i) order[i] = i;
            std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
                return obj[a].first < obj[b].first || (obj[a].first == obj[b].first && a < b);
            });
            for (std::size_t i = 1; i < n; ++i)
                if (obj[order[i]].first == obj[order[i - 1]].first) {
                    pos_ = key_positions_[first_pos + order[i]];
                    error(cat("duplicate key \"", obj[order[i]].first, "\""));
                }
        }
        key_positions_.resize(first_pos);
    }

    Value parse_array(std::size_t depth) {
        check_depth(depth);
        ++pos_;  // '['
        Array arr;
        skip_ws();
        if (!at_end() && peek() == ']') {
            ++pos_;
            return Value(std::move(arr));
        }
        for (;;) {
            skip_ws();
            arr.push_back(parse_value(depth));
            skip_ws();
            if (at_end()) error("unexpected end of input inside an array");
            if (peek() == ',') { ++pos_; continue; }
            if (peek() == ']') { ++pos_; break; }
            error(cat("expected ',' or ']' in an array, got ", describe(peek())));
        }
        return Value(std::move(arr));
    }

    std::uint32_t parse_hex4() {
        if (s_.size() - pos_ < 4) error("truncated \\u escape");
        std::uint32_t v = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = s_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
            else { --pos_; error("invalid hex digit in \\u escape"); }
        }
        return v;
    }

    std::string parse_string() {
        ++pos_;  // opening quote
        std::string out;
        for (;;) {
            if (at_end()) error("unterminated string");
            const char c = peek();
            const auto u = static_cast<unsigned char>(c);
            if (c == '"') { ++pos_; return out; }
            if (u < 0x20) error(cat("raw control character ", describe(c), " in a string (escape it)"));
            if (c == '\\') {
                ++pos_;
                if (at_end()) error("unterminated escape");
                const char e = s_[pos_++];
                switch (e) {
                    case '"': out += '"'; break;
                    case '\\': out += '\\'; break;
                    case '/': out += '/'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'n': out += '\n'; break;
                    case 'r': out += '\r'; break;
                    case 't': out += '\t'; break;
                    case 'u': {
                        std::uint32_t cp = parse_hex4();
                        if (cp >= 0xDC00 && cp <= 0xDFFF) error("unpaired low surrogate in \\u escape");
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                            if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
                                error("high surrogate not followed by a \\u low surrogate");
                            pos_ += 2;
                            const std::uint32_t lo = parse_hex4();
                            if (lo < 0xDC00 || lo > 0xDFFF) error("high surrogate not followed by a low surrogate");
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        }
                        append_utf8(out, cp);
                        break;
                    }
                    default: --pos_; error(cat("invalid escape \\", describe(e)));
                }
                continue;
            }
            const std::size_t len = utf8_sequence_length(s_, pos_);
            if (len == 0) error("invalid UTF-8 in a string");
            out.append(s_.data() + pos_, len);
            pos_ += len;
        }
    }

    Value parse_number() {
        const std::size_t start = pos_;
        const auto digit = [&]() { return !at_end() && peek() >= '0' && peek() <= '9'; };
        if (peek() == '-') ++pos_;
        if (!digit()) error("expected a digit");
        if (peek() == '0') {
            ++pos_;
            if (digit()) error("leading zero in a number");
        } else {
            while (digit()) ++pos_;
        }
        bool integral = true;
        if (!at_end() && peek() == '.') {
            integral = false;
            ++pos_;
            if (!digit()) error("expected a digit after '.'");
            while (digit()) ++pos_;
        }
        if (!at_end() && (peek() == 'e' || peek() == 'E')) {
            integral = false;
            ++pos_;
            if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
            if (!digit()) error("expected a digit in the exponent");
            while (digit()) ++pos_;
        }
        const char* first = s_.data() + start;
        const char* last = s_.data() + pos_;
        if (integral) {
            std::int64_t i = 0;
            const auto r = std::from_chars(first, last, i);
            if (r.ec == std::errc() && r.ptr == last) return integer(i);
            // out of int64 range: fall through to a double
        }
        double d = 0.0;
        const auto r = std::from_chars(first, last, d);
        if (r.ec == std::errc::result_out_of_range) {
            // Overflow to +-inf is not representable; underflow is (signed) zero.
            if (decimal_magnitude(first, last) > 0) { pos_ = start; error("number out of range"); }
            d = (*first == '-') ? -0.0 : 0.0;
        } else if (r.ec != std::errc() || r.ptr != last) {
            pos_ = start;
            error("malformed number");
        }
        return Value(d);
    }

    // Roughly log10 of a well-formed JSON number's magnitude: > 0 for huge, <= 0 for tiny.
    static long long decimal_magnitude(const char* p, const char* last) {
        if (*p == '-') ++p;
        long long mag = 0;
        bool nonzero = false;
        for (; p < last && *p >= '0' && *p <= '9'; ++p) {  // integer part
            if (*p != '0') nonzero = true;
            if (nonzero) ++mag;
        }
        if (p < last && *p == '.') {
            for (++p; p < last && *p >= '0' && *p <= '9'; ++p) {
                if (nonzero) continue;
                if (*p != '0') nonzero = true;
                else --mag;
            }
        }
        long long exp = 0;
        bool neg = false;
        if (p < last && (*p == 'e' || *p == 'E')) {
            ++p;
            if (p < last && (*p == '+' || *p == '-')) neg = *p++ == '-';
            for (; p < last; ++p) exp = std::min<long long>(exp * 10 + (*p - '0'), 1000000000LL);
        }
        return mag + (neg ? -exp : exp);
    }

    std::string_view s_;
    std::string where_;
    std::size_t max_depth_;
    std::size_t pos_ = 0;
    std::vector<std::size_t> key_positions_;
};

}  // namespace detail

// Parses exactly one JSON value from `text`. `where` names the source in error messages
// (a file path). Throws edet::Error("JSON syntax", where, "at byte N: ...").
inline Value parse(std::string_view text, const std::string& where = "JSON", std::size_t max_depth = 64) {
    return detail::Parser(text, where, max_depth).parse_document();
}

// Appends `s` as a quoted JSON string. `s` must be valid UTF-8 (edet::Error otherwise):
// JSON cannot carry arbitrary bytes. Escapes ", \ and control characters.
inline void append_quoted(std::string& out, std::string_view s) {
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const char c = s[i];
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x80) {
            const std::size_t len = detail::utf8_sequence_length(s, i);
            if (len == 0) fail("JSON string", "json::dump", cat("invalid UTF-8 at byte ", i, " of a string to write"));
            out.append(s.data() + i, len);
            i += len;
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (u < 0x20) {
                    out += "\\u00";
                    out += "0123456789abcdef"[u >> 4];
                    out += "0123456789abcdef"[u & 15];
                } else {
                    out += c;
                }
        }
        ++i;
    }
    out += '"';
}

inline std::string quote(std::string_view s) {
    std::string out;
    append_quoted(out, s);
    return out;
}

// Appends a number: integers exactly, doubles in the shortest form that reads back to the
// same double. NaN and infinities have no JSON form: edet::Error.
inline void append_number(std::string& out, double d) {
    if (!std::isfinite(d)) fail("JSON number", "json::dump", cat("cannot write ", d, " (JSON has no NaN/Infinity)"));
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, d);
    out.append(buf, r.ptr);
}
inline void append_number(std::string& out, float f) {
    if (!std::isfinite(f)) fail("JSON number", "json::dump", cat("cannot write ", f, " (JSON has no NaN/Infinity)"));
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, f);
    out.append(buf, r.ptr);
}
inline void append_number(std::string& out, std::int64_t i) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, i);
    out.append(buf, r.ptr);
}

namespace detail {
inline void newline(std::string& out, int indent, int level) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent * level), ' ');
}
inline void dump_to(std::string& out, const Value& v, int indent, int level) {
    switch (v.type()) {
        case Type::null: out += "null"; break;
        case Type::boolean: out += v.as_bool() ? "true" : "false"; break;
        case Type::number:
            if (v.is_int64()) append_number(out, v.as_int64());
            else if (v.is_float()) append_number(out, static_cast<float>(v.as_number()));
            else append_number(out, v.as_number());
            break;
        case Type::string: append_quoted(out, v.as_string()); break;
        case Type::array: {
            const auto& a = v.as_array();
            out += '[';
            for (std::size_t i = 0; i < a.size(); ++i) {
                if (i) out += ',';
                newline(out, indent, level + 1);
                dump_to(out, a[i], indent, level + 1);
            }
            if (!a.empty()) newline(out, indent, level);
            out += ']';
            break;
        }
        case Type::object: {
            const auto& o = v.as_object();
            out += '{';
            for (std::size_t i = 0; i < o.size(); ++i) {
                if (i) out += ',';
                newline(out, indent, level + 1);
                append_quoted(out, o[i].first);
                out += indent < 0 ? ":" : ": ";
                dump_to(out, o[i].second, indent, level + 1);
            }
            if (!o.empty()) newline(out, indent, level);
            out += '}';
            break;
        }
    }
}
}  // namespace detail

// Serialises `v`: compact when indent < 0, else pretty-printed with `indent` spaces.
inline std::string dump(const Value& v, int indent = -1) {
    std::string out;
    detail::dump_to(out, v, indent, 0);
    return out;
}

}  // namespace json
}  // namespace io
EDET_NAMESPACE_END
