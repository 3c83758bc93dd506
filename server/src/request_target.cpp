#include "neardup/server/request_target.hpp"

#include <cstdint>

#include "neardup/server/http.hpp"
#include "neardup/store/key.hpp"

namespace neardup::server {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

ApiError bad_target(const std::string& message) { return ApiError(http::status::bad_request, "bad_request", message); }

// Decoded text goes into the catalog (labels), file names and JSON answers: it must be UTF-8, and NUL would
// cut it short in C APIs.
void check_text(std::string_view what, std::string_view text) {
    if (text.find('\0') != std::string_view::npos)
        throw bad_target(std::string(what) + " holds a NUL (%00): '" + printable(text) + "'");
    if (!store::is_valid_utf8(text))
        throw bad_target(std::string(what) + " is not UTF-8 once percent-decoded: '" + printable(text) + "'");
}

// Length of the well-formed UTF-8 sequence at text[i], or 0.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    const std::size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || i + len > text.size()) return 0;
    return store::is_valid_utf8(text.substr(i, len)) ? len : 0;
}

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

RequestTarget decode_target(std::string_view target) {
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
        check_text("a query parameter name", *name);
        check_text("query parameter '" + printable(*name) + "'", *value);
        out.params.emplace_back(std::move(*name), std::move(*value));
    }
    return out;
}

void check_path(std::string_view path) { check_text("the path", path); }

RequestTarget parse_target(std::string_view target) {
    RequestTarget out = decode_target(target);
    check_path(out.path);
    return out;
}

std::string printable(std::string_view text, std::size_t max_bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        if (out.size() >= max_bytes) {
            out += "...";
            break;
        }
        const auto c = static_cast<std::uint8_t>(text[i]);
        const std::size_t len = utf8_sequence(text, i);
        const bool control = c < 0x20 || c == 0x7F || (len == 2 && c == 0xC2 && static_cast<std::uint8_t>(text[i + 1]) <= 0x9F);
        if (len == 0 || control) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
            ++i;
            if (len == 2) {  // a C1 control: both bytes escaped
                const auto d = static_cast<std::uint8_t>(text[i]);
                out += "\\x";
                out += kHex[d >> 4];
                out += kHex[d & 0xF];
                ++i;
            }
            continue;
        }
        out.append(text.substr(i, len));
        i += len;
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
