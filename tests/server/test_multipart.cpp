#include <catch2/catch.hpp>

#include "neardup/server/http.hpp"
#include "neardup/server/multipart.hpp"

using namespace neardup::server;

namespace {

std::string form(const std::string& boundary, const std::vector<std::pair<std::string, std::string>>& parts) {
    std::string body;
    for (const auto& [name, content] : parts)
        body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"" + name +
                ".jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" + content + "\r\n";
    return body + "--" + boundary + "--\r\n";
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const ApiError& e) {
        CHECK(e.status() == http::status::bad_request);
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("the boundary of a multipart/form-data content type", "[server][multipart]") {
    CHECK(form_data_boundary("multipart/form-data; boundary=abc123") == "abc123");
    CHECK(form_data_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"quoted b\"") == "quoted b");
    CHECK_FALSE(form_data_boundary("image/jpeg"));
    CHECK_FALSE(form_data_boundary(""));
    CHECK(error_of([] { form_data_boundary("multipart/form-data"); }) == "multipart/form-data without a valid boundary parameter");
    CHECK(error_of([] { form_data_boundary("multipart/form-data; boundary=" + std::string(71, 'x')); }) ==
          "multipart/form-data without a valid boundary parameter");
}

TEST_CASE("a form field is found among others, binary content intact", "[server][multipart]") {
    std::string binary("\xff\xd8\xff\r\n--not-the-boundary\r\n\0\x01", 27);
    const std::string body = form("XyZ", {{"note", "hello"}, {"image", binary}, {"other", "x"}});
    const auto field = form_data_field(body, "XyZ", "image");
    REQUIRE(field);
    CHECK(*field == binary);
    CHECK(form_data_field(body, "XyZ", "note") == "hello");
    CHECK_FALSE(form_data_field(body, "XyZ", "missing"));
    CHECK(form_data_field(form("b", {{"image", ""}}), "b", "image") == "");
}

TEST_CASE("malformed multipart bodies are 400s with the reason", "[server][multipart][bad_input]") {
    CHECK(error_of([] { form_data_field("no delimiter here", "b", "image"); }) == "malformed multipart body: no boundary line");
    CHECK(error_of([] { form_data_field("--bXX", "b", "image"); }) == "malformed multipart body: boundary not followed by CRLF");
    CHECK(error_of([] { form_data_field("--b\r\nContent-Disposition: form-data; name=\"image\"", "b", "image"); }) ==
          "malformed multipart body: part headers not terminated");
    CHECK(error_of([] { form_data_field("--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\ndata with no end", "b", "image"); }) ==
          "malformed multipart body: part not terminated by the boundary");
}
