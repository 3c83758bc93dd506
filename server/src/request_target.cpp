#include "neardup/server/request_target.hpp"

#include "neardup/server/http.hpp"

namespace neardup::server {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

ApiError bad_target(const std::string& message) { return ApiError(http::status::bad_request, "bad_request", message); }

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

RequestTarget parse_target(std::string_view target) {
    if (target.empty() || target.front() != '/') throw bad_target("the request target must be a path starting with '/'");
    RequestTarget out;
    const auto q = target.find('?');
    auto path = percent_decode(target.substr(0, q), false);
    if (!path) throw bad_target("malformed percent-escape in the path");
    out.path = std::move(*path);
    if (q == std::string_view::npos) return out;
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        auto name = percent_decode(pair.substr(0, eq), true);
        auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
        if (!name || !value) throw bad_target("malformed percent-escape in the query string");
        out.params.emplace_back(std::move(*name), std::move(*value));
    }
    return out;
}

std::optional<std::string> RequestTarget::get(std::string_view name) const {
    std::optional<std::string> out;
    for (const auto& [n, v] : params)
        if (n == name) {
            if (out) throw bad_target("query parameter '" + std::string(name) + "' given more than once");
            out = v;
        }
    return out;
}

std::vector<std::string> RequestTarget::all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : params)
        if (n == name) out.push_back(v);
    return out;
}

}  // namespace neardup::server
