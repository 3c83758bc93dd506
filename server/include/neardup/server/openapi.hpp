// The OpenAPI 3 document of the HTTP API: server/openapi.json in the repository, compiled in.
#pragma once

#include <string_view>

namespace neardup::server {

std::string_view openapi_document();

}  // namespace neardup::server
