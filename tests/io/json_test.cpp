// Tests for edet/io/json.hpp: every value kind, exact integers, escapes and UTF-8, one
// clear error per kind of malformed input, the depth limit, no reads past the input, and
// writer round trips.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "edet/io/json.hpp"
#include "test_util.hpp"

namespace json = edet::io::json;

TEST_CASE("json: values of every kind, members in file order") {
    const json::Value v = json::parse(
        R"( {"b": true, "a": [1, -2, 3.5, 1e2, -0.0, null, false], "s": "x", "o": {"k": {}}, "e": []} )");
    REQUIRE(v.is_object());
    REQUIRE(v.size() == 5);
    const auto& o = v.as_object();
    CHECK(o[0].first == "b");
    CHECK(o[1].first == "a");
    CHECK(o[4].first == "e");
    CHECK(v["b"].as_bool() == true);
    const auto& a = v["a"].as_array();
    REQUIRE(a.size() == 7);
    CHECK(a[0].is_int64());
    CHECK(a[0].as_int64() == 1);
    CHECK(a[1].as_int64() == -2);
    CHECK_FALSE(a[2].is_int64());
    CHECK(a[2].as_number() == 3.5);
    CHECK_FALSE(a[3].is_int64());  // an exponent makes it a double, even when integral
    CHECK(a[3].as_number() == 100.0);
    CHECK(std::signbit(a[4].as_number()));
    CHECK(a[5].is_null());
    CHECK(a[6].as_bool() == false);
    CHECK(v["s"].as_string() == "x");
    CHECK(v["o"]["k"].is_object());
    CHECK(v["o"]["k"].size() == 0);
    CHECK(v["e"].as_array().empty());
    CHECK(v.find("missing") == nullptr);
    CHECK_THROWS_WITH_AS(v["missing"], doctest::Contains("missing key \"missing\""), edet::Error);
    CHECK_THROWS_WITH_AS(v["s"].as_int64(), doctest::Contains("expected number, got string"), edet::Error);
    CHECK_THROWS_WITH_AS(a[2].as_int64(), doctest::Contains("expected an integer"), edet::Error);
    CHECK_THROWS_WITH_AS(v["a"][7], doctest::Contains("out of range"), edet::Error);
}

TEST_CASE("json: integers are exact over the whole int64 range") {
    CHECK(json::parse("9007199254740993").as_int64() == 9007199254740993LL);  // 2^53 + 1
    CHECK(json::parse("9223372036854775807").as_int64() == std::numeric_limits<std::int64_t>::max());
    CHECK(json::parse("-9223372036854775808").as_int64() == std::numeric_limits<std::int64_t>::min());
    const json::Value big = json::parse("9223372036854775808");  // 2^63: kept as a double only
    CHECK_FALSE(big.is_int64());
    CHECK(big.as_number() == 9223372036854775808.0);
    CHECK(json::parse("1e-400").as_number() == 0.0);  // underflow is zero
    CHECK(std::signbit(json::parse("-1e-400").as_number()));
    CHECK(json::parse("0." + std::string(400, '0') + "1").as_number() == 0.0);
    CHECK(json::parse("123e-500").as_number() == 0.0);
    CHECK_THROWS_WITH_AS(json::parse("1" + std::string(400, '0')), doctest::Contains("number out of range"), edet::Error);
    CHECK_THROWS_WITH_AS(json::parse("0.001e312"), doctest::Contains("number out of range"), edet::Error);
    CHECK(json::parse("0.1").as_number() == 0.1);
    CHECK(json::parse("-12.5E-1").as_number() == -1.25);
}

