#include "neardup/server/multipart.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include "neardup/server/http.hpp"

namespace neardup::server {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y)); });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

ApiError malformed(const std::string& why) { return ApiError(http::status::bad_request, "bad_request", "malformed multipart body: " + why); }

// The value of parameter `param` in a header value like `form-data; name="image"; filename="a.jpg"`.
std::optional<std::string_view> header_param(std::string_view value, std::string_view param) {
    std::size_t pos = value.find(';');
    while (pos != std::string_view::npos) {
        std::string_view rest = value.substr(pos + 1);
        const std::size_t next = rest.find(';');
        std::string_view item = trim(rest.substr(0, next));
        const std::size_t eq = item.find('=');
        if (eq != std::string_view::npos && iequals(trim(item.substr(0, eq)), param)) {
            std::string_view v = trim(item.substr(eq + 1));
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
            return v;
        }
        pos = next == std::string_view::npos ? next : pos + 1 + next;
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string_view> form_data_boundary(std::string_view content_type) {
    const std::string_view type = trim(content_type.substr(0, content_type.find(';')));
    if (!iequals(type, "multipart/form-data")) return std::nullopt;
    const auto boundary = header_param(content_type, "boundary");
    if (!boundary || boundary->empty() || boundary->size() > 70)
        throw ApiError(http::status::bad_request, "bad_request", "multipart/form-data without a valid boundary parameter");
    return boundary;
}

std::optional<std::string_view> form_data_field(std::string_view body, std::string_view boundary, std::string_view name) {
    const std::string delimiter = "--" + std::string(boundary);
    std::size_t pos = body.find(delimiter);
    if (pos == std::string_view::npos) throw malformed("no boundary line");
    while (true) {
        pos += delimiter.size();
        if (body.substr(pos, 2) == "--") return std::nullopt;  // the closing delimiter: no such part
        if (body.substr(pos, 2) != "\r\n") throw malformed("boundary not followed by CRLF");
        pos += 2;
        const std::size_t headers_end = body.find("\r\n\r\n", pos);
        if (headers_end == std::string_view::npos) throw malformed("part headers not terminated");
        const std::string_view headers = body.substr(pos, headers_end - pos);
        const std::size_t content_start = headers_end + 4;
        const std::size_t next = body.find("\r\n" + delimiter, content_start);
        if (next == std::string_view::npos) throw malformed("part not terminated by the boundary");
        std::optional<std::string_view> part_name;
        for (std::size_t line_start = 0; line_start <= headers.size();) {
            const std::size_t line_end = std::min(headers.find("\r\n", line_start), headers.size());
            const std::string_view line = headers.substr(line_start, line_end - line_start);
            const std::size_t colon = line.find(':');
            if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), "content-disposition"))
                part_name = header_param(line.substr(colon + 1), "name");
            line_start = line_end + 2;
        }
        if (part_name && *part_name == name) return body.substr(content_start, next - content_start);
        pos = next + 2;
    }
}

}  // namespace neardup::server
