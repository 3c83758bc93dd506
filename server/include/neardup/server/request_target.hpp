// The path and query parameters of a request target ("/v1/search?top=5&label=brand%3Aacme").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace neardup::server {

struct RequestTarget {
    std::string path;                                         // percent-decoded
    std::vector<std::pair<std::string, std::string>> params;  // in order; repeated names kept

    // The value of the parameter `name`; ApiError 400 when it is given more than once.
    std::optional<std::string> get(std::string_view name) const;
    std::vector<std::string> all(std::string_view name) const;
};

// Decodes %XX escapes (and '+' as a space when `plus_is_space`); nothing on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);
// ApiError 400 (bad_request) on a malformed escape or a target that is not origin-form ("/...").
RequestTarget parse_target(std::string_view target);

}  // namespace neardup::server
