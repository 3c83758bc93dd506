#include <catch2/catch.hpp>

#include "neardup/server/http.hpp"
#include "neardup/server/request_target.hpp"

using namespace neardup::server;

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
