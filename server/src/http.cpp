#include "neardup/server/http.hpp"

#include "neardup/store/json.hpp"

namespace neardup::server {

Response body_response(http::status status, std::string_view content_type, std::string body, unsigned version, bool keep_alive) {
    Response res(status, version);
    res.set(http::field::content_type, boost::beast::string_view(content_type.data(), content_type.size()));
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

Response json_response(http::status status, const nlohmann::ordered_json& body, unsigned version, bool keep_alive) {
    // Messages may quote what a client sent; dump_json cannot throw on bytes that are not UTF-8.
    Response res = body_response(status, "application/json", store::dump_json(body) + '\n', version, keep_alive);
    res.set(http::field::cache_control, "no-store");
    return res;
}

Response error_response(const ApiError& error, unsigned version, bool keep_alive) {
    Response res = json_response(error.status(), {{"error", {{"code", error.code()}, {"message", error.what()}}}}, version, keep_alive);
    if (error.status() == http::status::service_unavailable) res.set(http::field::retry_after, "1");
    return res;
}

}  // namespace neardup::server
