#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "neardup/server/http.hpp"
#include "neardup/server/request_target.hpp"

using namespace neardup::server;
using namespace std::string_literals;

TEST_CASE("percent-decoding", "[server][request_target]") {
    CHECK(percent_decode("brand%3Aacme", false) == "brand:acme");
    CHECK(percent_decode("a+b", true) == "a b");
    CHECK(percent_decode("a+b", false) == "a+b");
    CHECK(percent_decode("%e2%82%AC", false) == "\xe2\x82\xac");
    CHECK_FALSE(percent_decode("%", false));
    CHECK_FALSE(percent_decode("ab%4", false));
    CHECK_FALSE(percent_decode("%zz", false));
}

TEST_CASE("request targets split into a path and ordered parameters", "[server][request_target]") {
    const auto t = parse_target("/v1/search?top=5&label=brand%3Aacme&label=case%3A7&flag&&threshold=0.9");
    CHECK(t.path == "/v1/search");
    REQUIRE(t.params.size() == 5);
    CHECK(t.get("top") == "5");
    CHECK(t.get("flag") == "");
    CHECK_FALSE(t.get("missing"));
    CHECK(t.all("label") == std::vector<std::string>{"brand:acme", "case:7"});
    CHECK(parse_target("/v1/images/a%2Fb").path == "/v1/images/a/b");

    SECTION("a repeated single-valued parameter is a 400") {
        try {
            (void)t.get("label");
            FAIL("no error");
        } catch (const ApiError& e) {
            CHECK(e.status() == http::status::bad_request);
            CHECK(std::string(e.what()) == "query parameter 'label' given more than once");
        }
    }
    SECTION("malformed targets are 400s") {
        for (const char* bad : {"v1/search", "", "*", "/v1/%zz", "/v1/search?top=%4"}) {
            INFO(bad);
            CHECK_THROWS_AS(parse_target(bad), ApiError);
        }
    }
}

namespace {

// The error a target gets, or "" when it parses.
std::string refusal_of(std::string_view target) {
    try {
        (void)parse_target(target);
        return "";
    } catch (const ApiError& e) {
        CHECK(e.status() == http::status::bad_request);
        CHECK(e.code() == "bad_request");
        return e.what();
    }
}

}  // namespace

TEST_CASE("decoded paths and parameters must be UTF-8 without NUL", "[server][request_target][bad_input]") {
    CHECK(refusal_of("/v1/images/%e2%82%ac?label=brand%3A%e2%82%ac") == "");  // the euro sign
    // Each refused, and the message quotes the bytes escaped: raw, they would make the JSON answer invalid.
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/%ff", "the path is not UTF-8 once percent-decoded: '/\\xFF'"},
        {"/v1/images/%C0%AF", "the path is not UTF-8 once percent-decoded: '/v1/images/\\xC0\\xAF'"},  // an overlong '/'
        {"/v1/images/%ED%A0%80", "the path is not UTF-8 once percent-decoded: '/v1/images/\\xED\\xA0\\x80'"},  // a surrogate
        {"/a%00b", "the path holds a NUL (%00): '/a\\x00b'"},
        {"/v1/search?top=%ff", "query parameter 'top' is not UTF-8 once percent-decoded: '\\xFF'"},
        {"/v1/search?label=%ff", "query parameter 'label' is not UTF-8 once percent-decoded: '\\xFF'"},
        {"/v1/stats?%ff", "a query parameter name is not UTF-8 once percent-decoded: '\\xFF'"},
        {"/v1/search?label=a%00b", "query parameter 'label' holds a NUL (%00): 'a\\x00b'"},
        {"/v1/search?x%00=1", "a query parameter name holds a NUL (%00): 'x\\x00'"},
        {"/v1/search?top=%", "malformed percent-escape in the query string"},
        {"/v1/search?top=%4", "malformed percent-escape in the query string"},
        {"/healthz%", "malformed percent-escape in the path"},
        {"/healthz%4", "malformed percent-escape in the path"},
    };
    for (const auto& [target, message] : cases) {
        INFO(target);
        CHECK(refusal_of(target) == message);
    }
}

TEST_CASE("decode_target leaves the path to the caller, the parameters checked", "[server][request_target][bad_input]") {
    CHECK(decode_target("/v1/images/%ff%00").path == "/v1/images/\xff\x00"s);
    CHECK_THROWS_AS(decode_target("/v1/images/k?label=%ff"), ApiError);
    CHECK_THROWS_AS(check_path("/v1/images/\xff"), ApiError);
    CHECK_NOTHROW(check_path("/v1/images/k\xe2\x82\xac"));
}

TEST_CASE("printable escapes what is not UTF-8 and control characters, and cuts long text", "[server][request_target]") {
    CHECK(printable("plain text, caf\xc3\xa9") == "plain text, caf\xc3\xa9");
    CHECK(printable("\xff\xfe") == "\\xFF\\xFE");
    CHECK(printable("a\nb\x7f") == "a\\x0Ab\\x7F");
    CHECK(printable("\xc2\x85") == "\\xC2\\x85");      // NEL, a C1 control
    CHECK(printable("\xe2\x82") == "\\xE2\\x82");      // a sequence cut short
    CHECK(printable("\xc0\xaf") == "\\xC0\\xAF");      // overlong
    CHECK(printable(std::string(1000, 'k'), 10) == "kkkkkkkkkk...");
    CHECK(printable(std::string(1000, '\xff'), 8) == "\\xFF\\xFF...");
}
