// The path and query parameters of a request target ("/v1/search?top=5&label=brand%3Aacme").
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace neardup::server {

struct RequestTarget {
    std::string path;                                         // percent-decoded
    std::vector<std::pair<std::string, std::string>> params;  // in order; repeated names kept; UTF-8 without NUL

    // The value of the parameter `name`; ApiError 400 when it is given more than once.
    std::optional<std::string> get(std::string_view name) const;
    std::vector<std::string> all(std::string_view name) const;
};

// Decodes %XX escapes (and '+' as a space when `plus_is_space`); nothing on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

// Splits and decodes a target, checking the parameters but leaving the path as decoded (any bytes), for a
// caller that judges part of the path by a stricter rule of its own (an image key by the key rule).
// ApiError 400 (bad_request) on a target that is not origin-form ("/..."), a malformed escape, or a parameter
// name or value that is not well-formed UTF-8 or holds NUL.
RequestTarget decode_target(std::string_view target);
// ApiError 400 (bad_request) when a decoded path is not well-formed UTF-8 or holds NUL.
void check_path(std::string_view path);
// decode_target, then check_path.
RequestTarget parse_target(std::string_view target);

// `text` made safe to quote in an error message or a log line: bytes that are not well-formed UTF-8, and
// control characters, written as \xNN; cut after `max_bytes` with "...". A client's bytes quoted raw could
// make the JSON of the answer invalid, or forge log lines.
std::string printable(std::string_view text, std::size_t max_bytes = 120);

}  // namespace neardup::server
