// multipart/form-data (RFC 7578): the one field of an upload that the API reads.
#pragma once

#include <optional>
#include <string_view>

namespace neardup::server {

// The boundary parameter of a multipart/form-data Content-Type, or nothing if the type is another.
std::optional<std::string_view> form_data_boundary(std::string_view content_type);
// The content of the part named `name` in `body` (a view into it), or nothing when no part has that name.
// ApiError 400 (bad_request) when the body does not follow the multipart syntax.
std::optional<std::string_view> form_data_field(std::string_view body, std::string_view boundary, std::string_view name);

}  // namespace neardup::server
