#include "neardup/server/ui_assets.hpp"

namespace neardup::server {

Response ui_response(const Request& request, const RequestTarget& target, RouteId route, const std::string& name) {
    only_params(target, {});
    if (route == RouteId::ui_root) {
        Response res(http::status::found, request.version());
        res.set(http::field::location, "/ui/");
        res.keep_alive(request.keep_alive());
        res.prepare_payload();
        return res;
    }
    const auto asset = ui_file(name.empty() ? "index.html" : name);
    if (!asset) throw ApiError(http::status::not_found, "not_found", "no file " + printable(name) + " in the reviewer page");
    Response res = body_response(http::status::ok, asset->content_type, std::string(asset->body), request.version(), request.keep_alive());
    // The page runs only its own files, talks only to this server, and is never framed.
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.set(http::field::cache_control, "no-cache");
    return res;
}

}  // namespace neardup::server
