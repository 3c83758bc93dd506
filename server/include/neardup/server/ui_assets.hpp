// The reviewer page (server/ui/): its files compiled into the program, served under /ui/.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "neardup/server/api_rules.hpp"
#include "neardup/server/http.hpp"
#include "neardup/server/request_target.hpp"

namespace neardup::server {

struct UiAsset {
    std::string_view content_type;
    std::string_view body;
};

// index.html, app.js or app.css; nothing for any other name.
std::optional<UiAsset> ui_file(std::string_view name);

// The answer to GET / (a redirect to /ui/) or GET /ui/<asset> (the file, under a Content-Security-Policy that
// lets the page run only its own files and talk only to its server); ApiError 404 for an unknown file, 400 for
// a query parameter.
Response ui_response(const Request& request, const RequestTarget& target, RouteId route, const std::string& asset);

}  // namespace neardup::server
