// Fuzzes multipart/form-data: form_data_boundary on a Content-Type and form_data_field on a body. Input: the
// Content-Type up to the first '\n', then the body. Both either answer or refuse with ApiError 400; what they
// return is a view into their input; a form built around any content gives that content back.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "neardup/server/http.hpp"
#include "neardup/server/multipart.hpp"

namespace {

using neardup::server::ApiError;

void fail(const char* what) {
    std::fprintf(stderr, "fuzz_multipart: property violated: %s\n", what);
    std::abort();
}

bool within(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_refusal(const ApiError& e) {
    if (e.status() != neardup::server::http::status::bad_request || e.code() != "bad_request") fail("refusal is not 400 bad_request");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto newline = input.find('\n');
    const std::string_view content_type = input.substr(0, newline);
    const std::string_view body = newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);

    std::optional<std::string_view> boundary;
    try {
        boundary = neardup::server::form_data_boundary(content_type);
    } catch (const ApiError& e) {
        check_refusal(e);
    }
    if (boundary) {
        if (boundary->empty() || boundary->size() > 70) fail("boundary outside 1..70 characters");
        if (!within(*boundary, content_type)) fail("boundary is not a view into the Content-Type");
        try {
            const auto field = neardup::server::form_data_field(body, *boundary, "image");
            if (field) {
                if (!within(*field, body)) fail("field is not a view into the body");
                const std::string closing = "\r\n--" + std::string(*boundary);
                if (body.substr(field->data() - body.data() + field->size(), closing.size()) != closing)
                    fail("field is not followed by the boundary");
            }
        } catch (const ApiError& e) {
            check_refusal(e);
        }
    }

    // The body as the content of a well-formed form: it must come back whole, unless it holds the delimiter.
    const std::string bound = "fuzzBoundary7MA4YWxk";
    if (body.find("\r\n--" + bound) == std::string_view::npos) {
        const std::string form = "--" + bound + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx\r\n--" + bound +
                                 "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
                                 "Content-Type: image/jpeg\r\n\r\n" + std::string(body) + "\r\n--" + bound + "--\r\n";
        try {
            const auto field = neardup::server::form_data_field(form, bound, "image");
            if (!field || *field != body) fail("a well-formed form did not give its content back");
        } catch (const ApiError&) {
            fail("a well-formed form was refused");
        }
    }
    return 0;
}
