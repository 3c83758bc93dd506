// Fuzzes the request target parser and percent_decode. parse_target either returns an origin-form path or
// refuses with ApiError 400; percent_decode never grows its input and inverts percent-encoding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "neardup/server/http.hpp"
#include "neardup/server/request_target.hpp"

namespace {

using neardup::server::ApiError;

void fail(const char* what) {
    std::fprintf(stderr, "fuzz_request_target: property violated: %s\n", what);
    std::abort();
}

std::string percent_encode_all(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char c : text) {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    return out;
}

void check_refusal(const ApiError& e) {
    if (e.status() != neardup::server::http::status::bad_request || e.code() != "bad_request") fail("refusal is not 400 bad_request");
    if (std::string_view(e.what()).empty()) fail("refusal without a message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    for (const bool plus_is_space : {false, true}) {
        const auto decoded = neardup::server::percent_decode(text, plus_is_space);
        if (decoded) {
            if (decoded->size() > text.size()) fail("percent_decode grew its input");
            if (text.find('%') == std::string_view::npos && !plus_is_space && *decoded != text)
                fail("percent_decode changed a text without escapes");
        }
        const auto round_trip = neardup::server::percent_decode(percent_encode_all(text), plus_is_space);
        if (!round_trip || *round_trip != text) fail("percent_decode does not invert percent-encoding");
    }

    try {
        const auto target = neardup::server::parse_target(text);
        if (text.empty() || text.front() != '/') fail("accepted a target that is not origin-form");
        const std::string_view raw_path = text.substr(0, text.find('?'));
        if (target.path.size() > raw_path.size()) fail("decoded path longer than the raw one");
        if (text.find('?') == std::string_view::npos && !target.params.empty()) fail("parameters without a query string");
        // Each distinct name once: get() throws on every repeated one, and exceptions are what a run spends
        // its time on otherwise.
        std::set<std::string_view> names;
        for (const auto& [name, value] : target.params) {
            if (!names.insert(name).second) continue;
            const auto all = target.all(name);
            if (all.empty()) fail("all() misses a parsed parameter");
            try {
                const auto one = target.get(name);
                if (all.size() != 1 || !one || *one != all.front()) fail("get() disagrees with all()");
            } catch (const ApiError& e) {
                check_refusal(e);
                if (all.size() < 2) fail("get() refused a parameter given once");
            }
        }
    } catch (const ApiError& e) {
        check_refusal(e);
    }
    return 0;
}
