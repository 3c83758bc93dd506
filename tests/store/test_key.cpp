// The key rule shared by the CLI, the HTTP API and the store.
#include <catch2/catch.hpp>

#include "neardup/store/key.hpp"
#include "neardup/store/store.hpp"
#include "support/sample_photos.hpp"
#include "support/temp_dir.hpp"

using namespace neardup;
using namespace neardup::store;

TEST_CASE("is_valid_utf8 follows RFC 3629", "[store][key]") {
    // Well-formed: ASCII, 2-, 3- and 4-byte forms at the edges of their ranges.
    for (const std::string ok : {"", "coffee", "caf\xc3\xa9", "\xe2\x82\xac", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
                                 "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xe6\x97\xa5\xe6\x9c\xac"}) {
        INFO(ok);
        CHECK(is_valid_utf8(ok));
    }
    for (const std::string bad : {"caf\xe9", "\xff", "\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80",
                                  "\xf0\x80\x80\xaf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xc3", "\xe2\x82", "\xf0\x90\x80",
                                  "a\xc3\x28", "\xe2\x28\xa1"}) {
        INFO(bad);
        CHECK_FALSE(is_valid_utf8(bad));
    }
}

TEST_CASE("a key is 1-512 bytes of UTF-8 without control characters", "[store][key]") {
    CHECK_FALSE(invalid_key_reason("coffee").has_value());
    CHECK_FALSE(invalid_key_reason("caf\xc3\xa9 / 2024 #1").has_value());
    CHECK_FALSE(invalid_key_reason(std::string(kMaxKeyBytes, 'k')).has_value());
    CHECK(invalid_key_reason("") == "the key is empty");
    CHECK(invalid_key_reason(std::string(kMaxKeyBytes + 1, 'k')) == "the key is 513 bytes, over the limit of 512");
    CHECK(invalid_key_reason("caf\xe9") == "the key is not valid UTF-8");
    for (const std::string& control : {std::string("a\0b", 3), std::string("tab\there"), std::string("del\x7f"), std::string("c1\xc2\x85")}) {
        INFO(control);
        CHECK(invalid_key_reason(control) == "the key holds a control character");
    }
}

TEST_CASE("the store refuses a bad key with invalid_key and stores nothing", "[store][key][bad_input]") {
    test::TempDir dir;
    Store store(dir.path());
    const auto bytes = test::read_bytes(test::sample_photo("coffee.jpg"));
    for (const std::string& key : {std::string("caf\xe9"), std::string(), std::string(600, 'x'), std::string("a\nb")}) {
        const auto r = store.add(key, bytes);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::invalid_key);
        const auto p = store.prepare(key, bytes, sha256_of(bytes), {}, false);
        REQUIRE_FALSE(p.ok());
        CHECK(p.error().code == ErrorCode::invalid_key);
    }
    CHECK(store.stats().active == 0);
    CHECK(store.search(bytes).value().empty());
}
