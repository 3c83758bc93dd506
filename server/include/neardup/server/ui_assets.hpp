// The reviewer page (server/ui/): its files compiled into the program, served under /ui/.
#pragma once

#include <optional>
#include <string_view>

namespace neardup::server {

struct UiAsset {
    std::string_view content_type;
    std::string_view body;
};

// index.html, app.js or app.css; nothing for any other name.
std::optional<UiAsset> ui_file(std::string_view name);

}  // namespace neardup::server