TEST_CASE("json: string escapes and UTF-8") {
    CHECK(json::parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string() == "a\"b\\c/d\b\f\n\r\t");
    CHECK(json::parse(R"("\u0041\u00e9\u20AC")").as_string() == "A\xc3\xa9\xe2\x82\xac");
    CHECK(json::parse(R"("\ud83d\ude00")").as_string() == "\xf0\x9f\x98\x80");  // U+1F600
    CHECK(json::parse(R"("\u0000")").as_string() == std::string(1, '\0'));
    CHECK(json::parse("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"").as_string() == "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

TEST_CASE("json: malformed input is an edet::Error naming the byte offset") {
    struct Case {
        const char* text;
        const char* fragment;
    };
    const Case cases[] = {
        {"", "at byte 0: unexpected end of input"},
        {"   ", "at byte 3: unexpected end of input"},
        {"[1,2,]", "at byte 5: unexpected ']'"},
        {"{\"a\":1,}", "at byte 7: expected a string key"},
        {"{\"a\" 1}", "expected ':'"},
        {"{\"a\":1 \"b\":2}", "expected ',' or '}'"},
        {"[1 2]", "expected ',' or ']'"},
        {"{a:1}", "expected a string key, got 'a'"},
        {"['a']", "unexpected '''"},
        {"01", "leading zero"},
        {"-", "expected a digit"},
        {"+1", "unexpected '+'"},
        {".5", "unexpected '.'"},
        {"1.", "expected a digit after '.'"},
        {"1e", "expected a digit in the exponent"},
        {"1e+", "expected a digit in the exponent"},
        {"1e400", "number out of range"},
        {"NaN", "unexpected 'N'"},
        {"Infinity", "unexpected 'I'"},
        {"tru", "expected true"},
        {"nul", "expected null"},
        {"truex", "at byte 4: unexpected data after the JSON value"},
        {"{} {}", "unexpected data after"},
        {"// c\n{}", "unexpected '/'"},
        {"\"abc", "unterminated string"},
        {"\"a\nb\"", "raw control character"},
        {"\"\\x\"", "invalid escape \\'x'"},
        {"\"\\u12zz\"", "at byte 5: invalid hex digit"},
        {"\"\\u12", "truncated \\u escape"},
        {"\"\\ud800\"", "high surrogate not followed"},
        {"\"\\ud800\\u0041\"", "not followed by a low surrogate"},
        {"\"\\udc00\"", "unpaired low surrogate"},
        {"\"\xc0\x80\"", "invalid UTF-8"},          // overlong NUL
        {"\"\xed\xa0\x80\"", "invalid UTF-8"},      // encoded surrogate
        {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"},  // above U+10FFFF
        {"\"\xe2\x82\"", "invalid UTF-8"},          // truncated sequence
        {"\"\xff\"", "invalid UTF-8"},
        {"{\"k\":1,\"j\":2,\"k\":3}", "at byte 13: duplicate key \"k\""},
        {"\x01", "unexpected byte 0x01"},
    };
    for (const Case& c : cases) {
        const std::string text = c.text;
        CAPTURE(text);
        try {
            json::parse(c.text, "case.json");
            FAIL("no throw");
        } catch (const edet::Error& e) {
            const std::string msg = e.what();
            CAPTURE(msg);
            CHECK(msg.find("case.json") != std::string::npos);
            CHECK(msg.find("JSON syntax") != std::string::npos);
            CHECK(msg.find(c.fragment) != std::string::npos);
        }
    }
    // Embedded NUL bytes are data, not terminators.
    CHECK_THROWS_AS(json::parse(std::string_view("[1]\0", 4)), edet::Error);
}

TEST_CASE("json: nesting is limited, so hostile input cannot exhaust the stack") {
    const auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
    CHECK(json::parse(nested(64)).is_array());
    CHECK_THROWS_WITH_AS(json::parse(nested(65)), doctest::Contains("nesting deeper than 64"), edet::Error);
    CHECK_THROWS_WITH_AS(json::parse(std::string(1000000, '[')), doctest::Contains("nesting deeper"), edet::Error);
    CHECK(json::parse(nested(200), "deep", 200).is_array());
    std::string objs;
    for (int i = 0; i < 70; ++i) objs += "{\"a\":";
    objs += "1";
    for (int i = 0; i < 70; ++i) objs += "}";
    CHECK_THROWS_WITH_AS(json::parse(objs), doctest::Contains("nesting deeper"), edet::Error);
}

TEST_CASE("json: every prefix of a document is parsed or rejected, never read past") {
    // Each prefix is copied into a heap block of exactly its size, so AddressSanitizer
    // reports any read beyond the end.
    const std::string doc =
        R"({"a": [1, -2.5e-3, true, false, null], "s\u00e9": "x\ty\ud83d\ude00", "n": {"m": []}})";
    int accepted = 0;
    for (std::size_t n = 0; n <= doc.size(); ++n) {
        std::unique_ptr<char[]> block(new char[n ? n : 1]);
        std::memcpy(block.get(), doc.data(), n);
        CAPTURE(n);
        try {
            json::parse(std::string_view(block.get(), n));
            ++accepted;
        } catch (const edet::Error&) {
        }
    }
    CHECK(accepted == 1);  // only the whole document
}

TEST_CASE("json: writer escapes and round-trips") {
    json::Value v = json::Object{};
    v.set("name", "a\"b\\c\n\x01\x1f \xc3\xa9");
    v.set("ints", json::Array{json::Value(0), json::Value(-7), json::integer(9007199254740993LL)});
    v.set("num", 0.1);
    v.set("flags", json::Array{json::Value(true), json::Value(false), json::Value()});
    v.set("empty", json::Object{});
    const std::string s = json::dump(v);
    CHECK(s == "{\"name\":\"a\\\"b\\\\c\\n\\u0001\\u001f \xc3\xa9\",\"ints\":[0,-7,9007199254740993],"
               "\"num\":0.1,\"flags\":[true,false,null],\"empty\":{}}");
    CHECK(json::parse(s) == v);
    const std::string pretty = json::dump(v, 2);
    CHECK(pretty.find("\n  \"ints\": [\n    0,") != std::string::npos);
    CHECK(json::parse(pretty) == v);
    v.set("num", 2.5);  // set() replaces
    CHECK(v.size() == 5);
    CHECK(v["num"].as_number() == 2.5);

    // Doubles are written in the shortest form that reads back bit-exactly.
    edet_test::Random rng(3);
    for (int i = 0; i < 2000; ++i) {
        const double d = std::ldexp(static_cast<double>(rng.uniform(-1.0f, 1.0f)) + rng.uniform() * 1e-9,
                                    rng.integer(-1000, 1000));
        std::string out;
        json::append_number(out, d);
        CAPTURE(out);
        REQUIRE(json::parse(out).as_number() == d);
    }
    std::string out;
    json::append_number(out, 1.0);
    CHECK(out == "1");
    // Floats are written in float's shortest form and read back to the same float.
    CHECK(json::dump(json::Value(0.1f)) == "0.1");
    CHECK(json::dump(json::Value(0.1)) == "0.1");
    CHECK(json::dump(json::Value(static_cast<double>(0.1f))) == "0.10000000149011612");
    for (int i = 0; i < 2000; ++i) {
        const float f = std::ldexp(rng.uniform(-1.0f, 1.0f), rng.integer(-120, 120));
        const std::string text = json::dump(json::Value(f));
        CAPTURE(text);
        REQUIRE(static_cast<float>(json::parse(text).as_number()) == f);
    }
    CHECK_THROWS_WITH_AS(json::dump(json::Value(std::nan(""))), doctest::Contains("NaN"), edet::Error);
    CHECK_THROWS_AS(json::dump(json::Value(INFINITY)), edet::Error);
    CHECK_THROWS_WITH_AS(json::quote("bad \xff byte"), doctest::Contains("invalid UTF-8"), edet::Error);
    CHECK_THROWS_AS(json::Value(static_cast<unsigned long long>(1) << 63), edet::Error);
}
